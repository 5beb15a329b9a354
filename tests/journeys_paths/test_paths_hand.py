"""Paths top, transitions and Sankey on four hand-made people (see paths_people.py)."""

from __future__ import annotations

from datetime import date

import pytest
from paths_people import EC, PEOPLE, PU, PV, RC, p

from percorso.analysis.base import run
from percorso.engine import Engine
from percorso.errors import InputError
from percorso.journeys.paths import PathsQuery
from percorso.journeys.sankey import SankeyQuery
from percorso.journeys.transitions import TransitionsQuery
from percorso.testing import journeys_for


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = journeys_for(tmp_path_factory.mktemp("paths"), PEOPLE)
    yield e
    e.close()


def rows(result, *cols):
    return [tuple(r) for r in result.to_frame()[list(cols)].itertuples(index=False)]


def ids(frame):
    return list(frame["customer_id"])


# ---------------------------------------------------------------- top paths


def test_top_two_with_other_row_adding_up(engine):
    r = run(engine, PathsQuery(top=2))
    # all four paths occur once: ties broken by path text
    assert rows(r, "path", "journeys", "customers", "converting", "revenue") == [
        (EC, 1, 1, 0, 0.0),
        (p(PV, EC, EC, RC), 1, 1, 1, 120.0),
        ("other (2 varianti / variants)", 2, 2, 1, 50.0),
    ]
    f = r.to_frame()
    assert list(f["share"]) == [0.25, 0.25, 0.5]
    assert list(f["conversion_rate"]) == [0.0, 1.0, 0.5]
    assert f["journeys"].sum() == 4 and r.meta == {"journeys": 4, "customers": 4, "variants": 4}


def test_collapse_merges_the_repeated_email_click(engine):
    r = run(engine, PathsQuery(top=2, collapse_repeats=True))
    assert rows(r, "path", "journeys") == [(EC, 1), (p(PV, EC, PV), 1), ("other (2 varianti / variants)", 2)]
    assert r.meta["variants"] == 4
    paths = set(run(engine, PathsQuery(collapse_repeats=True)).to_frame()["path"])
    assert p(PV, EC, RC) in paths and p(PV, EC, EC, RC) not in paths


def test_truncated_paths_end_with_ellipsis(engine):
    r = run(engine, PathsQuery(max_steps=2, top=1))
    assert rows(r, "path", "journeys", "customers", "converting", "revenue") == [
        # anna's receipt (120) and bruno's purchase (50) come after step 2: the path shown is cut,
        # their journeys still convert
        (p(PV, EC, "…"), 3, 3, 2, 170.0),
        ("other (1 varianti / variants)", 1, 1, 0, 0.0),
    ]


def test_end_anchor_everything_before_the_receipt(engine):
    r = run(engine, PathsQuery(end=RC))
    assert rows(r, "path", "journeys", "converting", "revenue") == [
        (p(PV, EC, EC, RC), 1, 1, 120.0), ("other (0 varianti / variants)", 0, 0, 0.0)]
    r = run(engine, PathsQuery(end=EC, node="event_type"))
    assert rows(r, "path", "journeys", "customers") == [
        (p(PV, EC), 3, 3), (EC, 1, 1), ("other (0 varianti / variants)", 0, 0)]


def test_start_anchor_and_converting_only(engine):
    r = run(engine, PathsQuery(start=EC))
    assert set(r.to_frame()["path"][:-1]) == {p(EC, EC, RC), p(EC, PU), p(EC, PV), EC}
    r = run(engine, PathsQuery(converting_only=True))
    assert rows(r, "path", "journeys", "revenue")[:2] == [(p(PV, EC, EC, RC), 1, 120.0), (p(PV, EC, PU), 1, 50.0)]
    assert r.meta["journeys"] == 2


def test_session_scope_counts_sessions_not_people(engine):
    r = run(engine, PathsQuery(scope="session", top=10))
    f = r.to_frame()
    assert sorted(f["path"][:-1]) == sorted([p(PV, EC, EC), RC, p(PV, EC, PU), PV, p(EC, PV), EC])
    assert r.meta == {"journeys": 6, "customers": 4, "variants": 6}
    assert f.iloc[-1]["journeys"] == 0


def test_exclude_clean_and_dates(engine):
    r = run(engine, PathsQuery(exclude=(EC,)))
    assert sorted(r.to_frame()["path"][:-1]) == [p(PV, PV), p(PV, PU), p(PV, RC)]   # dario vanishes
    r = run(engine, PathsQuery(clean=(("^(page|email)", "web"),), collapse_repeats=True))
    assert rows(r, "path", "journeys")[:3] == [("web", 2), (p("web", PU), 1), (p("web", RC), 1)]
    r = run(engine, PathsQuery(date_from=date(2024, 1, 2), date_to=date(2024, 1, 5)))
    assert sorted(r.to_frame()["path"][:-1]) == [p(PV, EC, PV), p(PV, EC, PU), RC]


