"""Segments: behaviours by hand, storage round trip, and a pure-Python oracle of the tree."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.errors import InputError, NotFound
from percorso.testing import journeys_for
from percorso.value.segments.compile import SITE_SOURCES, STORE_EVENTS, members_expr
from percorso.value.segments.definition import ACTIONS, And, Behaviour, Compare, Not, Or, parse_rule
from percorso.value.segments.store import list_segments, members, save_segment, show_segment

RULE = ('{"type":"and","rules":[{"type":"behaviour","action":"bought_in_store"},'
        '{"type":"behaviour","action":"visited_site","within_days":30},'
        '{"type":"not","rule":{"type":"behaviour","action":"bought_online"}}]}')


def test_behaviours_and_store(tmp_path):
    eng = journeys_for(tmp_path, {
        "anna": [("receipt", "2024-03-01 10:00", {"channel": "Store / POS", "revenue": 50.0}),
                 ("page_view", "2024-03-20 10:00")],
        "bruno": [("receipt", "2024-03-01 10:00", {"channel": "Store / POS", "revenue": 50.0}),
                  ("purchase", "2024-03-02 10:00", {"revenue": 20.0}),
                  ("page_view", "2024-03-20 10:00")],
        "carla": [("receipt", "2024-01-01 10:00", {"channel": "Store / POS", "revenue": 50.0}),
                  ("page_view", "2024-01-05 10:00")],  # visit too old
        "dario": [("page_view", "2024-03-25 10:00")],
    })
    assert save_segment(eng, "store_only", RULE) == 1
    assert list(eng.execute(members(eng, "store_only"))["customer_id"]) == ["anna"]
    lst = list_segments(eng)
    assert list(lst["name"]) == ["store_only"] and lst.loc[0, "size"] == 1
    hist = show_segment(eng, "store_only")
    assert list(hist["size"]) == [1, 1]
    with pytest.raises(NotFound, match="store_only"):
        members(eng, "store_onli")
    with pytest.raises(InputError, match="bought_in_shop|action"):
        save_segment(eng, "x", '{"type":"behaviour","action":"bought_in_shop"}')


CITIES = ["Roma", "Milano", None]
BASE = datetime(2024, 3, 1, 12)


def _count(b, c, ref):
    """How many times customer ``c`` did ``b.action`` (the units of ``ACTIONS``), pure Python."""
    since = ref - timedelta(days=b.within_days) if b.within_days else None
    ok = lambda t: since is None or t >= since  # noqa: E731
    if b.action in ("bought_in_store", "bought_online", "returned"):
        return sum(1 for t, online, ret in c["orders"] if ok(t) and (
            ret if b.action == "returned" else (not ret and bool(online) == (b.action == "bought_online"))))
    tps = [tp for tp in c["tps"] if ok(tp["at"])]
    if b.action in ("abandoned_browse", "abandoned_cart", "abandoned_checkout"):
        # a step with no purchase order (any time, in or out of the window) and, for browsing,
        # no add_to_cart at or after it
        step = {"abandoned_browse": "product_view", "abandoned_cart": "add_to_cart",
                "abandoned_checkout": "checkout"}[b.action]
        later = [t for t, _on, ret in c["orders"] if not ret]
        later += [tp["at"] for tp in c["tps"] if b.action == "abandoned_browse" and tp["event"] == "add_to_cart"]
        return sum(1 for tp in tps if tp["event"] == step and all(t < tp["at"] for t in later))
    if b.action == "visited_site":
        return len({tp["session"] for tp in tps if tp["source"] in SITE_SOURCES})
    if b.action == "visited_store":
        return len({tp["at"].date() for tp in tps if tp["event"] in STORE_EVENTS and not tp["online"]})
    want = {"opened_email": ("event", "email_open"), "clicked_email": ("event", "email_click"),
            "viewed_product": ("event", "product_view"), "added_to_cart": ("event", "add_to_cart"),
            "started_checkout": ("event", "checkout"), "called": ("channel", "Call center")}[b.action]
    return sum(1 for tp in tps if tp[want[0]] == want[1])


def _eval(rule, c, ref):
    if isinstance(rule, Compare):
        v = c[rule.field]
        if v is None:
            return False
        ops = {"eq": v == rule.value, "ne": v != rule.value, "lt": v < rule.value, "le": v <= rule.value,
               "gt": v > rule.value, "ge": v >= rule.value} if rule.op != "in" else {"in": v in rule.value}
        return ops[rule.op]
    if isinstance(rule, Behaviour):
        return _count(rule, c, ref) >= rule.min_count
    if isinstance(rule, And):
        return all(_eval(r, c, ref) for r in rule.rules)
    if isinstance(rule, Or):
        return any(_eval(r, c, ref) for r in rule.rules)
    return not _eval(rule.rule, c, ref)


_num = st.builds(lambda f, op, v: Compare(field=f, op=op, value=v), st.sampled_from(["n_orders", "revenue"]),
                 st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]), st.integers(0, 5).map(float))
_txt = st.builds(lambda op, v: Compare(field="city", op=op, value=v), st.sampled_from(["eq", "ne"]),
                 st.sampled_from(["Roma", "Milano"]))
_in = st.builds(lambda v: Compare(field="city", op="in", value=v),
                st.lists(st.sampled_from(["Roma", "Milano"]), min_size=1))
_bool = st.builds(lambda v: Compare(field="consent_marketing", op="eq", value=v), st.booleans())
_beh = st.builds(lambda a, w, k: Behaviour(action=a, within_days=w, min_count=k), st.sampled_from(sorted(ACTIONS)),
                 st.one_of(st.none(), st.integers(1, 40)), st.integers(1, 3))
_leaf = st.one_of(_num, _txt, _in, _bool, _beh, _beh)
_tree = st.recursive(_leaf, lambda ch: st.one_of(
    st.builds(lambda rs: And(rules=rs), st.lists(ch, min_size=1, max_size=3)),
    st.builds(lambda rs: Or(rules=rs), st.lists(ch, min_size=1, max_size=3)),
    st.builds(lambda r: Not(rule=r), ch)), max_leaves=8)
_hours = st.integers(0, 60 * 24)
_order = st.tuples(_hours, st.one_of(st.none(), st.booleans()), st.booleans())
_tp = st.fixed_dictionaries({
    "h": _hours, "session": st.integers(0, 3),
    "kind": st.sampled_from([("web", "page_view", True, "Direct"), ("app", "screen_view", True, "Direct"),
                             ("esp", "email_open", True, "Email"), ("esp", "email_click", True, "Email"),
                             ("ads", "ad_click", True, "Paid Search"), ("pos", "receipt", False, "Store / POS"),
                             ("events", "store_visit", False, "Store / POS"), ("pos", "return", False, "Store / POS"),
                             ("web", "return", True, "Direct"), ("web", "product_view", True, "Direct"),
                             ("web", "add_to_cart", True, "Direct"), ("web", "checkout", True, "Direct"),
                             ("call_center", "call", False, "Call center")])})
_cust = st.fixed_dictionaries({"n_orders": st.one_of(st.none(), st.integers(0, 5)),
                               "revenue": st.one_of(st.none(), st.integers(0, 5).map(float)),
                               "city": st.sampled_from(CITIES),
                               "consent_marketing": st.one_of(st.none(), st.booleans()),
                               "orders": st.lists(_order, max_size=4), "tps": st.lists(_tp, max_size=6)})


def _load(engine, ids, custs):
    """Real ``customers``, ``orders`` and ``touchpoints`` tables from the generated customers."""
    engine.create_table("customers", pa.table({
        "customer_id": ids,
        "n_orders": pa.array([c["n_orders"] for c in custs], pa.int64()),
        "revenue": pa.array([c["revenue"] for c in custs], pa.float64()),
        "city": pa.array([c["city"] for c in custs], pa.string()),
        "consent_marketing": pa.array([c["consent_marketing"] for c in custs], pa.bool_()),
    }))
    orders = [(i, BASE + timedelta(hours=h), on, ret)
              for i, c in zip(ids, custs, strict=True) for h, on, ret in c["orders"]]
    engine.create_table("orders", pa.table({
        "customer_id": pa.array([o[0] for o in orders], pa.string()),
        "occurred_at": pa.array([o[1] for o in orders], pa.timestamp("us")),
        "occurred_at_local": pa.array([o[1] for o in orders], pa.timestamp("us")),  # a UTC project
        "online": pa.array([o[2] for o in orders], pa.bool_()),
        "is_return": pa.array([o[3] for o in orders], pa.bool_())}))
    tps = [(i, tp) for i, c in zip(ids, custs, strict=True) for tp in c["tps"]]
    # one touchpoint of nobody fixes the end of the data ("the last N days" end there)
    tps.append((None, {"h": 61 * 24, "session": 0, "kind": ("web", "page_view", True, "Direct")}))
    engine.create_table("touchpoints", pa.table({
        "customer_id": pa.array([i for i, _ in tps], pa.string()),
        "occurred_at": pa.array([BASE + timedelta(hours=tp["h"]) for _, tp in tps], pa.timestamp("us")),
        "occurred_at_local": pa.array([BASE + timedelta(hours=tp["h"]) for _, tp in tps], pa.timestamp("us")),
        "source_system": [tp["kind"][0] for _, tp in tps], "event_type": [tp["kind"][1] for _, tp in tps],
        "online": [tp["kind"][2] for _, tp in tps], "channel": [tp["kind"][3] for _, tp in tps],
        "session_id": [f"{i}:{tp['session']}" for i, tp in tps]}))
    for i, c in zip(ids, custs, strict=True):
        c["orders"] = [(BASE + timedelta(hours=h), on, ret) for h, on, ret in c["orders"]]
        c["tps"] = [{"at": BASE + timedelta(hours=tp["h"]), "session": f"{i}:{tp['session']}", "source": tp["kind"][0],
                     "event": tp["kind"][1], "online": tp["kind"][2], "channel": tp["kind"][3]} for tp in c["tps"]]
    return BASE + timedelta(days=61)


@settings(max_examples=80, deadline=None)
@given(custs=st.lists(_cust, min_size=1, max_size=12), rule=_tree)
def test_oracle(oracle_engine, custs, rule):
    ids = [f"c{i}" for i in range(len(custs))]
    ref = _load(oracle_engine, ids, custs)
    got = set(oracle_engine.execute(members_expr(oracle_engine, rule).select("customer_id"))["customer_id"])
    want = {i for i, c in zip(ids, custs, strict=True) if _eval(rule, c, ref)}
    assert got == want


def test_membership_over_time(tmp_path):
    from percorso.value.segments.store import members_at, refresh_segment, segment_history

    eng = journeys_for(tmp_path, {
        "anna": [("purchase", "2024-03-01 10:00", {"revenue": 300.0})],
        "bruno": [("purchase", "2024-03-02 10:00", {"revenue": 50.0})],
        "carla": [("purchase", "2024-03-03 10:00", {"revenue": 500.0})],
    })
    rule = '{"type":"compare","field":"revenue","op":"ge","value":100}'
    assert save_segment(eng, "big", rule) == 2                      # anna, carla
    t0 = eng.execute(eng.table("segment_sizes").computed_at.max())
    c = eng.table("customers")                                        # bruno spends more, carla returns all
    eng.create_table("customers", c.mutate(revenue=ibis.cases((c.customer_id == "bruno", 150.0),
                                                              (c.customer_id == "carla", 0.0), else_=c.revenue)))
    assert refresh_segment(eng, "big") == {"name": "big", "size": 2, "entered": 1, "left": 1}
    assert refresh_segment(eng, "big") == {"name": "big", "size": 2, "entered": 0, "left": 0}
    hist = eng.execute(segment_history(eng, "big"))
    assert list(hist["size"]) == [2, 2, 2] and list(hist["entered"]) == [2, 1, 0] and list(hist["left"]) == [0, 1, 0]
    assert sorted(eng.execute(members_at(eng, "big", t0))["customer_id"]) == ["anna", "carla"]
    assert sorted(eng.execute(members(eng, "big"))["customer_id"]) == ["anna", "bruno"]
    m = eng.table("segment_membership")
    assert eng.execute(m.count()) == 3                                 # anna, carla (closed), bruno
    exp = eng.execute(members(eng, "big", columns=["revenue", "city"]))
    assert list(exp.columns) == ["customer_id", "revenue", "city"]


def test_derived_fields(tmp_path):
    """health_score, RFM segment, CLV and churn level as rule fields, checked by hand."""
    from percorso.value.clv.pipeline import fit_clv
    from percorso.value.health import health_expr

    journeys = {f"c{i}": [("purchase", f"2024-0{1 + i % 3}-0{1 + i % 7} 10:00", {"revenue": 10.0 + i})]
                for i in range(12)}
    journeys["rep"] = [("purchase", f"2024-0{m}-10 10:00", {"revenue": 80.0}) for m in range(1, 7)]
    for j, months in enumerate([(1, 4), (2, 3, 5), (1, 6)]):
        journeys[f"r{j}"] = [("purchase", f"2024-0{m}-2{j} 10:00", {"revenue": 30.0 + 9 * m}) for m in months]
    eng = journeys_for(tmp_path, journeys)
    h = eng.execute(health_expr(eng)).set_index("customer_id")
    rule = {"type": "compare", "field": "health_score", "op": "ge", "value": float(h.loc["rep", "score"])}
    got = set(eng.execute(members_expr(eng, parse_rule(rule)).customer_id))
    assert got == set(h.index[h["score"] >= h.loc["rep", "score"]])
    with pytest.raises(InputError, match="clv fit"):
        members_expr(eng, parse_rule({"type": "compare", "field": "clv", "op": "gt", "value": 0}))
    fit_clv(eng)
    cv = eng.execute(eng.table("customer_value")).set_index("customer_id")
    top = set(eng.execute(members_expr(eng, parse_rule(
        {"type": "compare", "field": "clv", "op": "ge", "value": float(cv["clv"].max())})).customer_id))
    assert top == set(cv.index[cv["clv"] == cv["clv"].max()])
    lvl = set(eng.execute(members_expr(eng, parse_rule(
        {"type": "compare", "field": "churn_risk_level", "op": "in", "value": ["high", "medium", "low"]})).customer_id))
    assert lvl == set(cv.index)
    with pytest.raises(InputError, match="personas"):
        members_expr(eng, parse_rule({"type": "compare", "field": "persona", "op": "eq", "value": 1}))


def test_segment_analysis_faces(tmp_path):
    from percorso.analysis.base import run
    from percorso.value.segments.analysis import SegmentQuery
    from percorso.value.segments.store import refresh_segment

    eng = journeys_for(tmp_path, {
        "anna": [("purchase", "2024-03-01 10:00", {"revenue": 300.0})],
        "bruno": [("purchase", "2024-03-02 10:00", {"revenue": 50.0})],
    })
    save_segment(eng, "big", '{"type":"compare","field":"revenue","op":"ge","value":100}')
    c = eng.table("customers")
    eng.create_table("customers", c.mutate(revenue=ibis.cases((c.customer_id == "bruno", 150.0), else_=c.revenue)))
    refresh_segment(eng, "big")
    res = run(eng, SegmentQuery(name="big"))
    fr = res.to_frame()
    assert list(fr["size"]) == [1, 2] and list(fr["entered"]) == [1, 1] and len(res.figure().data) == 3
    t1 = fr["computed_at"].iloc[1]
    assert list(res.customers(status="entered", at=t1)["customer_id"]) == ["bruno"]
    assert list(res.customers(at=fr["computed_at"].iloc[0])["customer_id"]) == ["anna"]
    assert list(res.customers()["customer_id"]) == ["anna", "bruno"]
    with pytest.raises(InputError, match="needs at"):
        res.customers(status="left")


def test_abandonment_by_hand(tmp_path):
    """Cart, browse and checkout abandoners; the data end at fabio's view (03-25 10:00)."""
    eng = journeys_for(tmp_path, {
        "anna": [("add_to_cart", "2024-03-20 10:00")],                                    # abandoned
        "bruno": [("add_to_cart", "2024-03-20 10:00"),
                  ("receipt", "2024-03-22 17:00", {"channel": "Store / POS", "revenue": 40.0})],  # bought in store
        "carla": [("add_to_cart", "2024-03-01 10:00")],                                   # abandoned, too long ago
        "dario": [("purchase", "2024-03-10 10:00", {"revenue": 30.0}),
                  ("add_to_cart", "2024-03-21 10:00")],                                   # the purchase came before
        "elena": [("product_view", "2024-03-23 10:00"), ("add_to_cart", "2024-03-23 10:05"),
                  ("checkout", "2024-03-23 10:10")],                                      # cart and checkout
        "fabio": [("product_view", "2024-03-25 10:00")],                                  # browse only
        "gino": [("checkout", "2024-03-24 10:00"), ("purchase", "2024-03-24 10:00", {"revenue": 9.0})],  # same time
        "hana": [("add_to_cart", "2024-03-22 10:00"), ("return", "2024-03-23 10:00", {"revenue": -5.0})],
    })

    def who(rule: dict) -> list[str]:
        return sorted(eng.execute(members_expr(eng, parse_rule(rule)).select("customer_id"))["customer_id"])

    assert who({"type": "behaviour", "action": "abandoned_cart", "within_days": 7}) == ["anna", "dario", "elena", "hana"]
    assert who({"type": "behaviour", "action": "abandoned_cart"}) == ["anna", "carla", "dario", "elena", "hana"]
    assert who({"type": "behaviour", "action": "added_to_cart", "within_days": 7}) == [
        "anna", "bruno", "dario", "elena", "hana"]
    assert who({"type": "behaviour", "action": "abandoned_checkout"}) == ["elena"]
    assert who({"type": "behaviour", "action": "started_checkout"}) == ["elena", "gino"]
    assert who({"type": "behaviour", "action": "abandoned_browse"}) == ["fabio"]
    assert who({"type": "behaviour", "action": "viewed_product"}) == ["elena", "fabio"]


