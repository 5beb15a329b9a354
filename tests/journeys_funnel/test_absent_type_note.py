"""A funnel step that is an event type nobody in the data has: the zero stays, a note says it measures nothing."""

from __future__ import annotations

from typer.testing import CliRunner

from percorso.cli import app
from percorso.journeys.controls import JourneyQuery, absent_types_note
from percorso.project import init_project, open_project
from percorso.testing import journeys_for

PEOPLE = {"anna": [("page_view", "2024-03-01 10:00"), ("product_view", "2024-03-01 10:01"),
                   ("purchase", "2024-03-01 10:05", {"revenue": 10.0})],
          "bruno": [("page_view", "2024-03-02 10:00")]}


def test_note_names_the_absent_type_by_hand(tmp_path):
    eng = journeys_for(tmp_path, PEOPLE)
    try:
        q = JourneyQuery()
        assert absent_types_note(eng, q, ["page_view", "purchase"]) is None
        note = absent_types_note(eng, q, ["page_view", "add_to_cart", "purchase"])
        assert note is not None and note.startswith("nessun evento add_to_cart nei dati / no add_to_cart touchpoint")
        assert "page_view, product_view, purchase" in note
        assert absent_types_note(eng, JourneyQuery(node="channel"), ["add_to_cart"]) is None  # not a vocabulary node
    finally:
        eng.close()


def test_funnel_through_an_absent_type_says_so(tmp_path):
    """`funnel catalog add_to_cart purchase` on a clickstream whose carts are `cart` printed 86,600 dropped
    at add_to_cart, exit 0, nothing else: a drop-off nobody measured."""
    root = tmp_path / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, PEOPLE)
    res = CliRunner().invoke(app, ["funnel", "page_view", "add_to_cart", "purchase", "-p", str(root), "-f", "csv"])
    assert res.exit_code == 0, res.output
    assert "no add_to_cart touchpoint in the data" in res.stderr
    assert "(all),2,add_to_cart,0," in res.stdout  # the answer itself is unchanged: a zero
    ok = CliRunner().invoke(app, ["funnel", "page_view", "purchase", "-p", str(root), "-f", "csv"])
    assert ok.exit_code == 0 and "touchpoint in the data" not in ok.stderr


def test_chart_of_a_funnel_whose_first_step_nobody_has(tmp_path):
    """`funnel store_visit purchase --chart f.html` on data without store visits failed with an internal
    error (KeyError: 'breakdown': the result has no rows to chart); the chart shows each step at zero."""
    root = tmp_path / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, PEOPLE)
    chart = tmp_path / "f.html"
    res = CliRunner().invoke(app, ["funnel", "store_visit", "purchase", "-p", str(root), "--chart", str(chart)])
    assert res.exit_code == 0, res.output
    assert "no store_visit touchpoint in the data" in res.stderr
    html = chart.read_text(encoding="utf-8")
    assert '"x":[0,0]' in html and "1. store_visit" in html and "2. purchase" in html
