"""Churn risk rules by hand; cohorts against a pure-Python oracle."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.value.churn import ChurnQuery, churn_expr
from percorso.value.cohorts import CohortQuery


def test_churn_rules(tmp_path):
    from percorso.engine import Engine

    eng = Engine(tmp_path / "c.duckdb")
    eng.create_table("customer_value", pa.table({
        "customer_id": ["a", "b", "c", "d"],
        "frequency": [4, 2, 0, 3],
        "recency": [20.0, 10.0, 0.0, 30.0],
        "T": [22.0, 30.0, 5.0, 31.0],
        "p_alive": [0.9, 0.8, 1.0, 0.2],
        "clv": [100.0, 40.0, 10.0, 20.0],
    }))
    df = eng.execute(churn_expr(eng)).set_index("customer_id")
    # a: gap 5, silence 2 → overdue 0.4, low; b: gap 5, silence 20 → overdue 4 → high
    assert df.loc["a", "overdue"] == 0.4 and df.loc["a", "risk_level"] == "low"
    assert df.loc["b", "overdue"] == 4.0 and df.loc["b", "risk_level"] == "high"
    assert df.loc["c", "risk_level"] == "low"                 # never repeated: no rhythm yet
    assert df.loc["d", "risk_level"] == "high"                # p_alive 0.2
    assert abs(df.loc["d", "clv_at_stake"] - 20 / 0.2 * 0.8) < 1e-9
    res = run(eng, ChurnQuery())
    fr = res.to_frame().set_index("risk_level")
    assert fr.loc["high", "customers"] == 2 and "medium" not in fr.index
    assert sorted(res.customers(risk_level="high")["customer_id"]) == ["b", "d"]


_row = st.tuples(st.sampled_from(list("abcdefgh")), st.integers(0, 200), st.integers(1, 50))


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=30))
def test_cohorts_oracle(oracle_engine, make_orders, rows):
    base = datetime(2024, 1, 1, 12)
    days = [base + timedelta(days=d) for _, d, _ in rows]
    oracle_engine.create_table("orders", make_orders(pd.DataFrame({
        "order_id": [f"o{i}" for i in range(len(rows))], "customer_id": [r[0] for r in rows],
        "occurred_at": days, "revenue": [float(r[2]) for r in rows], "is_return": [False] * len(rows)})))
    got = run(oracle_engine, CohortQuery()).to_frame()
    mi = lambda t: t.year * 12 + t.month - 1  # noqa: E731
    first = {}
    for (c, _, _), t in zip(rows, days, strict=True):
        first[c] = min(first.get(c, 10**9), mi(t))
    want: dict = {}
    for (c, _, v), t in zip(rows, days, strict=True):
        f = first[c]
        key = (f"{f // 12}-{f % 12 + 1:02d}", mi(t) - f)
        s = want.setdefault(key, [set(), 0.0])
        s[0].add(c)
        s[1] += v
    assert len(got) == len(want)
    for r in got.itertuples():
        act, rev = want[(r.cohort, r.period)]
        size = sum(1 for c, f in first.items() if f"{f // 12}-{f % 12 + 1:02d}" == r.cohort)
        assert r.active == len(act) and abs(r.revenue - rev) < 1e-9 and r.cohort_size == size
        assert abs(r.retention - len(act) / size) < 1e-12
