"""An empty segment says which of its steps the data has none of (a clickstream's `cart` is not `add_to_cart`)."""

from __future__ import annotations

from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project, open_project
from percorso.testing import journeys_for
from percorso.ingest.pipeline import generic_names_text
from percorso.value.segments.compile import absent_step_types, untyped_event_names
from percorso.value.segments.definition import parse_rule

CART = '{"type":"behaviour","action":"abandoned_cart","within_days":30}'


def test_absent_step_types_by_hand(tmp_path):
    eng = journeys_for(tmp_path, {"anna": [("page_view", "2024-03-01 10:00"), ("product_view", "2024-03-01 10:01")],
                                  "bruno": [("checkout", "2024-03-02 10:00")]})
    try:
        assert absent_step_types(eng, parse_rule(CART)) == ["add_to_cart"]
        nested = ('{"type":"or","rules":[{"type":"behaviour","action":"viewed_product"},{"type":"not","rule":'
                  '{"type":"behaviour","action":"added_to_cart"}},{"type":"behaviour","action":"abandoned_checkout"}]}')
        assert absent_step_types(eng, parse_rule(nested)) == ["add_to_cart"]  # product_view and checkout are there
        assert absent_step_types(eng, parse_rule('{"type":"behaviour","action":"visited_site"}')) == []
    finally:
        eng.close()


def test_segment_create_says_why_it_is_empty(tmp_path):
    """`segment create carrelli abandoned_cart` printed "0 clienti" on a clickstream whose 100k `cart`
    events are generic events: it read as "nobody abandons a cart". It says which step the data
    lacks and, as the import did (``generic_names_text``), which names have no type and how to map one."""
    root = tmp_path / "p"
    init_project(root, name="t")
    web = {"source_name": "clickstream", "event_name": "cart"}
    with open_project(root) as p:
        journeys_for(p.engine, {"anna": [("page_view", "2024-03-01 10:00"), ("custom", "2024-03-01 10:01", web),
                                         ("custom", "2024-03-01 10:02", {**web, "event_name": "catalog"})],
                                "bruno": [("custom", "2024-03-02 10:00", web)]})
        assert untyped_event_names(p.engine) == {"clickstream": {"cart": 2, "catalog": 1}}   # by hand
    res = CliRunner().invoke(app, ["segment", "create", "carrelli", "--rule", CART, "-p", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    assert lines[0] == "segmento 'carrelli': 0 clienti"
    assert lines[1].startswith("nessun evento add_to_cart nei dati / no add_to_cart events in the data; forse")
    # the import's own line, with the data's names, counts and source
    assert lines[2] == generic_names_text("clickstream", {"cart": 2, "catalog": 1})
    assert "cart (2), catalog (1)" in lines[2] and "[sources.clickstream]" in lines[2] and len(lines) == 3


def test_no_mapping_hint_when_every_name_has_a_type(tmp_path):
    """Nothing to map: the data just has no add to cart."""
    root = tmp_path / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, {"anna": [("page_view", "2024-03-01 10:00")]})
    res = CliRunner().invoke(app, ["segment", "create", "carrelli", "--rule", CART, "-p", str(root)])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == ["segmento 'carrelli': 0 clienti",
                                       "nessun evento add_to_cart nei dati / no add_to_cart events in the data"]
