"""grouped_median equals the engine's own median, to the bit, and Python's statistics.median."""

from __future__ import annotations

import statistics

import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.analysis.medians import grouped_median

_rows = st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.sampled_from(["x", "y"]),
                           st.one_of(st.none(), st.integers(-5, 40).map(lambda s: s / 60.0),
                                     st.floats(-1e6, 1e6, allow_nan=False))),
                 min_size=0, max_size=60)


def _frame(rows):
    return {"g": [r[0] for r in rows], "h": [r[1] for r in rows], "v": [r[2] for r in rows]}


@settings(max_examples=50, deadline=None)
@given(_rows)
def test_equals_the_engines_median_and_pythons(rows):
    con = ibis.duckdb.connect()
    t = con.create_table("t", ibis.memtable(_frame(rows), schema={"g": "string", "h": "string", "v": "float64"}))
    got = con.execute(grouped_median(t, ["g", "h"], "v", "m"))
    mine = {(g if isinstance(g, str) else None, h): m for g, h, m in got.itertuples(index=False)}
    native = con.execute(t.group_by(["g", "h"]).aggregate(m=t.v.median()))
    native = {(g if isinstance(g, str) else None, h): m for g, h, m in native.itertuples(index=False)
              if m == m and m is not None}
    assert mine == native                       # bit for bit, groups without values absent
    for (g, h), m in mine.items():              # and the textbook median
        vals = [r[2] for r in rows if r[0] == g and r[1] == h and r[2] is not None]
        assert m == statistics.median(vals) or abs(m - statistics.median(vals)) <= 1e-9 * max(1.0, abs(m))


def test_hand_computed():
    con = ibis.duckdb.connect()
    t = ibis.memtable({"k": ["p", "p", "p", "p", "q", "q", "q", "r"], "v": [1.0, 1.0, 3.0, 10.0, 2.0, 2.0, 7.0, None]})
    got = con.execute(grouped_median(t, ["k"], "v")).sort_values("k")
    # p: 1, 1, 3, 10 -> (1 + 3) / 2 = 2; q: 2, 2, 7 -> 2; r: only NULL -> no row
    assert got.to_dict("list") == {"k": ["p", "q"], "median": [2.0, 2.0]}
    whole = con.execute(grouped_median(t, [], "v"))
    assert whole["median"].tolist() == [2.0]    # 1 1 2 2 3 7 10 -> 2