def test_node_channel_and_drill_down(engine):
    r = run(engine, PathsQuery(node="channel", end="Store / POS"))
    assert rows(r, "path", "journeys")[0] == (p("Paid Search", "Email", "Email", "Store / POS"), 1)
    r = run(engine, PathsQuery(max_steps=2))
    assert ids(r.customers(path=p(PV, EC, "…"))) == ["anna", "bruno", "carla"]
    with pytest.raises(InputError):
        r.customers(node="x")


# ---------------------------------------------------------------- transitions


def test_transitions_counts_customers_median_share(engine):
    r = run(engine, TransitionsQuery(top=3))
    f = r.to_frame()
    cols = ["from_node", "to_node", "transitions", "customers", "share_of_from", "median_minutes"]
    got = [(a, b, int(n), int(c), s, m) for a, b, n, c, s, m in f[cols][:3].itertuples(index=False)]
    assert got == [(PV, EC, 3, 3, 1.0, 20.0), (EC, EC, 1, 1, 0.25, 0.0), (EC, PV, 1, 1, 0.25, 10.0)]
    other = f.iloc[3]
    assert other["from_node"].startswith("other (2") and other["transitions"] == 2 and other["customers"] == 2
    assert r.meta == {"transitions": 7, "customers": 3}


def test_transitions_with_ends_and_receipt_gap(engine):
    f = run(engine, TransitionsQuery(top=100, include_ends=True)).to_frame().set_index(["from_node", "to_node"])
    assert f.loc[("(start)", PV), "transitions"] == 3 and f.loc[("(start)", EC), "transitions"] == 1
    assert f.loc[(RC, "(end)"), "transitions"] == 1 and f.loc[(EC, "(end)"), "customers"] == 1
    assert f.loc[(EC, RC), "median_minutes"] == 2 * 1440 + 6 * 60 + 50
    assert f.loc[(EC, RC), "share_of_from"] == 0.2      # email_click: 4 onward + dario's end


def test_transitions_collapse_and_session(engine):
    f = run(engine, TransitionsQuery(collapse_repeats=True)).to_frame()
    assert (EC, EC) not in set(zip(f["from_node"], f["to_node"]))
    f = run(engine, TransitionsQuery(scope="session")).to_frame().set_index(["from_node", "to_node"])
    # carla's page_view → email_click crosses a session break; anna's email_click → receipt too
    assert f.loc[(PV, EC), "transitions"] == 2 and (EC, RC) not in f.index


def test_step_labels_are_the_steps_labels_without_reading_the_steps(engine):
    from percorso.journeys.controls import step_labels

    def labels(q):
        return set(engine.execute(step_labels(engine, q))["node"])

    # carla's identify is record keeping: never a step, never a label
    assert labels(TransitionsQuery()) == {PV, EC, PU, RC}
    assert labels(TransitionsQuery(node="channel")) == {"Paid Search", "Organic Search", "Email", "Direct",
                                                        "Store / POS"}
    assert labels(TransitionsQuery(clean=(("^(page|email)", "web"),))) == {"web", PU, RC}
    assert labels(TransitionsQuery(date_from=date(2024, 1, 6))) == {EC}   # dario's day only
    # an excluded node may stay among the labels (it numbers nothing); a page node reads details
    assert labels(TransitionsQuery(exclude=(EC,))) >= {PV, PU, RC}
    assert step_labels(engine, TransitionsQuery(node="page")) is None


def test_transitions_cleaned_and_excluded_by_hand(engine):
    f = run(engine, TransitionsQuery(clean=(("^(page|email)", "web"),))).to_frame()
    # anna web→web→web→receipt, bruno web→web→purchase, carla web→web→web, dario none
    assert [tuple(r) for r in f[["from_node", "to_node", "transitions", "customers"]].itertuples(index=False)] == [
        ("web", "web", 5, 3), ("web", PU, 1, 1), ("web", RC, 1, 1)]
    f = run(engine, TransitionsQuery(exclude=(EC,))).to_frame()
    assert [tuple(r) for r in f[["from_node", "to_node", "transitions"]].itertuples(index=False)] == [
        (PV, PV, 1), (PV, PU, 1), (PV, RC, 1)]   # ties by label: page_view < purchase < receipt


