"""Random small journeys: the engine's journey map and omnichannel report equal slow Python."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import jm_oracle as oracle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.journeys.journey_map import JourneyMapQuery
from percorso.journeys.omnichannel import OmnichannelQuery
from percorso.journeys.stages import DEFAULT_STAGE_ORDER
from percorso.testing import journeys_for

T0 = datetime(2025, 3, 1, 9, 0)
ORDER = list(DEFAULT_STAGE_ORDER)
# (event type, channel, online, stage, revenue): web, e-mail, ads, store, returns, a record-keeping event
KINDS = [
    ("page_view", "Organic Search", True, "consideration", None),
    ("email_click", "Email", True, "consideration", None),
    ("ad_impression", "Display", True, "awareness", None),
    ("store_visit", "Store / POS", False, "consideration", None),
    ("call", "Call center", False, "consideration", None),
    ("add_to_cart", "Direct", True, "decision", None),
    ("receipt", "Store / POS", False, "purchase", 30.0),
    ("purchase", "Direct", True, "purchase", 20.0),
    ("purchase", "Email", True, "purchase", 25.0),
    ("return", "Store / POS", False, "post_purchase", -30.0),
    ("review", "Direct", True, "advocacy", None),
    ("identify", "Direct", True, None, None),
]


@st.composite
def shops(draw):
    spec = {}
    for i in range(draw(st.integers(1, 6))):
        steps = []
        for _ in range(draw(st.integers(1, 8))):
            et, ch, online, stage, revenue = draw(st.sampled_from(KINDS))
            extra = {"channel": ch, "online": online, "stage": stage}
            if revenue is not None:
                extra["revenue"] = revenue
            if not online:
                extra["store_id"] = draw(st.sampled_from(["MI01", "RM02"]))
            # 6-hour grid over 30 days: ties in time happen
            steps.append((et, T0 + timedelta(hours=6 * draw(st.integers(0, 120))), extra))
        spec[f"p{i}"] = steps
    return spec


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(a, b, abs_tol=1e-9)


def _read(engine):
    return (engine.execute(engine.table("touchpoints")).to_dict("records"),
            engine.execute(engine.table("orders")).to_dict("records"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=shops())
def test_journey_map_equals_the_oracle(tmp_path_factory, spec):
    engine = journeys_for(tmp_path_factory.mktemp("jmo"), spec)
    rows, _orders = _read(engine)
    r = run(engine, JourneyMapQuery(min_customers=1))
    expect = oracle.map_cells(rows, ORDER)
    got = {(c.stage, c.channel): c for c in r.to_frame().itertuples()}
    assert set(got) == set(expect)
    for key, (n, customers, buyers, days) in expect.items():
        c = got[key]
        assert (c.touchpoints, c.customers) == (n, customers), key
        assert math.isclose(c.purchase_share, buyers / customers), key
        assert _same(days, c.median_days_to_next_stage), key
    stages = oracle.stage_conversion(rows, ORDER)
    s = r.stages.set_index("stage")
    assert set(s.index) == set(stages)
    for stage, (customers, moved, days) in stages.items():
        assert (s.loc[stage, "customers"], s.loc[stage, "moved_on"]) == (customers, moved), stage
        assert _same(days, s.loc[stage, "median_days_in_stage"]), stage
    assert int(r.over_time.drop(columns="period").to_numpy().sum()) == sum(e[0] for e in expect.values())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=shops(), days=st.integers(1, 20))
def test_omnichannel_equals_the_oracle(tmp_path_factory, spec, days):
    engine = journeys_for(tmp_path_factory.mktemp("omo"), spec)
    rows, orders = _read(engine)
    r = run(engine, OmnichannelQuery(research_days=days))
    expect_mix = oracle.mixes(rows, orders)
    f = r.to_frame().set_index("mix")
    for mix in ("online_only", "store_only", "omnichannel", "no_purchase"):
        assert f.loc[mix, "customers"] == sum(v == mix for v in expect_mix.values()), mix
    ids = sorted(r.customers(mix="omnichannel")["customer_id"])
    assert ids == sorted(c for c, v in expect_mix.items() if v == "omnichannel")
    ro = r.ropo.set_index("direction")
    for direction, (n, cross, customers) in oracle.ropo(rows, orders, days).items():
        assert tuple(int(x) for x in ro.loc[direction, ["orders", "with_cross_research", "customers"]]) == (
            n, cross, customers), direction
    got_switch = {(t.switch, t.from_channel, t.to_channel): (t.transitions, t.customers)
                  for t in r.transitions.itertuples()}
    assert got_switch == oracle.switches(rows)
    got_stores = {s.store_id: (s.orders, s.customers, s.omnichannel_customers, s.researched_online,
                               s.customers_researched_online) for s in r.stores.itertuples()}
    assert got_stores == oracle.stores(rows, orders, days)
    got_first = {(m, int(v)): int(c) for m, v, c in r.first_purchase[["measure", "value", "customers"]].itertuples(
        index=False)}
    assert got_first == oracle.before_first_purchase(rows, orders)
