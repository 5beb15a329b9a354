"""RFM quintile scores by cut-offs equal the rank definition, ties included (hypothesis oracle).

The engine scores ``1 + #{cut-offs < v}`` with the cut-offs from exact order statistics;
the oracle ranks every value in pure Python: ``1 + floor(5 * rank / n)`` with ``rank`` the
number of values strictly below (ascending) or strictly above (descending).
"""

from __future__ import annotations

from fractions import Fraction

import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from percorso.engine.dialect import order_statistics
from percorso.value.rfm import QUINTILES, _score

# few distinct values → many ties; lengths cross multiples of 5 (where c_k = (k-1)n/5 exactly)
_ints = st.lists(st.integers(0, 6), min_size=1, max_size=120)
_floats = st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.30000000000000004, 0.3, 19.99, -5.0, 1e9]),
                   min_size=1, max_size=120)


def _oracle(vals: list, desc: bool = False) -> list[int]:
    n = len(vals)
    out = []
    for v in vals:
        rank = sum(1 for x in vals if (x > v if desc else x < v))
        out.append(1 + (5 * rank) // n)
    return out


def _engine_scores(engine, vals: list, desc: bool = False) -> list[int]:
    t = engine.register_arrow("_q", pa.table({"i": list(range(len(vals))), "v": vals}))
    try:
        key = -t.v if desc else t.v
        cuts = t.aggregate(c=order_statistics(key, QUINTILES))
        j = t.cross_join(cuts)
        j = j.select("i", s=_score(-j.v if desc else j.v, j.c))
        return list(engine.execute(j.order_by("i"))["s"])
    finally:
        engine.unregister("_q")


@settings(max_examples=150, deadline=None)
@given(vals=st.one_of(_ints, _floats), desc=st.booleans())
@example(vals=[3] * 10, desc=False)                        # everyone tied: everyone scores 1
@example(vals=[1, 1, 2, 2, 3, 3, 4, 4, 5, 5], desc=False)  # n = 10, cut-offs on tie boundaries
@example(vals=[7], desc=True)
def test_cutoff_scores_equal_rank_scores(oracle_engine, vals, desc):
    assert _engine_scores(oracle_engine, vals, desc) == _oracle(vals, desc)


@settings(max_examples=100, deadline=None)
@given(vals=st.lists(st.integers(-50, 50), min_size=1, max_size=300),
       qs=st.lists(st.integers(0, 1000), min_size=1, max_size=6))
def test_order_statistics_positions(oracle_engine, vals, qs):
    quantiles = tuple(f"{q / 1000:.3f}" for q in qs)
    t = oracle_engine.register_arrow("_o", pa.table({"v": vals}))
    try:
        got = list(oracle_engine.execute(t.aggregate(c=order_statistics(t.v, quantiles)))["c"][0])
    finally:
        oracle_engine.unregister("_o")
    s, n = sorted(vals), len(vals)
    want = []
    for q in qs:
        pos = Fraction(n * q, 1000)
        idx = max(-(-pos.numerator // pos.denominator), 1) - 1   # max(ceil(n*q), 1) - 1
        want.append(float(s[idx]))
    assert got == want
