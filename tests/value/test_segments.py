"""Segments: behaviours by hand, storage round trip, and a pure-Python oracle of the tree."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.errors import InputError, NotFound
from percorso.testing import journeys_for
from percorso.value.segments.compile import members_expr
from percorso.value.segments.definition import And, Compare, Not, Or
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


def _eval(rule, c):
    if isinstance(rule, Compare):
        v = c[rule.field]
        if v is None:
            return False
        ops = {"eq": v == rule.value, "ne": v != rule.value, "lt": v < rule.value, "le": v <= rule.value,
               "gt": v > rule.value, "ge": v >= rule.value} if rule.op != "in" else {"in": v in rule.value}
        return ops[rule.op]
    if isinstance(rule, And):
        return all(_eval(r, c) for r in rule.rules)
    if isinstance(rule, Or):
        return any(_eval(r, c) for r in rule.rules)
    return not _eval(rule.rule, c)


_num = st.builds(lambda f, op, v: Compare(field=f, op=op, value=v), st.sampled_from(["n_orders", "revenue"]),
                 st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]), st.integers(0, 5).map(float))
_txt = st.builds(lambda op, v: Compare(field="city", op=op, value=v), st.sampled_from(["eq", "ne"]),
                 st.sampled_from(["Roma", "Milano"]))
_in = st.builds(lambda v: Compare(field="city", op="in", value=v), st.lists(st.sampled_from(["Roma", "Milano"]), min_size=1))
_bool = st.builds(lambda v: Compare(field="consent_marketing", op="eq", value=v), st.booleans())
_leaf = st.one_of(_num, _txt, _in, _bool)
_tree = st.recursive(_leaf, lambda ch: st.one_of(
    st.builds(lambda rs: And(rules=rs), st.lists(ch, min_size=1, max_size=3)),
    st.builds(lambda rs: Or(rules=rs), st.lists(ch, min_size=1, max_size=3)),
    st.builds(lambda r: Not(rule=r), ch)), max_leaves=8)
_cust = st.fixed_dictionaries({"n_orders": st.one_of(st.none(), st.integers(0, 5)),
                               "revenue": st.one_of(st.none(), st.integers(0, 5).map(float)),
                               "city": st.sampled_from(CITIES),
                               "consent_marketing": st.one_of(st.none(), st.booleans())})


@settings(max_examples=60, deadline=None)
@given(custs=st.lists(_cust, min_size=1, max_size=15), rule=_tree)
def test_oracle(oracle_engine, custs, rule):
    ids = [f"c{i}" for i in range(len(custs))]
    oracle_engine.create_table("customers", pa.table({
        "customer_id": ids,
        "n_orders": pa.array([c["n_orders"] for c in custs], pa.int64()),
        "revenue": pa.array([c["revenue"] for c in custs], pa.float64()),
        "city": pa.array([c["city"] for c in custs], pa.string()),
        "consent_marketing": pa.array([c["consent_marketing"] for c in custs], pa.bool_()),
    }))
    got = set(oracle_engine.execute(members_expr(oracle_engine, rule).select("customer_id"))["customer_id"])
    want = {i for i, c in zip(ids, custs, strict=True) if _eval(rule, c)}
    assert got == want
