"""Funnel and friction equal a slow pure-Python oracle on random small journeys (real DuckDB files)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from funnel_oracle import chains, friction_nodes, friction_outbound, funnel, loops, sequences
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.events.types import OUTBOUND_EVENT_TYPES
from percorso.journeys.friction import FrictionQuery
from percorso.journeys.funnel import FunnelQuery
from percorso.testing import journeys_for

T0 = datetime(2025, 3, 1, 9, 0)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One real DuckDB file for every example (journeys_for replaces its tables): opening a new
    database per example would dominate the run time."""
    from percorso.engine import Engine

    e = Engine(tmp_path_factory.mktemp("oracle") / "oracle.duckdb")
    yield e
    e.close()
CHANNELS = [("Direct", True), ("Email", True), ("Store / POS", False), ("Call center", False)]


@st.composite
def people(draw, labels=("a", "b", "c", "x")):
    spec = {}
    for i in range(draw(st.integers(1, 6))):
        steps = []
        for _ in range(draw(st.integers(1, 8))):
            channel, online = draw(st.sampled_from(CHANNELS))
            # half-hour slots over ~1 day: ties in time are common, so are exact window edges
            at = T0 + timedelta(minutes=30 * draw(st.integers(0, 48)))
            steps.append((draw(st.sampled_from(labels)), at, {"channel": channel, "online": online}))
        spec[f"p{i}"] = steps
    return spec


@st.composite
def funnels(draw):
    steps = tuple(draw(st.lists(st.sampled_from(["a", "b", "c", "a|c"]), min_size=2, max_size=4)))
    exclusions = []
    if draw(st.booleans()):
        i = draw(st.integers(1, len(steps) - 1))
        exclusions.append(("x", i, draw(st.integers(i + 1, len(steps)))))
    return steps, tuple(exclusions)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=people(), f=funnels(), order=st.sampled_from(["ordered", "strict", "any"]), half_hours=st.integers(1, 40))
def test_funnel_equals_the_oracle(engine, spec, f, order, half_hours):
    steps, exclusions = f
    window = timedelta(minutes=30 * half_hours)
    e = journeys_for(engine, spec)
    best = funnel(sequences(e), list(steps), window, order, list(exclusions))
    r = run(e, FunnelQuery(steps=steps, window=window, order=order, exclusions=exclusions))
    entered = [c for c, n in best.items() if n >= 1]
    if not entered:
        assert r.to_frame().empty
        return
    expect = [sum(n >= k for n in best.values()) for k in range(1, len(steps) + 1)]
    frame = r.to_frame()
    assert frame["reached"].tolist() == expect
    assert frame["dropped"].tolist() == [0] + [a - b for a, b in zip(expect, expect[1:])]
    k = len(steps)  # drill-down at the last step (each drill-down is a query of its own)
    assert sorted(r.customers(step=k, dropped=True)["customer_id"]) == sorted(c for c, n in best.items() if n == k - 1)
    assert sorted(r.customers(step=k)["customer_id"]) == sorted(c for c, n in best.items() if n >= k)


def _check_items(got: dict, expect: dict) -> None:
    assert set(got) == set(expect)
    for node, x in got.items():
        ex = expect[node]
        assert (x.journeys, x.customers, x.converted) == (ex["journeys"], ex["journeys"], ex["converted"])
        assert x.rate_with == pytest.approx(ex["rate_with"])
        if ex["rate_without"] is None:
            assert x.rate_without != x.rate_without  # NaN: nothing comparable
        else:
            assert x.rate_without == pytest.approx(ex["rate_without"])
        assert x.conversions_at_stake == pytest.approx(ex["conversions_at_stake"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=people(labels=("a", "b", "call", "purchase", "email_sent", "ad_impression")), loop_min=st.integers(2, 3))
def test_friction_equals_the_oracle(engine, spec, loop_min):
    """The customer's own steps are ranked (outbound actions left out of nodes, transitions,
    loops, chains and journey lengths); outbound actions get their own table, same comparison."""
    spec = {k: [(n, t, f | ({"revenue": 10.0} if n == "purchase" else {})) for n, t, f in v] for k, v in spec.items()}
    e = journeys_for(engine, spec)
    everything = sequences(e)
    seqs = {c: own for c, seq in everything.items() if (own := [s for s in seq if s["node"] not in OUTBOUND_EVENT_TYPES])}
    r = run(e, FrictionQuery(min_journeys=1, top=500, loop_min=loop_min))
    frame = r.to_frame()
    assert not set(frame["item"]) & set(OUTBOUND_EVENT_TYPES)
    assert not any(o in t for t in frame["item"] for o in OUTBOUND_EVENT_TYPES)
    _check_items({x.item: x for x in frame.itertuples() if x.kind == "node"}, friction_nodes(seqs))
    _check_items({x.action: x for x in r.outbound.itertuples()}, friction_outbound(everything, OUTBOUND_EVENT_TYPES))
    assert {x.loop: (x.journeys, x.converted) for x in r.loops.itertuples()} == loops(seqs, loop_min)
    assert {x.chain: x.customers for x in r.chains.itertuples()} == {k: len(v) for k, v in chains(seqs, 30).items()}
    for label, who in sorted(chains(seqs, 30).items())[:1]:
        assert sorted(r.customers(chain=label)["customer_id"]) == sorted(who)
    for x in r.outbound.itertuples():
        assert len(r.customers(outbound=x.action)) == x.customers
        break
    assert run(e, FrictionQuery(min_journeys=1, outbound=False)).outbound is None
