"""An empty segment says which of its steps the data has none of (a clickstream's `cart` is not `add_to_cart`)."""

from __future__ import annotations

from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project, open_project
from percorso.testing import journeys_for
from percorso.value.segments.compile import absent_step_types
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
    events are generic events: it read as "nobody abandons a cart"."""
    root = tmp_path / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, {"anna": [("page_view", "2024-03-01 10:00")]})
    res = CliRunner().invoke(app, ["segment", "create", "carrelli", "--rule", CART, "-p", str(root)])
    assert res.exit_code == 0, res.output
    assert "segmento 'carrelli': 0 clienti" in res.stderr
    assert "no add_to_cart events in the data" in res.stderr and '"event.cart" = "add_to_cart"' in res.stderr