_near = st.sampled_from([0, 60 * 24, 60 * 24 + 12, 61 * 24 - 1, 61 * 24])  # ties, and the window edges (the data end at 61 d)


@settings(max_examples=40, deadline=None)
@given(custs=st.lists(st.fixed_dictionaries({
    "orders": st.lists(st.tuples(_near, st.booleans(), st.booleans()), max_size=3),
    "tps": st.lists(st.fixed_dictionaries({"h": _near, "session": st.just(0), "kind": st.sampled_from([
        ("web", "product_view", True, "Direct"), ("web", "add_to_cart", True, "Direct"),
        ("web", "checkout", True, "Direct"), ("web", "page_view", True, "Direct")])}), max_size=5),
    "n_orders": st.none(), "revenue": st.none(), "city": st.none(), "consent_marketing": st.none()}),
    min_size=1, max_size=8),
    action=st.sampled_from(["abandoned_browse", "abandoned_cart", "abandoned_checkout"]),
    within=st.one_of(st.none(), st.integers(1, 3)), k=st.integers(1, 2))
def test_abandonment_oracle_with_ties(oracle_engine, custs, action, within, k):
    ids = [f"c{i}" for i in range(len(custs))]
    ref = _load(oracle_engine, ids, custs)
    rule = Behaviour(action=action, within_days=within, min_count=k)
    got = set(oracle_engine.execute(members_expr(oracle_engine, rule).select("customer_id"))["customer_id"])
    assert got == {i for i, c in zip(ids, custs, strict=True) if _count(rule, c, ref) >= k}
