"""A clickstream's own event names (catalog, cart) stay type custom; the import names them and
says how to type them, before the rows are stored under that type."""

from __future__ import annotations

from typer.testing import CliRunner

from percorso.cli import app
from percorso.events import EVENT_TYPE_ALIASES, EVENT_TYPES, canonical_event_type
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

CSV = ("user_id,event,ts\n"
       "u1,catalog,2025-03-05 10:00:00\n"
       "u1,cart,2025-03-05 10:01:00\n"
       "u1,purchase,2025-03-05 10:02:00\n"
       "u2,cart,2025-03-05 11:00:00\n")


def test_catalog_and_cart_have_no_canonical_type():
    """No canonical type clearly fits: `catalog` (a product-list view) would be page_view and lose
    its name in every journey; `cart` is an add-to-cart or a view of the cart. They stay custom."""
    assert canonical_event_type("catalog") is None and canonical_event_type("cart") is None
    assert "cart" not in EVENT_TYPES and "catalog" not in EVENT_TYPE_ALIASES


def test_import_names_the_generic_names_and_how_to_map_them(tmp_path):
    init_project(tmp_path / "p")
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        (r,) = ingest_files(p, "clickstream", [f])
    assert r.generic_event_names == {"cart": 2, "catalog": 1}    # by hand: purchase is a type
    res = CliRunner().invoke(app, ["ingest", "clickstream", str(f), "--project", str(tmp_path / "p"), "--force"])
    assert res.exit_code == 0, res.output
    (line,) = [ln for ln in res.output.splitlines() if "imported as custom" in ln]
    assert "cart (2), catalog (1)" in line
    assert '[sources.clickstream] in percorso.toml mapping = { "event.cart" = "TYPE" }' in line
    assert "add_to_cart" in line and "before importing" in line


def test_a_mapped_name_is_no_longer_generic(tmp_path):
    init_project(tmp_path / "p")
    cfg = tmp_path / "p" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        '[sources.clickstream]\nkind = "clickstream"',
        '[sources.clickstream]\nkind = "clickstream"\nmapping = { "event.cart" = "add_to_cart" }'), encoding="utf-8")
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        (r,) = ingest_files(p, "clickstream", [f])
        assert r.generic_event_names == {"catalog": 1}
        types = dict(p.engine.con.execute("SELECT event_name, any_value(event_type) FROM events GROUP BY 1").fetchall())
    assert types == {"catalog": "custom", "cart": "add_to_cart", "purchase": "purchase"}
