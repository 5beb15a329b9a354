"""Cost to serve: a hand-computed example and a pure-Python oracle on random customers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vm_oracles import cost_to_serve as oracle

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.testing import journeys_for
from percorso.value.cost_to_serve import CostToServeQuery, cost_to_serve_expr

JOURNEYS = {
    "anna": [
        ("page_view", "2024-01-01 10:00", {"channel": "Paid Search"}),
        ("purchase", "2024-01-01 10:10", {"channel": "Paid Search", "revenue": 180.0,
                                          "items": [{"sku": "a", "category": "Shoes", "qty": 2, "price": 100.0}]}),
        ("email_open", "2024-01-10 09:00", {"channel": "Email"}),
        ("call", "2024-01-12 15:00", {"channel": "Call center", "properties": {"reason": "reclamo"}}),
        ("return", "2024-01-15 11:00", {"channel": "Store / POS", "revenue": -50.0}),
    ],
    "bruno": [
        ("page_view", "2024-01-03 09:00", {"channel": "Paid Search"}),
        ("page_view", "2024-01-03 09:05", {"channel": "Paid Search"}),
        ("receipt", "2024-01-05 17:00", {"channel": "Store / POS", "revenue": 40.0}),
        ("page_view", "2024-01-20 09:00", {"channel": "Paid Search"}),
    ],
    "carla": [
        ("flyer_received", "2024-01-04 08:00", {"channel": "Direct mail / flyer"}),
        ("call", "2024-01-06 12:00", {"channel": "Call center", "properties": {"reason": "informazioni_prodotto"}}),
    ],
}


def _costs(rows):
    return pa.table({
        "cost_id": [str(i) for i in range(len(rows))], "date": pa.array([r[0] for r in rows], pa.date32()),
        "channel": [r[1] for r in rows], "campaign": ["c"] * len(rows), "cost": [float(r[2]) for r in rows],
    })


@pytest.fixture
def engine(tmp_path):
    e = journeys_for(tmp_path, JOURNEYS)
    e.append_arrow("campaign_costs", _costs([(date(2024, 1, 2), "Paid Search", 24.0),
                                             (date(2024, 1, 25), "Paid Search", 6.0)]))
    return e


def _per_customer(result):
    df = result.customers(limit=100)
    return {r["customer_id"]: r for r in df.to_dict("records")}


def test_hand_computed(engine):
    r = run(engine, CostToServeQuery())
    c = _per_customer(r)
    # Paid Search: 30 € over 3 sessions (anna 1, bruno 2) = 10 € per contact; Email flat 0.01
    a = c["anna"]
    assert a["marketing_contacts"] == 2 and a["marketing_cost"] == pytest.approx(10.01)
    assert a["call_cost"] == pytest.approx(4.50)
    assert a["returns_cost"] == pytest.approx(8.0 + 50 * 0.45)        # handling + lost margin
    assert a["delivery_cost"] == pytest.approx(6.90)                  # one online order
    assert a["discounts"] == pytest.approx(20.0)                      # 2 × 100 list − 180 paid
    assert a["gross_margin"] == pytest.approx(0.45 * 200)
    assert a["cost_to_serve"] == pytest.approx(10.01 + 4.5 + 30.5 + 6.9 + 20.0)
    assert a["margin_after"] == pytest.approx(90 - 71.91)
    b = c["bruno"]
    assert b["marketing_cost"] == pytest.approx(20.0) and b["delivery_cost"] == 0.0
    assert b["margin_after"] == pytest.approx(0.45 * 40 - 20.0)
    k = c["carla"]
    assert k["marketing_cost"] == pytest.approx(0.60) and k["segment"] == "No purchase"
    assert k["margin_after"] == pytest.approx(-5.10)
    tot = r.meta["totals"]
    assert tot["losing"] == 2 and tot["loss"] == pytest.approx(2.0 + 5.10)
    assert r.frame["customers"].sum() == 3
    assert r.frame.loc[r.frame["segment"] == "No purchase", "loss"].iloc[0] == pytest.approx(5.10)
    losers = r.customers(losing=True)
    assert sorted(losers["customer_id"]) == ["bruno", "carla"]
    assert r.figure().data[0].type == "waterfall"


def test_period_and_configured_rates(engine):
    r = run(engine, CostToServeQuery(date_to=date(2024, 1, 10)),
            {"cost_to_serve": {"call_center_contact": 5.0, "delivery": 3.0}})
    c = _per_customer(r)
    # up to 10 Jan: Paid Search 24 € over 2 sessions (anna, bruno's first) = 12 €
    assert c["bruno"]["marketing_cost"] == pytest.approx(12.0)
    a = c["anna"]
    assert a["marketing_cost"] == pytest.approx(12.01) and a["returns"] == 0 and a["calls"] == 0
    assert a["delivery_cost"] == pytest.approx(3.0)
    assert c["carla"]["call_cost"] == pytest.approx(5.0)


def test_bad_selector_and_bad_rate(engine):
    r = run(engine, CostToServeQuery())
    with pytest.raises(InputError, match="valid: segment, losing"):
        r.customers(channel="Email")
    from percorso.errors import ConfigError

    with pytest.raises(ConfigError, match="value.cost_to_serve.delivery"):
        run(engine, CostToServeQuery(), {"cost_to_serve": {"delivery": -1}})


T0 = datetime(2024, 3, 1, 8, 0)
CHANNELS = ["Email", "Paid Search", "Display", "Organic Search", "Direct mail / flyer", "Call center", "Store / POS"]
item = st.fixed_dictionaries({"qty": st.integers(1, 3), "price": st.sampled_from([5.0, 12.5, 40.0])})
step = st.one_of(
    st.tuples(st.just("page_view"), st.integers(0, 400), st.sampled_from(CHANNELS), st.none(), st.none()),
    st.tuples(st.sampled_from(["purchase", "receipt"]), st.integers(0, 400), st.sampled_from(CHANNELS),
              st.sampled_from([10.0, 33.3, 75.0]), st.one_of(st.none(), st.lists(item, min_size=1, max_size=3))),
    st.tuples(st.just("return"), st.integers(0, 400), st.just("Store / POS"), st.sampled_from([-5.0, -20.0]), st.none()),
)
journeys_st = st.dictionaries(st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
                              st.lists(step, min_size=1, max_size=6), min_size=1, max_size=5)
costs_st = st.lists(st.tuples(st.integers(0, 10), st.sampled_from(["Email", "Paid Search", "Display"]),
                              st.sampled_from([3.0, 7.5, 100.0])), max_size=4)


def _as_journeys(raw):
    out = {}
    for cid, steps in raw.items():
        rows = []
        for typ, minutes, ch, rev, items in steps:
            f = {"channel": ch}
            if rev is not None:
                f["revenue"] = rev
            if items:
                f["items"] = items
            rows.append((typ, (T0 + timedelta(minutes=20 * minutes)).isoformat(sep=" "), f))
        out[cid] = rows
    return out


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory):
    """One real DuckDB file for all examples (each example replaces the tables)."""
    from percorso.engine import Engine

    e = Engine(tmp_path_factory.mktemp("oracle") / "o.duckdb")
    yield e
    e.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=journeys_st, costs=costs_st)
def test_oracle(shared_engine, raw, costs):
    journeys = _as_journeys(raw)
    cost_rows = [(date(2024, 3, 1) + timedelta(days=d), ch, c) for d, ch, c in costs]
    e = journeys_for(shared_engine, journeys)
    e.run("DELETE FROM campaign_costs")
    if cost_rows:
        e.append_arrow("campaign_costs", _costs(cost_rows))
    got = {r["customer_id"]: r for r in e.execute(cost_to_serve_expr(e)).to_dict("records")}
    want = oracle(journeys, cost_rows)
    assert set(got) == set(want)
    for cid, w in want.items():
        for key, v in w.items():
            # amounts are summed exactly with each term rounded to the millionth (build.schema.exact_sum)
            assert got[cid][key] == pytest.approx(v, abs=1e-5, rel=1e-12), (cid, key)
