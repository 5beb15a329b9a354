"""Omnichannel report on seven hand-made customers (jm_people.py): every number worked out by hand."""

from __future__ import annotations

import math

import pytest
from jm_people import PEOPLE

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.journeys.omnichannel import OmnichannelQuery
from percorso.testing import journeys_for


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return journeys_for(tmp_path_factory.mktemp("omni"), PEOPLE)


@pytest.fixture(scope="module")
def result(engine):
    return run(engine, OmnichannelQuery(research_days=30))


@pytest.mark.parametrize(("mix", "customers", "orders", "revenue"), [
    ("online_only", 2, 2, 210.0),    # anna 120, gina 90
    ("store_only", 1, 1, 80.0),      # bruno's receipt; his return is not an order
    ("omnichannel", 1, 2, 260.0),    # dario: 200 in store + 60 online
    ("no_purchase", 3, 0, 0.0),      # carla, elena, fabio
])
def test_mix(result, mix, customers, orders, revenue):
    row = result.to_frame().set_index("mix").loc[mix]
    assert (row["customers"], row["orders"]) == (customers, orders)
    assert row["revenue"] == pytest.approx(revenue)
    assert row["revenue_per_customer"] == pytest.approx(revenue / customers)
    assert row["purchase_frequency"] == pytest.approx(orders / customers)
    assert row["share_of_customers"] == pytest.approx(customers / 7)
    if orders:
        assert row["average_receipt"] == pytest.approx(revenue / orders)
    else:
        assert math.isnan(row["average_receipt"])


def test_mix_rows_in_fixed_order(result):
    assert list(result.to_frame()["mix"]) == ["online_only", "store_only", "omnichannel", "no_purchase"]


def test_ropo_both_ways(result):
    r = result.ropo.set_index("direction")
    # store orders: bruno's receipt (e-mail opened 3 days before) and dario's (nothing online before)
    assert tuple(r.loc["online_to_store", ["orders", "with_cross_research", "customers"]]) == (2, 1, 1)
    assert r.loc["online_to_store", "share_of_orders"] == pytest.approx(0.5)
    # online orders: anna (all online), dario (his store receipt is a purchase, not research),
    # gina (store visit two days before)
    assert tuple(r.loc["store_to_online", ["orders", "with_cross_research", "customers"]]) == (3, 1, 1)
    assert r.loc["store_to_online", "share_of_orders"] == pytest.approx(1 / 3)


def test_research_window_is_inclusive(engine):
    r = run(engine, OmnichannelQuery(research_days=2)).ropo.set_index("direction")
    # bruno's e-mail is 3 days before his receipt: out; gina's visit exactly 48 h before: in
    assert r.loc["online_to_store", "with_cross_research"] == 0
    assert r.loc["store_to_online", "with_cross_research"] == 1


def test_before_first_purchase(result):
    fp = result.first_purchase.set_index(["measure", "value"])["customers"]
    # touchpoints before the first order: dario 0, gina 1, bruno 2, anna 3 (ad, e-mail, cart);
    # distinct channels the same numbers (anna: Display, Email, Direct)
    for measure in ("touchpoints", "channels"):
        assert {v: int(fp[(measure, v)]) for v in (0, 1, 2, 3)} == {0: 1, 1: 1, 2: 1, 3: 1}
    assert int(result.first_purchase["customers"].sum()) == 8  # 4 buyers, two measures
    side = result.first_purchase_table(cap=2).set_index("count")
    # 3 touchpoints fold into "2+" with the 2: bruno and anna
    assert side.to_dict("index") == {"0": {"touchpoints": 1, "channels": 1}, "1": {"touchpoints": 1, "channels": 1},
                                     "2+": {"touchpoints": 2, "channels": 2}}


def test_switches_between_online_and_offline(result):
    t = {(r.switch, r.from_channel, r.to_channel): (r.transitions, r.customers)
         for r in result.transitions.itertuples()}
    assert t == {
        ("online → offline", "Email", "Store / POS"): (1, 1),            # bruno
        ("offline → online", "Store / POS", "Organic Search"): (1, 1),   # dario
        ("offline → online", "Store / POS", "Direct"): (1, 1),           # gina
    }


def test_stores(result):
    s = result.stores.set_index("store_id")
    # MI02 saw only gina's visit: no receipts, so it is not a selling store here
    assert list(s.index) == ["MI01"]
    mi01 = s.loc["MI01"]
    assert (mi01["orders"], mi01["customers"], mi01["revenue"]) == (2, 2, 280.0)
    assert mi01["share_customers_also_online"] == pytest.approx(0.5)      # dario
    assert mi01["share_orders_researched_online"] == pytest.approx(0.5)   # bruno's receipt
    assert mi01["share_customers_researched_online"] == pytest.approx(0.5)


def test_date_range_applies_to_orders(engine):
    # from 8 March: dario's two orders (10 and 25 March) only; bruno's return is no order
    r = run(engine, OmnichannelQuery(date_from="2025-03-08"))
    f = r.to_frame().set_index("mix")
    assert (f.loc["omnichannel", "customers"], f.loc["omnichannel", "revenue"]) == (1, 260.0)
    # anna (review), bruno (return) are in scope but bought before the range
    assert f.loc["no_purchase", "customers"] == 2 and f["orders"].sum() == 2


def test_drill_down(result):
    ids = lambda **kw: list(result.customers(**kw)["customer_id"])  # noqa: E731
    assert ids(mix="omnichannel") == ["dario"]
    assert ids(mix="no_purchase") == ["carla", "elena", "fabio"]
    assert ids(ropo="online_to_store") == ["bruno"]
    assert ids(ropo="store_to_online") == ["gina"]
    assert ids(store="MI01") == ["bruno", "dario"]
    with pytest.raises(InputError):
        result.customers(channel="Email")


def test_figure_has_mix_and_ropo(result):
    fig = result.figure()
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert list(fig.data[0].x) == ["online_only", "store_only", "omnichannel"]
    assert list(fig.data[1].x) == ["online_to_store", "store_to_online"]


def test_ropo_without_store_orders_counts_whole_and_has_no_share(tmp_path):
    """Online orders only (a clickstream): the ROPO table printed 0,00 and 30.199,00 orders and a 0,0 % share
    for the direction that has no order at all."""
    e = journeys_for(tmp_path, {"anna": [("page_view", "2024-03-01 10:00"),
                                         ("purchase", "2024-03-01 10:05", {"revenue": 10.0})],
                                "bruno": [("purchase", "2024-03-02 10:00", {"revenue": 20.0})]})
    try:
        r = run(e, OmnichannelQuery(research_days=30)).ropo.set_index("direction")
        assert str(r["orders"].dtype) == "int64" and str(r["customers"].dtype) == "int64"
        assert tuple(r.loc["store_to_online", ["orders", "with_cross_research", "customers"]]) == (2, 0, 0)
        assert r.loc["store_to_online", "share_of_orders"] == 0.0
        assert tuple(r.loc["online_to_store", ["orders", "with_cross_research", "customers"]]) == (0, 0, 0)
        assert math.isnan(r.loc["online_to_store", "share_of_orders"])
    finally:
        e.close()
