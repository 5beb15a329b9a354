"""Journey map and omnichannel report: hand-computed examples and oracles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journey_oracle import journey_map_cells, mixes, ropo_counts

from percorso.analysis.base import run
from percorso.journeys.journey_map import JourneyMapQuery
from percorso.journeys.omnichannel import OmnichannelQuery
from percorso.journeys.stages import DEFAULT_STAGE_ORDER
from percorso.testing import journeys_for

STORE = {"channel": "Store / POS", "online": False, "store_id": "MI01"}


@pytest.fixture
def shop(tmp_path):
    return journeys_for(tmp_path, {
        # researches online, buys in store, then online: omnichannel
        "anna": [("page_view", "2025-03-01 09:00", {"channel": "Paid Search", "stage": "consideration"}),
                 ("receipt", "2025-03-05 17:00", {**STORE, "revenue": 300.0, "stage": "purchase"}),
                 ("purchase", "2025-04-01 10:00", {"channel": "Email", "revenue": 100.0, "stage": "purchase"})],
        # store visit, then buys online three days later
        "bruno": [("store_visit", "2025-03-02 11:00", {**STORE, "stage": "consideration"}),
                  ("purchase", "2025-03-05 20:00", {"channel": "Direct", "revenue": 50.0, "stage": "purchase"})],
        # only browses
        "carla": [("page_view", "2025-03-03 09:00", {"channel": "Paid Search", "stage": "consideration"}),
                  ("ad_impression", "2025-03-02 09:00", {"channel": "Display", "stage": "awareness"})],
        # buys in store with no research
        "dario": [("receipt", "2025-03-10 12:00", {**STORE, "revenue": 200.0, "stage": "purchase"})],
    })


def test_omnichannel_by_hand(shop):
    r = run(shop, OmnichannelQuery(research_days=30))
    f = r.to_frame().set_index("mix")
    assert f.loc["omnichannel", "customers"] == 1 and f.loc["omnichannel", "revenue"] == pytest.approx(400.0)
    assert f.loc["omnichannel", "purchase_frequency"] == pytest.approx(2.0)
    assert f.loc["online_only", "customers"] == 1 and f.loc["store_only", "customers"] == 1
    assert f.loc["no_purchase", "customers"] == 1
    ro = r.ropo.set_index("direction")
    # store orders: anna's (researched online 4 days before) and dario's (no research)
    assert ro.loc["online_to_store", "orders"] == 2 and ro.loc["online_to_store", "with_cross_research"] == 1
    # online orders: bruno's (store visit 3 days before) and anna's second (store receipt is a purchase: no)
    assert ro.loc["store_to_online", "with_cross_research"] == 1
    assert sorted(r.customers(ropo="store_to_online")["customer_id"]) == ["bruno"]
    assert list(r.stores["store_id"]) == ["MI01"] and r.stores.iloc[0]["orders"] == 2
    assert r.stores.iloc[0]["share_customers_also_online"] == pytest.approx(0.5)
    fp = r.first_purchase.set_index(["measure", "value"])["customers"]
    assert fp[("touchpoints", 0)] == 1 and fp[("touchpoints", 1)] == 2  # dario 0; anna 1, bruno 1
    assert r.figure() is not None


def test_journey_map_by_hand(shop):
    r = run(shop, JourneyMapQuery(min_customers=1))
    f = r.to_frame().set_index(["stage", "channel"])
    assert f.loc[("consideration", "Paid Search"), "customers"] == 2
    assert f.loc[("consideration", "Paid Search"), "purchase_share"] == pytest.approx(0.5)  # anna yes, carla no
    assert f.loc[("consideration", "Paid Search"), "median_days_to_next_stage"] == pytest.approx(4 + 8 / 24)
    assert f.loc[("consideration", "Store / POS"), "purchase_share"] == pytest.approx(1.0)
    st_ = r.stages.set_index("stage")
    assert st_.loc["awareness", "moved_on"] == 1  # carla's impression, then a page view
    assert st_.loc["consideration", "conversion_to_later_stage"] == pytest.approx(2 / 3)
    assert sorted(r.customers(stage="consideration", channel="Paid Search")["customer_id"]) == ["anna", "carla"]
    assert r.figure().data[0].type == "heatmap"


T0 = datetime(2025, 3, 1, 9, 0)
KINDS = [("page_view", "Email", True, "consideration"), ("ad_impression", "Display", True, "awareness"),
         ("store_visit", "Store / POS", False, "consideration"), ("receipt", "Store / POS", False, "purchase"),
         ("purchase", "Direct", True, "purchase"), ("add_to_cart", "Direct", True, "decision")]


@st.composite
def random_shop(draw):
    spec = {}
    for i in range(draw(st.integers(1, 6))):
        steps = []
        for _ in range(draw(st.integers(1, 7))):
            et, ch, online, stage = draw(st.sampled_from(KINDS))
            extra = {"channel": ch, "online": online, "stage": stage}
            if et in ("receipt", "purchase"):
                extra["revenue"] = 10.0
            if not online:
                extra["store_id"] = "S1"
            steps.append((et, T0 + timedelta(hours=draw(st.integers(0, 24 * 40)) * 2), extra))
        spec[f"p{i}"] = steps
    return spec


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=random_shop(), days=st.integers(1, 40))
def test_map_and_omnichannel_equal_the_oracle(tmp_path_factory, spec, days):
    e = journeys_for(tmp_path_factory.mktemp("m"), spec)
    rows = e.execute(e.table("touchpoints")).to_dict("records")
    orders = e.execute(e.table("orders")).to_dict("records")
    f = run(e, JourneyMapQuery(min_customers=1)).to_frame()
    got = {(r.stage, r.channel): (int(r.touchpoints), int(r.customers), round(r.purchase_share * r.customers))
           for r in f.itertuples()}
    assert got == journey_map_cells(rows, list(DEFAULT_STAGE_ORDER))
    r = run(e, OmnichannelQuery(research_days=days))
    expect_mix = mixes(orders, {x["customer_id"] for x in rows})
    got_mix = dict(zip(r.to_frame()["mix"], r.to_frame()["customers"]))
    for mix in ("online_only", "store_only", "omnichannel", "no_purchase"):
        assert got_mix[mix] == sum(1 for v in expect_mix.values() if v == mix)
    got_ropo = dict(zip(r.ropo["direction"], r.ropo["with_cross_research"]))
    assert {k: int(v) for k, v in got_ropo.items()} == ropo_counts(rows, orders, days)
