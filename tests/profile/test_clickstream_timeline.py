"""A clickstream's own event names in the customer view: `catalog`, not `custom`."""

from __future__ import annotations

from typer.testing import CliRunner

from percorso.cli import app
from percorso.events import event_label
from percorso.profile import customer_profile, find_customer
from percorso.project import open_project


def test_timeline_shows_a_generic_events_own_name(tmp_path):
    """The timeline printed `custom` for every catalog and cart event of a clickstream, where paths
    and funnels say `catalog` and `cart`."""
    root = tmp_path / "p"
    src = tmp_path / "clicks.csv"
    src.write_text("customer_id,ts,event_type,channel,revenue\n"
                   "u1,2025-01-02 10:00:00,catalog,email,\n"
                   "u1,2025-01-02 10:05:00,cart,email,\n"
                   "u1,2025-01-02 10:09:00,purchase,email,14.30\n", encoding="utf-8")
    run = CliRunner()
    for args in (["init", str(root)], ["ingest", "clickstream", str(src), "-p", str(root)], ["build", "-p", str(root)]):
        res = run.invoke(app, args)
        assert res.exit_code == 0, res.output
    with open_project(root) as proj:
        cid = find_customer(proj.engine, proj.settings, "u1")
        tl = customer_profile(proj.engine, cid).timeline
    assert list(tl["event_type"]) == ["custom", "custom", "purchase"]
    assert [event_label(t, n) for t, n in zip(tl["event_type"], tl["event_name"], strict=True)] == [
        "catalog", "cart", "purchase"]
    out = run.invoke(app, ["customer", "show", "u1", "-p", str(root)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    cells = {c.strip() for line in out.stdout.splitlines() for c in line.split("│")}
    assert {"catalog", "cart", "purchase"} <= cells and "custom" not in cells
