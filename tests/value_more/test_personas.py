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
    assert "Comprano solo in negozio;" in store["description_it"]      # not "online nello 0% dei casi"
    assert "They buy in store only;" in store["description_en"]
    assert store["store_only_share"] == 1.0 and "100% in store only" in store["description_en"]
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
    # a stored customer_value (the columns churn and personas read): store shoppers CLV 10 and
    # P(alive) 0.25 (high risk), others CLV 100, P(alive) 0.75, 2 days of silence on a gap of 5 (low)
    store_c = [c.startswith("s") for c in ids]
    e.create_table("customer_value", pa.table({
        "customer_id": ids, "clv": [10.0 if s else 100.0 for s in store_c],
        "p_alive": [0.25 if s else 0.75 for s in store_c], "frequency": [2] * len(ids),
        "recency": [10.0] * len(ids), "T": [12.0] * len(ids)}))
    r = run(e, PersonasQuery(k=3, seed=1))
    store = next(c for c in r.cards if c["channels"][0][0] == "Store / POS")
    assert store["avg_clv"] == pytest.approx(10.0) and store["churn_risk"] == pytest.approx(1.0)
    assert "ad alto rischio di abbandono il 100%" in store["description_it"]
    others = [c for c in r.cards if c is not store]
    assert all(c["churn_risk"] == 0.0 and "0% at high churn risk" in c["description_en"] for c in others)


def _card(persona, channel, buyers, store=None, **kw):
    base = {"persona": persona, "customers": 10, "share": 0.25, "avg_revenue": 40.0 * buyers, "avg_orders": buyers,
            "buyers_share": buyers, "online_order_share": 0.0 if buyers else None, "channels": [(channel, 0.5)],
            "store_only_share": 1.0 if buyers else None, "online_only_share": 0.0 if buyers else None,
            "omnichannel_share": 0.0 if buyers else None,
            "typical_journey": f"{channel} > Email", "top_categories": None, "current_stage": "consideration",
            "home_store": store, "avg_clv": None, "churn_risk": None}
    return {**base, **kw}


def test_where_they_buy_is_the_omnichannel_definition():
    """A persona is "omnichannel" only when buyers in both places are its largest group: half its
    orders online but every buyer in one place only is not omnichannel (the old rule on order
    shares called it so); ties go to online, then store."""
    from percorso.value import personas_text as pt

    def name(**shares):
        return pt.names(_card(1, "Direct", 0.9, online_order_share=0.5, **shares), overall_revenue=36.0)[1]

    assert name(online_only_share=0.55, store_only_share=0.45, omnichannel_share=0.0) == "Online customers"
    assert name(online_only_share=0.2, store_only_share=0.7, omnichannel_share=0.1) == "In-store customers"
    assert name(online_only_share=0.3, store_only_share=0.3, omnichannel_share=0.4) == "Omnichannel customers"
    assert name(online_only_share=0.4, store_only_share=0.2, omnichannel_share=0.4) == "Online customers"
    assert name(online_only_share=0.25, store_only_share=0.375, omnichannel_share=0.375) == "In-store customers"


def test_omnichannel_personas_are_omnichannel_customers(tmp_path):
    """End to end: the buyers of a persona named omnichannel are mostly omnichannel in
    ``percorso omnichannel``'s own per-customer mix, and a persona of online-only and
    store-only buyers is never named so."""
    from percorso.journeys.omnichannel import OmnichannelQuery, customer_mix

    j = {}
    for i in range(12):   # both: a web order and a receipt each
        j[f"b{i:02d}"] = [("page_view", "2024-01-01 10:00"),
                          ("purchase", "2024-01-02 10:00", {"revenue": 90.0 + i}),
                          ("receipt", "2024-01-09 10:00", {"channel": "Store / POS", "revenue": 80.0})]
    for i in range(12):   # one place only each, half online, half in store: 50 % of orders online
        j[f"m{i:02d}"] = ([("email_click", "2024-01-01 10:00", {"channel": "Email"}),
                           ("purchase", "2024-01-03 10:00", {"channel": "Email", "revenue": 200.0})] if i % 2 else
                          [("email_click", "2024-01-01 10:00", {"channel": "Email"}),
                           ("receipt", "2024-01-03 10:00", {"channel": "Store / POS", "revenue": 200.0})])
    e = journeys_for(tmp_path, j)
    r = run(e, PersonasQuery(k=2, seed=1))
    mix = e.execute(customer_mix(e, OmnichannelQuery()).join(e.table(TABLE), "customer_id"))
    for card in r.cards:
        members = mix[mix["persona"] == card["persona"]]
        omni = (members["mix"] == "omnichannel").mean()
        assert card["omnichannel_share"] == pytest.approx(omni)
        assert ("mnichannel" in card["name_en"]) == (omni > max((members["mix"] == m).mean()
                                                                for m in ("online_only", "store_only")))
    assert any("mnichannel" in c["name_en"] for c in r.cards)


