"""Paths, transitions and Sankey: hand-computed examples and a pure-Python oracle."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journey_oracle import journeys, sankey_links, top_paths, transitions
from typer.testing import CliRunner

from percorso.analysis import medians
from percorso.analysis.base import run
from percorso.journeys.paths import PathsQuery
from percorso.journeys.sankey import SankeyQuery
from percorso.journeys.transitions import TransitionsQuery
from percorso.testing import journeys_for
from percorso.testing import cli_error

T0 = datetime(2025, 3, 1, 9, 0)


def _example(tmp_path):
    return journeys_for(tmp_path, {
        "anna": [("ad_click", "2025-03-01 09:00", {"channel": "Paid Search"}),
                 ("page_view", "2025-03-01 09:10", {"channel": "Paid Search"}),
                 ("page_view", "2025-03-01 09:20", {"channel": "Paid Search"}),
                 ("receipt", "2025-03-03 17:00", {"channel": "Store / POS", "revenue": 300.0})],
        "bruno": [("email_click", "2025-03-02 10:00", {"channel": "Email"}),
                  ("page_view", "2025-03-02 10:05", {"channel": "Email"})],
        "carla": [("email_click", "2025-03-02 11:00", {"channel": "Email"}),
                  ("page_view", "2025-03-02 11:30", {"channel": "Email"}),
                  ("purchase", "2025-03-02 11:40", {"channel": "Email", "revenue": 80.0})],
    })


def test_top_paths_by_hand_with_other_row(tmp_path):
    r = run(_example(tmp_path), PathsQuery(top=1, node="channel", collapse_repeats=True))
    f = r.to_frame()
    assert list(f["path"]) == ["Email", "other (1 varianti / variants)"]
    assert list(f["journeys"]) == [2, 1] and list(f["converting"]) == [1, 1]
    assert f["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert f["revenue"].tolist() == pytest.approx([80.0, 300.0])
    assert sorted(r.customers(path="Email")["customer_id"]) == ["bruno", "carla"]


def test_paths_before_an_in_store_purchase_are_cut_at_it(tmp_path):
    f = run(_example(tmp_path), PathsQuery(end="receipt", max_steps=3)).to_frame()
    assert f.iloc[0]["path"] == "ad_click → page_view → page_view → …"  # 4 steps, cut at 3
    # the path shown is cut, the journey is not: the receipt at step 4 still converts it, with its revenue
    assert int(f.iloc[0]["journeys"]) == 1 and int(f.iloc[0]["converting"]) == 1
    assert f.iloc[0]["revenue"] == 300.0
    f = run(_example(tmp_path), PathsQuery(end="receipt", max_steps=4, exclude=("page_view",))).to_frame()
    assert f.iloc[0]["path"] == "ad_click → receipt" and int(f.iloc[0]["converting"]) == 1


def test_end_at_a_purchase_in_store_whatever_the_node(tmp_path):
    """``purchase:store`` matches anna's receipt (offline), not carla's web purchase; with
    ``--node channel`` no label could say it; ``purchase:online`` the other way round."""
    e = _example(tmp_path)
    f = run(e, PathsQuery(node="channel", end="purchase:store")).to_frame()
    assert f.iloc[0]["path"] == "Paid Search → Paid Search → Paid Search → Store / POS"
    assert list(f["journeys"]) == [1, 0] and int(f.iloc[0]["converting"]) == 1
    f = run(e, PathsQuery(node="channel", end="purchase:online", collapse_repeats=True)).to_frame()
    assert list(f["path"])[:1] == ["Email"] and list(f["journeys"]) == [1, 0]
    assert f.iloc[0]["revenue"] == 80.0
    f = run(e, PathsQuery(start="purchase:any")).to_frame()
    assert sorted(f["path"][:-1]) == ["purchase", "receipt"]
    s = run(e, SankeyQuery(node="channel", end="purchase:store", steps=2)).to_frame()
    assert s[["step", "source", "target", "journeys"]].values.tolist() == [[1, "Paid Search", "Store / POS", 1]]
    with pytest.raises(ValueError, match="purchase:store"):
        PathsQuery(end="purchase:shop")


def test_cli_end_purchase_store(tmp_path):
    from percorso.cli import app
    from percorso.project import init_project, open_project

    init_project(tmp_path / "p", name="t")
    with open_project(tmp_path / "p") as p:
        journeys_for(p.engine, {"anna": [("page_view", "2025-03-01 09:00"), ("receipt", "2025-03-02 10:00", {"channel": "Store / POS"})],
                                "bea": [("page_view", "2025-03-01 09:00"), ("purchase", "2025-03-01 09:10")]})
    base = ["paths", "top", "--project", str(tmp_path / "p"), "--node", "channel", "--format", "json"]
    res = CliRunner().invoke(app, [*base, "--end", "purchase:store"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc[0]["journeys"] == 1 and doc[0]["converting"] == 1 and doc[0]["path"].endswith("Store / POS")
    res = CliRunner().invoke(app, [*base, "--end", "purchase:negozio"])
    assert "valid: purchase:any, purchase:online, purchase:store" in cli_error(res)[1]


def test_transitions_by_hand(tmp_path):
    f = run(_example(tmp_path), TransitionsQuery()).to_frame().set_index(["from_node", "to_node"])
    assert int(f.loc[("email_click", "page_view"), "transitions"]) == 2
    assert int(f.loc[("email_click", "page_view"), "customers"]) == 2
    assert f.loc[("email_click", "page_view"), "median_minutes"] == pytest.approx((5 + 30) / 2)
    assert f.loc[("page_view", "receipt"), "median_minutes"] == pytest.approx(2 * 24 * 60 + 7 * 60 + 40)
    # page_view goes on to page_view, receipt, purchase: one each
    assert f.loc[("page_view", "purchase"), "share_of_from"] == pytest.approx(1 / 3)


def test_session_scope_and_date_range(tmp_path):
    e = _example(tmp_path)
    f = run(e, TransitionsQuery(scope="session")).to_frame().set_index(["from_node", "to_node"])
    assert ("page_view", "receipt") not in f.index  # two days later: another session
    f = run(e, PathsQuery(date_from="2025-03-02", date_to="2025-03-02")).to_frame()
    assert int(f["journeys"].sum()) == 2  # anna's touchpoints are on 1 and 3 March


def test_sankey_by_hand_with_ends_and_other(tmp_path):
    r = run(_example(tmp_path), SankeyQuery(steps=3, top_k=1))
    links = {(int(a), b, c): int(n) for a, b, c, n in r.to_frame()[["step", "source", "target", "journeys"]].values}
    # position 1: email_click ×2 beats ad_click ×1 → ad_click is "other"
    assert links[(1, "email_click", "page_view")] == 2 and links[(1, "other", "page_view")] == 1
    assert links[(2, "page_view", "(end)")] == 1  # bruno stops after 2 steps
    assert sorted(r.customers(step=3, node="(end)")["customer_id"]) == ["bruno"]
    assert r.figure().data[0].type == "sankey"


@st.composite
def random_journeys(draw):
    people = draw(st.integers(1, 6))
    spec = {}
    for i in range(people):
        n = draw(st.integers(1, 8))
        steps = []
        for _ in range(n):
            node = draw(st.sampled_from(["a", "b", "c", "purchase"]))
            minute = draw(st.integers(0, 40)) * 15  # coarse grid: ties happen
            extra = {"revenue": 10.0} if node == "purchase" else {}
            steps.append((node, T0 + timedelta(minutes=minute), extra))
        spec[f"p{i}"] = steps
    return spec


def _rows(engine):
    return engine.execute(engine.table("touchpoints").select("customer_id", "event_id", "occurred_at", "event_type",
                                                              "revenue")).to_dict("records")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=random_journeys(), collapse=st.booleans(), max_steps=st.integers(1, 5))
def test_paths_and_transitions_equal_the_oracle(tmp_path_factory, spec, collapse, max_steps):
    e = journeys_for(tmp_path_factory.mktemp("o"), spec)
    rows = _rows(e)
    js = journeys(rows, collapse)
    expect = top_paths(js, max_steps)
    f = run(e, PathsQuery(max_steps=max_steps, top=1000, collapse_repeats=collapse)).to_frame()
    got = Counter()
    for r in f.itertuples():
        if not r.path.startswith("other"):
            got[(r.path, "journeys")] += int(r.journeys)
            got[(r.path, "converting")] += int(r.converting)
    assert +got == +expect
    tr = run(e, TransitionsQuery(top=10_000, collapse_repeats=collapse)).to_frame()
    got_t = {(r.from_node, r.to_node): (int(r.transitions), int(r.customers), float(r.median_minutes))
             for r in tr.itertuples() if not r.from_node.startswith("other")}
    expect_t = transitions(js)
    assert got_t.keys() == expect_t.keys()
    for k, (n, c, m) in expect_t.items():
        assert got_t[k][:2] == (n, c) and got_t[k][2] == pytest.approx(m)
    # the median from counts (a project past the memory limit) is the same frame, to the bit
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(medians, "BYTES_PER_ROW", 10**15)
        by_counts = run(e, TransitionsQuery(top=10_000, collapse_repeats=collapse)).to_frame()
    assert by_counts.equals(tr)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=random_journeys(), steps=st.integers(2, 5), top_k=st.integers(1, 3))
def test_sankey_equals_the_oracle(tmp_path_factory, spec, steps, top_k):
    e = journeys_for(tmp_path_factory.mktemp("s"), spec)
    expect = sankey_links(journeys(_rows(e)), steps, top_k)
    f = run(e, SankeyQuery(steps=steps, top_k=top_k)).to_frame()
    got = Counter({(int(a), b, c): int(n) for a, b, c, n in f[["step", "source", "target", "journeys"]].values})
    assert got == expect


def test_cli_paths_json_and_chart(tmp_path):
    from percorso.cli import app
    from percorso.project import init_project, open_project

    init_project(tmp_path / "p", name="t")
    with open_project(tmp_path / "p") as p:
        journeys_for(p.engine, {"anna": [("page_view", "2025-03-01 09:00"), ("purchase", "2025-03-01 09:10")]})
    res = CliRunner().invoke(app, ["paths", "top", "--project", str(tmp_path / "p"), "--format", "json",
                                   "--chart", str(tmp_path / "top.html")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc[0]["path"] == "page_view → purchase" and doc[0]["converting"] == 1
    assert (tmp_path / "top.html").read_text(encoding="utf-8").count("plotly") > 0


def test_breakdown_by_first_touch_channel(tmp_path):
    e = _example(tmp_path)
    f = run(e, PathsQuery(breakdown="channel", top=10)).to_frame()
    rows = {(r.breakdown, r.path): int(r.journeys) for r in f.itertuples() if not r.path.startswith("other")}
    assert rows == {("Paid Search", "ad_click → page_view → page_view → receipt"): 1,
                    ("Email", "email_click → page_view"): 1, ("Email", "email_click → page_view → purchase"): 1}
    t = run(e, TransitionsQuery(breakdown="channel")).to_frame()
    by = {(r.breakdown, r.from_node, r.to_node): int(r.transitions) for r in t.itertuples() if r.to_node}
    assert by[("Email", "email_click", "page_view")] == 2 and by[("Paid Search", "page_view", "receipt")] == 1
