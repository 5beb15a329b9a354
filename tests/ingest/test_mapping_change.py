"""A mapping changed after an import: a re-import says the stored rows keep their old type."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from percorso.cli import app
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

CSV = ("user_id,event,ts\n"
       "u1,page_view,2025-03-05 10:00:00\n"
       "u1,cart,2025-03-05 10:01:00\n"
       "u2,cart,2025-03-05 11:00:00\n")
MAPPING = '\n[sources.clicks]\nkind = "clickstream"\nmapping = { "event.cart" = "add_to_cart" }\n'


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    init_project(tmp_path / "p")
    cfg = tmp_path / "p" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[sources.clicks]\nkind = "clickstream"\n', encoding="utf-8")
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    p = open_project(tmp_path / "p")
    (first,) = ingest_files(p, "clicks", [f])
    assert (first.accepted, first.duplicates, first.mapping_not_applied) == (3, 0, [])
    p.close()
    text = cfg.read_text(encoding="utf-8").replace('[sources.clicks]\nkind = "clickstream"\n', "")
    cfg.write_text(text + MAPPING, encoding="utf-8")
    return tmp_path / "p", f


def test_reimport_names_the_rows_the_new_mapping_did_not_reach(tmp_path):
    root, f = _setup(tmp_path)
    # by hand: the two `cart` rows were stored as custom; the mapping now gives add_to_cart
    expected = [{"event_name": "cart", "stored_type": "custom", "mapped_type": "add_to_cart", "rows": 2}]
    with open_project(root) as p:
        (again,) = ingest_files(p, "clicks", [f])
        assert again.already_ingested and again.mapping_not_applied == expected
        (forced,) = ingest_files(p, "clicks", [f], force=True)
        assert (forced.accepted, forced.duplicates) == (0, 3)
        assert forced.mapping_not_applied == expected
        # and indeed nothing was re-typed
        assert p.engine.con.execute("SELECT count(*) FROM events WHERE event_type = 'custom'").fetchone()[0] == 2


def test_unchanged_mapping_says_nothing(tmp_path):
    init_project(tmp_path / "p")
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "clickstream", [f])
        (forced,) = ingest_files(p, "clickstream", [f], force=True)
        assert forced.duplicates == 3 and forced.mapping_not_applied == []


def test_cli_says_it_in_one_line(tmp_path):
    root, f = _setup(tmp_path)
    res = CliRunner().invoke(app, ["ingest", "clicks", str(f), "--project", str(root), "--force"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if "re-type" in ln]
    assert len(lines) == 1
    assert "2 righe già importate" in lines[0] and "cart: custom → add_to_cart" in lines[0]
    assert "move percorso.duckdb aside" in lines[0] and "Traceback" not in res.output


def test_a_few_repeats_among_new_rows_are_not_a_reimport(tmp_path):
    """A collector micro-batch with a client's retried event: 1 duplicate of 3 rows, no check."""
    root, _f = _setup(tmp_path)
    g = tmp_path / "more.csv"
    g.write_text("user_id,event,ts\nu1,cart,2025-03-05 10:01:00\nu3,cart,2025-03-06 09:00:00\n"
                 "u4,page_view,2025-03-06 09:05:00\n", encoding="utf-8")
    with open_project(root) as p:
        (rep,) = ingest_files(p, "clicks", [g])
        assert (rep.accepted, rep.duplicates, rep.mapping_not_applied) == (2, 1, [])
