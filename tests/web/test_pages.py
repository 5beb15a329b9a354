"""The journey pages: each renders in both languages with no error, shows the numbers the Python
API computes for the same controls, and its drill-downs list the customers the API lists."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest

from percorso.api import FunnelQuery, JourneyMapQuery, SankeyQuery, TransitionsQuery, open_project, run
from percorso.export.columns import format_value
from tests.web.conftest import get

MINE = ("/", "/mappa", "/percorsi", "/funnel", "/frizioni", "/omnicanale", "/attribuzione")


def _drills(html: str, kind: str) -> list[tuple[dict, dict]]:
    """(query, selector) of every drill-down link of ``kind`` on a page."""
    out = []
    for href in re.findall(r'(/clienti\?[^"\s]+)', unescape(html)):
        params = parse_qs(urlparse(href).query)
        if params["kind"][0] == kind:
            out.append((json.loads(params["q"][0]), json.loads(params["sel"][0])))
    return out


def _decoded(value):  # type: ignore[no-untyped-def]
    """Plotly's JSON with its typed arrays (``{"dtype", "bdata"}``, base64) as plain lists."""
    import base64

    import numpy as np

    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _listed(client, tokens, query: dict, kind: str, selector: dict) -> list[str]:  # type: ignore[no-untyped-def]
    from urllib.parse import urlencode

    page = get(client, "/clienti?" + urlencode({"kind": kind, "q": json.dumps(query), "sel": json.dumps(selector)}),
               tokens["analyst"])
    return re.findall(r"/cliente\?id=(C[0-9a-f]{12})", page)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_every_journey_page_renders_without_error(site, lang: str) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    for path in MINE:
        html = get(client, path, tokens["analyst"], lang=lang)
        assert 'class="error"' not in html, (path, re.findall(r'class="error"[^>]*>([^<]*)', html))
        assert f'<html lang="{lang}">' in html and "data-figure=" in html, path
    it = get(client, "/mappa", tokens["analyst"])
    assert "consideration" not in re.sub(r'data-figure="[^"]*"|href="[^"]*"', "", it)  # stage names in Italian
    assert "valutazione" in it


def test_journey_map_cells_equal_the_api_and_drill_to_the_same_customers(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    html = get(client, "/mappa", tokens["analyst"], min_customers="10")
    with open_project(root) as p:
        r = run(p.engine, JourneyMapQuery(min_customers=10))
        biggest = r.frame.sort_values("customers", ascending=False).iloc[0]
        drills = _drills(html, "journey_map")
        assert drills, "no drill-down link on the journey map"
        query, sel = next((q, s) for q, s in drills if s == {"stage": biggest["stage"], "channel": biggest["channel"]})
        expected = list(r.customers(limit=100, **sel)["customer_id"])
    assert query["min_customers"] == 10
    assert f">{format_value(int(biggest['customers']), 'count', 'it')}<" in html
    assert _listed(client, tokens, query, "journey_map", sel) == expected and expected
    assert int(r.frame["friction"].sum()) == int(re.search(r"(\d+) celle di frizione", html).group(1))
    # durations in the unit that fits each cell, named (never raw fractions of a day)
    days = float(biggest["median_days_to_next_stage"])
    from percorso.web.i18n import format_number

    assert format_number(days, "duration", "it", unit="days") in html
    assert re.search(r">[\d.]+,\d (min|ore|giorni)<", html)


def test_funnel_controls_round_trip_and_a_step_drills_to_the_api_customers(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    params = "step=page_view&step=add_to_cart&step=purchase&window=14&order=strict"
    html = unescape(get(client, "/funnel?" + params, tokens["analyst"]))
    for value in ("page_view", "add_to_cart", "purchase"):
        assert f'name="step" value="{value}"' in html
    assert 'name="window" min="1" max="730" value="14"' in html and 'value="strict" selected' in html
    with open_project(root) as p:
        r = run(p.engine, FunnelQuery(steps=("page_view", "add_to_cart", "purchase"), window=timedelta(days=14),
                                      order="strict"))
        expected = list(r.customers(step=2, limit=100)["customer_id"])
    for reached in r.frame["reached"]:
        assert format_value(int(reached), "count", "it") in html
    query, sel = next((q, s) for q, s in _drills(html, "funnel") if s.get("step") == 2 and "dropped" not in s)
    assert query["order"] == "strict" and sel.get("breakdown") in (None, "(all)")
    assert _listed(client, tokens, query, "funnel", sel) == expected and expected


def test_sankey_columns_are_steps_and_transitions_show_the_largest_flows(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    html = get(client, "/percorsi", tokens["analyst"], steps="4", lang="en")
    import plotly.io as pio

    figures = [pio.from_json(json.dumps(_decoded(json.loads(unescape(f)))))
               for f in re.findall(r'data-figure="([^"]*)"', html)]
    sankey = next(f for f in figures if f.data[0].type == "sankey").data[0]
    with open_project(root) as p:
        s = run(p.engine, SankeyQuery(steps=4, top_k=10))
        t = run(p.engine, TransitionsQuery(top=15))
    # every link goes from one column to the next: x of its target is one step right of its source
    xs = list(sankey.node.x)
    columns = sorted(set(xs))
    assert len(columns) == 4
    for a, b in zip(sankey.link.source, sankey.link.target):
        assert columns.index(xs[b]) == columns.index(xs[a]) + 1
    assert sum(sankey.link.value) == s.frame["journeys"].sum()
    ends = [i for i, label in enumerate(sankey.node.label) if label == "(end)"]
    assert ends and all(xs[i] > columns[0] for i in ends)  # an end is never stacked in the first column
    bars = next(f for f in figures if f.data[0].type == "bar" and f.data[0].orientation == "h").data[0]
    top = t.frame[t.frame["from_node"] != "other"].iloc[0]
    assert list(bars.x)[-1] == top["transitions"] and format_value(int(top["transitions"]), "count", "en") in bars.text[-1]
    assert list(bars.x) == sorted(bars.x)  # the largest flow at the top


def test_attribution_shows_the_purchases_no_journey_is_credited_for(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    html = get(client, "/attribuzione", tokens["analyst"])
    resp = client.post("/v1/analyses/attribution", json={"lookback_days": 30},
                       headers={"Authorization": f"Bearer {tokens['analyst']}"})
    totals = resp.json()["fields"]["totals"]["__frame__"]
    rows = [dict(zip(totals["columns"], r)) for r in totals["rows"]]
    missing = next(r for r in rows if r["row"] == "not_attributable")
    assert format_value(int(missing["conversions"]), "count", "it") in html
    assert format_value(missing["value"], "money", "it") in unescape(html)
    assert "Non attribuibili" in html and "ricavi degli acquisti in negozio" in html
