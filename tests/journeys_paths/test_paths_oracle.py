"""Random small journeys: the engine equals the slow pure-Python oracle (paths_oracle.py) exactly."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths_oracle import anchor, oracle_sankey, oracle_steps, oracle_top, oracle_transitions

from percorso.analysis.base import run
from percorso.engine import Engine
from percorso.journeys.paths import PathsQuery
from percorso.journeys.sankey import SankeyQuery
from percorso.journeys.transitions import TransitionsQuery
from percorso.testing import journeys_for

LABELS = ("page_view", "email_click", "purchase")
T0 = datetime(2025, 3, 1, 9, 0)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

step = st.tuples(st.sampled_from(LABELS), st.integers(0, 10), st.integers(1, 9))
people = st.dictionaries(st.sampled_from(["p0", "p1", "p2", "p3", "p4", "p5"]),
                         st.lists(step, min_size=1, max_size=8), min_size=1, max_size=6)
controls = st.fixed_dictionaries({
    "scope": st.sampled_from(["customer", "session"]),
    "collapse_repeats": st.booleans(),
    "exclude": st.sampled_from([(), ("email_click",)]),
})
anchor_node = st.none() | st.sampled_from(LABELS)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = Engine(tmp_path_factory.mktemp("oracle") / "o.duckdb")
    yield e
    e.close()


def load(engine: Engine, spec: dict) -> list[dict]:
    """Write the people (times in 20-minute ticks: ties and session breaks are common), read them back."""
    journeys = {
        person: [(label, T0 + timedelta(minutes=20 * tick),
                  {"event_id": f"{person}-{i}", **({"revenue": float(10 * eur)} if label == "purchase" else {})})
                 for i, (label, tick, eur) in enumerate(steps)]
        for person, steps in spec.items()}
    journeys_for(engine, journeys)
    frame = engine.execute(engine.table("touchpoints").select(
        "event_id", "customer_id", "session_id", "occurred_at", "event_type", "revenue"))
    out = []
    for r in frame.to_dict("records"):
        r["occurred_at"] = r["occurred_at"].to_pydatetime()
        r["revenue"] = None if r["revenue"] is None or (isinstance(r["revenue"], float) and math.isnan(r["revenue"])) \
            else r["revenue"]
        out.append(r)
    return out


def steps_of(tps: list[dict], c: dict) -> dict:
    return oracle_steps(tps, scope=c["scope"], collapse=c["collapse_repeats"], exclude=c["exclude"])


@SETTINGS
@given(spec=people, c=controls, max_steps=st.integers(1, 4), top=st.integers(1, 4), start=anchor_node,
       end=anchor_node, converting=st.booleans())
def test_top_paths_equal_the_oracle(engine, spec, c, max_steps, top, start, end, converting):
    tps = load(engine, spec)
    want = oracle_top(anchor(steps_of(tps, c), start, end), max_steps, top, converting)
    r = run(engine, PathsQuery(max_steps=max_steps, top=top, start=start, end=end, converting_only=converting, **c))
    got = r.to_frame().to_dict("records")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if w["path"].startswith("other"):
            assert g["path"].startswith(w["path"].removesuffix(")") + " ")
        else:
            assert g["path"] == w["path"]
        assert (g["journeys"], g["customers"], g["converting"]) == (w["journeys"], w["customers"], w["converting"])
        assert g["revenue"] == pytest.approx(w["revenue"])
    assert sum(g["journeys"] for g in got) == r.meta["journeys"]


@SETTINGS
@given(spec=people, c=controls, top=st.integers(1, 5), ends=st.booleans())
def test_transitions_equal_the_oracle(engine, spec, c, top, ends):
    tps = load(engine, spec)
    want = oracle_transitions(steps_of(tps, c), top, ends)
    got = run(engine, TransitionsQuery(top=top, include_ends=ends, **c)).to_frame().to_dict("records")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (int(g["transitions"]), int(g["customers"])) == (w["transitions"], w["customers"])
        if w["from_node"].startswith("other"):
            assert g["from_node"].startswith(w["from_node"].removesuffix(")") + " ")
            continue
        assert (g["from_node"], g["to_node"]) == (w["from_node"], w["to_node"])
        assert g["share_of_from"] == pytest.approx(w["share_of_from"])
        if w["median_minutes"] is None:
            assert g["median_minutes"] is None or math.isnan(g["median_minutes"])
        else:
            assert g["median_minutes"] == pytest.approx(w["median_minutes"])


@SETTINGS
@given(spec=people, c=controls, n=st.integers(2, 4), top_k=st.integers(1, 3), start=anchor_node, end=anchor_node,
       data=st.data())
def test_sankey_equals_the_oracle(engine, spec, c, n, top_k, start, end, data):
    tps = load(engine, spec)
    want_links, cells = oracle_sankey(steps_of(tps, c), n, top_k, start, end)
    r = run(engine, SankeyQuery(steps=n, top_k=top_k, start=start, end=end, **c))
    f = r.to_frame()
    got = {(int(s), a, b): int(j) for s, a, b, j in f[["step", "source", "target", "journeys"]].itertuples(index=False)}
    assert got == want_links
    assert r.meta["journeys"] == len(anchor(steps_of(tps, c), start, end))
    if cells:
        (pos, node) = data.draw(st.sampled_from(sorted(cells)))
        assert sorted(r.customers(step=pos, node=node)["customer_id"]) == sorted(cells[(pos, node)])