def test_same_names_are_told_apart_and_prospects_described_as_such():
    from percorso.value import personas_text as pt

    cards = [_card(1, "Direct", 0.1, "MI01"), _card(2, "Organic Search", 0.0, "MI01"),
             _card(3, "Direct", 0.2, "RM01"), _card(4, "Store / POS", 0.9)]
    for c in cards:
        c["name_it"], c["name_en"] = pt.names(c, overall_revenue=20.0)
    pt.disambiguate(cards)
    # 1-3 are all "Prospects": 2 alone has Organic Search as main channel, 3 alone has RM01 as
    # home store, 1 shares each single fact with one of them but not the pair (Direct, MI01);
    # a persona with a unique name keeps it
    assert [c["name_en"] for c in cards[:3]] == ["Prospects · Direct, MI01", "Prospects · Organic Search",
                                                 "Prospects · RM01"]
    twins = [_card(1, "Direct", 0.1, "MI01"), _card(2, "Direct", 0.1, "MI01")]
    for c in twins:
        c["name_it"], c["name_en"] = pt.names(c, overall_revenue=20.0)
    pt.disambiguate(twins)
    assert [c["name_en"] for c in twins] == ["Prospects · #1", "Prospects · #2"]   # nothing tells them apart
    assert cards[3]["name_en"] == "High-value in-store customers"
    two = [_card(1, "Direct", 0.1), _card(2, "Organic Search", 0.1)]
    for c in two:
        c["name_it"], c["name_en"] = pt.names(c, overall_revenue=20.0)
    pt.disambiguate(two)
    assert [c["name_it"] for c in two] == ["Prospect · Direct", "Prospect · Organic Search"]
    it, en = pt.describe(two[0])
    assert "Only 10% have bought so far." in en and "Solo il 10% ha già acquistato." in it
    assert "Typical journey: Direct > Email." in en and "before the first purchase" not in en
    assert "in store 100%" not in en
    it, en = pt.describe({**cards[1], "name_it": "x", "name_en": "x"})
    assert "They have not bought yet." in en and "Non hanno ancora acquistato." in it


def test_tiny_shares_do_not_read_as_zero():
    from percorso.value import personas_text as pt

    card = {**_card(1, "Direct", 0.003), "name_it": "P", "name_en": "P"}
    it, en = pt.describe(card)
    assert "Under 1% have bought so far." in en and "Meno dell'1% ha già acquistato." in it


def test_shares_read_as_words_in_both_languages():
    """By hand: 0.3 % of orders in store rounds to 0 (and 99.7 % online to 100); 0 % takes the
    Italian article lo, 80 % of orders online nell'."""
    from percorso.value import personas_text as pt

    base = {**_card(1, "Direct", 0.6), "name_it": "P", "name_en": "P", "share": 0.08, "avg_orders": 1.0,
            "avg_revenue": 90.0, "omnichannel_share": 0.0, "online_only_share": 0.997, "store_only_share": 0.003}
    it, en = pt.describe({**base, "online_order_share": 0.997})
    assert "P: 8% dei clienti" in it and "P: 8% of customers" in en
    assert "Comprano online in più del 99% dei casi e in negozio in meno dell'1%;" in it
    assert "They buy online over 99% of the time and in store under 1%;" in en
    assert ("lo 0% compra sia online sia in negozio (omnicanale), più del 99% solo online, "
            "meno dell'1% solo in negozio.") in it
    assert "0% buy both online and in store (omnichannel), over 99% online only, under 1% in store only." in en
    it, en = pt.describe({**base, "online_order_share": 0.8})
    assert "Comprano online nell'80% dei casi e in negozio nel 20%;" in it
    it, en = pt.describe({**base, "online_order_share": 1.0})
    assert "Comprano solo online;" in it and "They buy online only;" in en and "nello 0%" not in it
