"""Health index: hand-computed components and a pure-Python oracle on random customers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vm_oracles import health as oracle

from percorso.analysis.base import run
from percorso.errors import ConfigError, InputError
from percorso.testing import journeys_for
from percorso.value.health import HealthQuery

AS_OF = date(2024, 7, 1)
JOURNEYS = {
    "dora": [
        ("purchase", "2023-12-01 10:00", {"channel": "Email", "revenue": 100.0}),
        ("purchase", "2024-04-01 10:00", {"channel": "Email", "revenue": 150.0}),
        ("call", "2024-05-05 10:00", {"channel": "Call center", "properties": {"reason": "Reclamo"}}),
        ("purchase", "2024-06-01 10:00", {"channel": "Email", "revenue": 250.0}),
        ("return", "2024-06-15 10:00", {"channel": "Store / POS", "revenue": -50.0}),
    ],
    "enzo": [("receipt", "2024-03-03 11:00", {"channel": "Store / POS", "revenue": 60.0})],
    "fabio": [("page_view", "2024-06-20 09:00", {"channel": "Direct"}),
              ("page_view", "2024-07-01 09:00", {"channel": "Email"})],   # on as_of: not counted
}


@pytest.fixture
def engine(tmp_path):
    e = journeys_for(tmp_path, JOURNEYS)
    e.run("UPDATE customers SET consent_marketing = false WHERE customer_id = ?", ["enzo"])
    return e


def _rows(result, **sel):
    return {r["customer_id"]: r for r in result.customers(limit=100, **sel).to_dict("records")}


def test_hand_computed(engine):
    r = run(engine, HealthQuery(as_of=AS_OF))
    c = _rows(r)
    d = c["dora"]
    # 3 purchases over 183 days → gap 91.5; 30 days since the last → within rhythm
    assert d["recency"] == 1.0
    assert d["frequency"] == pytest.approx(2 / 3)          # Apr + Jun vs Dec
    assert d["value"] == pytest.approx(400 / 500)
    assert d["engagement"] == pytest.approx(3 / 4)         # Email, Call center, Store / POS since 2 Apr
    assert d["service"] == pytest.approx(1 - 2 / 3)        # one complaint + one return
    assert d["consent"] == 1.0
    assert d["score"] == pytest.approx(100 * (0.25 + 0.2 * 2 / 3 + 0.2 * 0.8 + 0.15 * 0.75 + 0.1 / 3 + 0.1))
    assert d["band"] == "60-80"
    e = c["enzo"]
    assert e["recency"] == pytest.approx(1 - 120 / 365)    # one purchase 120 days ago
    assert (e["frequency"], e["value"], e["engagement"], e["service"], e["consent"]) == (1, 1, 0, 1, 0)
    assert e["score"] == pytest.approx(100 * (0.25 * (1 - 120 / 365) + 0.5))
    f = c["fabio"]
    assert (f["recency"], f["frequency"], f["value"], f["engagement"]) == (0, 0, 0, 0.25)
    assert f["score"] == pytest.approx(23.75) and f["band"] == "20-40"
    frame = r.to_frame().set_index("band")
    assert list(frame.index) == ["0-20", "20-40", "40-60", "60-80", "80-100"]
    assert frame.loc["60-80", "customers"] == 2 and frame.loc["60-80", "revenue"] == pytest.approx(560.0)
    assert frame.loc["0-20", "customers"] == 0
    assert list(_rows(r, band="20-40")) == ["fabio"]
    assert r.figure().data


def test_weights_are_normalised_and_validated(engine):
    r = run(engine, HealthQuery(as_of=AS_OF), {"health": {"recency": 2, "frequency": 0, "value": 0,
                                                          "engagement": 0, "service": 0, "consent": 0}})
    assert _rows(r)["dora"]["score"] == pytest.approx(100.0)
    with pytest.raises(ConfigError, match="all 0"):
        run(engine, HealthQuery(as_of=AS_OF), {"health": {k: 0 for k in
                                                          ("recency", "frequency", "value", "engagement", "service", "consent")}})
    with pytest.raises(InputError, match="unknown health band '0-10'"):
        run(engine, HealthQuery(as_of=AS_OF)).customers(band="0-10")


def test_no_consent_source_is_not_measured_not_zero(engine):
    """No customer has a consent on record (no crm/loyalty consent column): consent is unknown."""
    engine.run("UPDATE customers SET consent_marketing = NULL")
    r = run(engine, HealthQuery(as_of=AS_OF))
    f = _rows(r)["fabio"]
    assert f["consent"] is None or f["consent"] != f["consent"]   # NULL, not 0
    # by hand: engagement 0.25 and service 1 over the other weights (0.25+0.2+0.2+0.15+0.1 = 0.9)
    assert f["score"] == pytest.approx(100 * (0.15 * 0.25 + 0.1 * 1.0) / 0.9)    # 15.28, was 13.75
    assert r.meta["unmeasured"] == ["consent"] and r.meta["weights"]["consent"] == 0
    assert "consent: not measured" in r.meta["notes"][0] and "consent_marketing" in r.meta["notes"][0]
    assert r.to_frame()["avg_consent"].isna().all()
    # one customer with a "no" on record: consent is measured, the unknown ones count as no
    engine.run("UPDATE customers SET consent_marketing = false WHERE customer_id = 'enzo'")
    r = run(engine, HealthQuery(as_of=AS_OF))
    assert _rows(r)["fabio"]["consent"] == 0 and r.meta["notes"] == []
    assert _rows(r)["fabio"]["score"] == pytest.approx(13.75)


T0 = datetime(2023, 6, 1, 8, 0)
CH = ["Email", "Paid Search", "Store / POS", "Call center", "Direct"]
step = st.one_of(
    st.tuples(st.just("page_view"), st.integers(0, 420), st.sampled_from(CH), st.none(), st.none()),
    st.tuples(st.sampled_from(["purchase", "receipt"]), st.integers(0, 420), st.sampled_from(CH),
              st.sampled_from([10.0, 55.5, 90.0]), st.none()),
    st.tuples(st.just("return"), st.integers(0, 420), st.just("Store / POS"), st.just(-10.0), st.none()),
    st.tuples(st.just("call"), st.integers(0, 420), st.just("Call center"), st.none(),
              st.sampled_from(["reso", "informazioni_prodotto", "ASSISTENZA"])),
)
journeys_st = st.dictionaries(st.sampled_from(["h1", "h2", "h3", "h4"]), st.lists(step, min_size=1, max_size=7),
                              min_size=1, max_size=4)


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory):
    """One real DuckDB file for all examples (each example replaces the tables)."""
    from percorso.engine import Engine

    e = Engine(tmp_path_factory.mktemp("oracle") / "o.duckdb")
    yield e
    e.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=journeys_st, no_consent=st.sets(st.sampled_from(["h1", "h2"])))
def test_oracle(shared_engine, raw, no_consent):
    journeys = {}
    for cid, steps in raw.items():
        rows = []
        for typ, day, ch, rev, reason in steps:
            f = {"channel": ch}
            if rev is not None:
                f["revenue"] = rev
            if reason is not None:
                f["properties"] = {"reason": reason}
            rows.append((typ, (T0 + timedelta(days=day, hours=day % 5)).isoformat(sep=" "), f))
        journeys[cid] = rows
    e = journeys_for(shared_engine, journeys)
    for cid in no_consent:
        e.run("UPDATE customers SET consent_marketing = false WHERE customer_id = ?", [cid])
    as_of = date(2024, 6, 1)
    got = _rows(run(e, HealthQuery(as_of=as_of)))
    want = oracle(journeys, as_of, {c: c not in no_consent for c in journeys})
    assert set(got) == set(want)
    for cid, (score, comp) in want.items():
        for k, v in comp.items():
            assert got[cid][k] == pytest.approx(v, abs=1e-9), (cid, k)
        assert got[cid]["score"] == pytest.approx(score, abs=1e-9)