def test_transitions_drill_down(engine):
    r = run(engine, TransitionsQuery())
    assert ids(r.customers(from_node=EC, to_node=PU)) == ["bruno"]
    assert ids(r.customers(from_node=PV)) == ["anna", "bruno", "carla"]
    with pytest.raises(InputError):
        r.customers(step=1)


# ---------------------------------------------------------------- Sankey


def test_sankey_top_k_other_and_end(engine):
    r = run(engine, SankeyQuery(steps=3, top_k=1))
    assert rows(r, "step", "source", "target", "journeys") == [
        (1, PV, EC, 3), (1, "other", "(end)", 1), (2, EC, "other", 2), (2, EC, EC, 1)]
    fig = r.figure()
    assert "1 · page_view" in fig.data[0].node.label and fig.data[0].type == "sankey"


def test_sankey_before_the_receipt(engine):
    r = run(engine, SankeyQuery(steps=5, end=RC))
    assert rows(r, "step", "source", "target", "journeys") == [
        (1, "(start)", PV, 1), (2, PV, EC, 1), (3, EC, EC, 1), (4, EC, RC, 1)]


def test_sankey_after_email_and_drill_down(engine):
    r = run(engine, SankeyQuery(steps=3, start=EC))
    assert sorted(rows(r, "step", "source", "target", "journeys")) == sorted([
        (1, EC, EC, 1), (1, EC, PU, 1), (1, EC, PV, 1), (1, EC, "(end)", 1),
        (2, EC, RC, 1), (2, PU, "(end)", 1), (2, PV, "(end)", 1)])
    assert ids(r.customers(step=2, node="(end)")) == ["dario"]
    assert ids(r.customers(step=1, source=EC, target=PU)) == ["bruno"]
    assert ids(r.customers(step=1, node=EC)) == ["anna", "bruno", "carla", "dario"]


def test_sankey_between_two_nodes(engine):
    r = run(engine, SankeyQuery(steps=4, start=PV, end=PU))
    assert rows(r, "step", "source", "target", "journeys") == [(1, PV, EC, 1), (2, EC, PU, 1), (3, PU, "(end)", 1)]


def test_charts_build(engine):
    assert run(engine, PathsQuery()).figure().data[0].orientation == "h"
    t = run(engine, TransitionsQuery())
    assert t.figure().layout.annotations and t.figure(kind="matrix").data[0].type == "heatmap"


def test_empty_engine_gives_only_the_other_row(tmp_path):
    e = journeys_for(Engine(tmp_path / "e.duckdb"), {"x": [("page_view", "2024-01-01 10:00")]})
    r = run(e, PathsQuery(end="receipt"))
    assert len(r.to_frame()) == 1 and r.to_frame()["journeys"].sum() == 0
    e.close()


def test_other_row_drill_down(engine):
    r = run(engine, PathsQuery(top=2))
    # shown: dario's and anna's paths; the other two variants are bruno's and carla's
    assert ids(r.customers(path="other")) == ["bruno", "carla"]
    assert ids(r.customers(path=r.to_frame()["path"].iloc[-1])) == ["bruno", "carla"]


def test_paths_whose_label_numbers_differ_but_whose_texts_agree_are_one_path(tmp_path, monkeypatch):
    """``paths top`` groups the journeys by their label numbers first (coded_journey_paths), then by
    the text: a channel named "Email → Social" and two touchpoints on Email then Social are the same
    path text, so one variant of two journeys, as when journeys were grouped by text."""
    e = journeys_for(tmp_path, {
        "anna": [("page_view", "2024-01-01 10:00", {"channel": "Email → Social"})],
        "bruno": [("page_view", "2024-01-02 09:00", {"channel": "Email"}),
                  ("page_view", "2024-01-02 09:05", {"channel": "Social"})],
        "carla": [("page_view", "2024-01-03 09:00", {"channel": "Email"}),
                  ("purchase", "2024-01-03 09:05", {"channel": "Email", "revenue": 0.1})],
    })
    import percorso.journeys.paths as paths

    named = []
    real = paths.named_paths
    monkeypatch.setattr(paths, "named_paths", lambda *a: named.append(1) or real(*a))
    try:
        r = run(e, PathsQuery(node="channel", top=1))
        assert named == [1]   # the journeys were grouped by their label numbers
        assert rows(r, "path", "journeys", "customers", "converting", "revenue") == [
            ("Email → Social", 2, 2, 0, 0.0), ("other (1 varianti / variants)", 1, 1, 1, 0.1)]
        assert r.meta == {"journeys": 3, "customers": 3, "variants": 2}
    finally:
        e.close()
