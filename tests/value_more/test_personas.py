"""Personas: recovery of well-separated synthetic clusters, determinism, one persona each."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import adjusted_rand_score

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.testing import journeys_for
from percorso.value.personas import TABLE, PersonasQuery


def clustered_journeys(seed: int = 1, per: int = 20):
    """Three groups: store shoppers, email-driven online big spenders, paid-social prospects."""
    rng = random.Random(seed)
    j, truth = {}, {}
    for i in range(per):
        j[f"s{i:02d}"] = [("store_visit", f"2024-01-0{1 + k} 10:00", {"channel": "Store / POS"}) for k in range(3)] + [
            ("receipt", "2024-01-05 12:00", {"channel": "Store / POS", "revenue": 50.0 + rng.random() * 5,
                                             "items": [{"category": "Scarpe", "qty": 1, "price": 60.0}]})]
        j[f"e{i:02d}"] = [("email_click", f"2024-01-0{1 + k} 10:00", {"channel": "Email", "device_type": "desktop"})
                          for k in range(3)] + [
            ("page_view", "2024-01-06 11:00", {"channel": "Organic Search", "device_type": "desktop"}),
            ("purchase", "2024-01-07 12:00", {"channel": "Email", "device_type": "desktop", "revenue": 480.0 + rng.random() * 40,
                                              "items": [{"category": "Borse", "qty": 1, "price": 520.0}]}),
            ("purchase", "2024-02-07 12:00", {"channel": "Email", "device_type": "desktop", "revenue": 300.0})]
        j[f"p{i:02d}"] = [("page_view", f"2024-01-0{1 + k} 2{k}:00", {"channel": "Paid Social", "device_type": "mobile"})
                          for k in range(2 + rng.randrange(3))]
        truth.update({f"s{i:02d}": 0, f"e{i:02d}": 1, f"p{i:02d}": 2})
    return j, truth


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    j, truth = clustered_journeys()
    return journeys_for(tmp_path_factory.mktemp("personas"), j), truth


def test_recovers_clusters_and_assigns_everyone_once(engine):
    e, truth = engine
    r = run(e, PersonasQuery(seed=3))
    assert 2 <= r.meta["k"] <= 8 and r.meta["k"] == 3
    a = e.execute(e.table(TABLE))
    assert len(a) == len(truth) and a["customer_id"].is_unique
    got = dict(zip(a["customer_id"], a["persona"], strict=True))
    ids = sorted(truth)
    assert adjusted_rand_score([truth[c] for c in ids], [got[c] for c in ids]) >= 0.9
    assert r.frame["customers"].sum() == len(truth)
    assert set(r.frame["persona"]) == set(range(1, r.meta["k"] + 1))
    assert r.frame["share"].sum() == pytest.approx(1.0)
    assert len(r.customers(persona=1, limit=1000)) == int(r.frame.loc[r.frame["persona"] == 1, "customers"].iloc[0])


def test_cards_describe_the_facts(engine):
    e, _ = engine
    r = run(e, PersonasQuery(seed=3))
    for card in r.cards:
        top = card["channels"][0][0]
        assert top in card["description_it"] and top in card["description_en"]
    by_channel = {c["channels"][0][0]: c for c in r.cards}
    store = by_channel["Store / POS"]
    assert store["online_order_share"] == 0.0 and store["top_categories"] == "Scarpe"
    assert "in negozio nel 100%" in store["description_it"]
    email = by_channel["Email"]
    assert email["typical_journey"] == "Email > Organic Search" and email["avg_orders"] == 2.0
    assert email["name_en"].startswith("High-value online")
    prospects = by_channel["Paid Social"]
    assert prospects["buyers_share"] == 0.0 and "non hanno ancora acquistato" in prospects["description_it"].lower()
    assert r.figure().data


def test_deterministic_for_a_seed_and_fixed_k(engine):
    e, _ = engine
    run(e, PersonasQuery(k=4, seed=7))
    a1 = e.execute(e.table(TABLE).select("customer_id", "persona"))
    run(e, PersonasQuery(k=4, seed=7))
    a2 = e.execute(e.table(TABLE).select("customer_id", "persona"))
    assert a1.sort_values("customer_id").reset_index(drop=True).equals(a2.sort_values("customer_id").reset_index(drop=True))
    assert a1["persona"].nunique() == 4


def test_sample_smaller_than_customers_still_assigns_all(engine):
    e, truth = engine
    r = run(e, PersonasQuery(seed=3, sample=30))
    assert r.meta["sample"] == 30
    assert e.count(TABLE) == len(truth)


def test_errors(tmp_path):
    with pytest.raises(ValueError):
        PersonasQuery(k=9)
    e = journeys_for(tmp_path, {"a": [("page_view", "2024-01-01 10:00")], "b": [("page_view", "2024-01-01 10:00")],
                                "c": [("page_view", "2024-01-01 10:00")]})
    with pytest.raises(InputError, match="2 different journeys"):
        run(e, PersonasQuery())


def test_clv_and_churn_when_a_fit_is_stored(tmp_path):
    import pyarrow as pa

    j, truth = clustered_journeys(per=10)
    e = journeys_for(tmp_path, j)
    ids = sorted(truth)
    # a stored customer_value (the columns personas read): store shoppers CLV 10, others 100
    e.create_table("customer_value", pa.table({
        "customer_id": ids, "clv": [10.0 if c.startswith("s") else 100.0 for c in ids],
        "p_alive": [0.25 if c.startswith("s") else 0.75 for c in ids]}))
    r = run(e, PersonasQuery(k=3, seed=1))
    store = next(c for c in r.cards if c["channels"][0][0] == "Store / POS")
    assert store["avg_clv"] == pytest.approx(10.0) and store["churn_risk"] == pytest.approx(0.75)
    assert "rischio di abbandono 75%" in store["description_it"]
