"""Churn risk rules by hand; cohorts against a pure-Python oracle."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.value.churn import ChurnQuery, churn_expr
from percorso.value.cohorts import CohortQuery


def test_churn_rules(tmp_path):
    from percorso.engine import Engine

    eng = Engine(tmp_path / "c.duckdb")
    eng.create_table("customer_value", pa.table({
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "frequency": [4, 2, 0, 3, 0, 0],
        "recency": [20.0, 10.0, 0.0, 30.0, 0.0, 0.0],
        "T": [22.0, 30.0, 5.0, 31.0, 16.0, 10.0],
        "p_alive": [0.9, 0.8, 1.0, 0.2, 1.0, 1.0],
        "clv": [100.0, 40.0, 10.0, 20.0, 3.0, 6.0],
    }))
    df = eng.execute(churn_expr(eng)).set_index("customer_id")
    # a: gap 5, silence 2 → overdue 0.4, rhythm 1, P(alive) = model 0.9, low
    assert df.loc["a", "overdue"] == 0.4 and df.loc["a", "p_alive_rhythm"] == 1.0
    assert df.loc["a", "p_alive"] == 0.9 and df.loc["a", "risk_level"] == "low"
    # b: gap 5, silence 20 → overdue 4 → rhythm 2^-3 = 0.125 < model 0.8 → high
    assert df.loc["b", "overdue"] == 4.0 and df.loc["b", "p_alive"] == 0.125
    assert df.loc["b", "risk_level"] == "high" and df.loc["b", "p_alive_model"] == 0.8
    assert df.loc["b", "clv_at_stake"] == pytest.approx(40 / 0.8 * 0.875)
    assert df.loc["d", "risk_level"] == "high"                # model P(alive) 0.2
    assert abs(df.loc["d", "clv_at_stake"] - 20 / 0.2 * 0.8) < 1e-9
    assert df.loc["d", "clv_if_alive"] == 100.0
    # one-time buyers: the typical gap is the median of the own gaps 5, 5, 10 → 5
    assert (df.loc[["c", "e", "f"], "rhythm"] == "typical").all() and df.loc["a", "rhythm"] == "own"
    assert df.loc["c", "overdue"] == 1.0 and df.loc["c", "risk_level"] == "low"
    # f: silence 10 = 2 typical gaps → rhythm 0.5 → medium, although the model says 1
    assert df.loc["f", "overdue"] == 2.0 and df.loc["f", "p_alive"] == 0.5
    assert df.loc["f", "risk_level"] == "medium" and df.loc["f", "clv_at_stake"] == 3.0
    # e: overdue 3.2 → rhythm 2^-2.2 ≈ 0.218 → high; half its CLV-if-alive and more at stake
    assert df.loc["e", "overdue"] == 3.2 and df.loc["e", "risk_level"] == "high"
    assert df.loc["e", "clv_at_stake"] == pytest.approx(3.0 * (1 - 2 ** -2.2))
    res = run(eng, ChurnQuery())
    fr = res.to_frame().set_index("risk_level")
    assert fr.loc["high", "customers"] == 3 and fr.loc["high", "one_time_buyers"] == 1
    assert fr.loc["medium", "customers"] == 1
    assert sorted(res.customers(risk_level="high")["customer_id"]) == ["b", "d", "e"]
    # mean P(alive) per level, by hand: high (0.125 + 0.2 + 2^-2.2) / 3, medium 0.5, low (0.9 + 1) / 2
    assert fr.loc["high", "avg_p_alive"] == pytest.approx((0.125 + 0.2 + 2 ** -2.2) / 3)
    assert fr.loc["medium", "avg_p_alive"] == 0.5 and fr.loc["low", "avg_p_alive"] == pytest.approx(0.95)


def _level_oracle(p_model: float, overdue: float | None) -> str:
    """The level rule, written out: the smaller of the two P(alive)s against 0.3 and 0.6."""
    rhythm = 1.0 if overdue is None or overdue <= 1 else 0.5 ** (overdue - 1)
    p = min(p_model, rhythm)
    return "high" if p < 0.3 else "medium" if p < 0.6 else "low"


_cust = st.tuples(st.integers(0, 6), st.integers(0, 60), st.integers(0, 60),
                  st.floats(0.0, 1.0, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(_cust, min_size=1, max_size=25))
def test_churn_levels_oracle_and_ordered(oracle_engine, rows):
    """Every customer's level equals the written-out rule, and the levels' mean P(alive) is
    strictly decreasing from low to high (whatever the mix of model and rhythm evidence)."""
    freq = [f for f, _, _, _ in rows]
    rec = [float(min(r, t)) if f else 0.0 for f, r, t, _ in rows]
    big_t = [float(t) + 1 for _, _, t, _ in rows]
    p = [1.0 if f == 0 else pm for f, _, _, pm in rows]        # BG/NBD: one-time buyers are alive
    oracle_engine.create_table("customer_value", pa.table({
        "customer_id": [f"c{i}" for i in range(len(rows))], "frequency": freq, "recency": rec,
        "T": big_t, "p_alive": p, "clv": [10.0] * len(rows)}))
    df = oracle_engine.execute(churn_expr(oracle_engine)).set_index("customer_id")
    gaps = sorted(r / f for f, r in zip(freq, rec, strict=True) if f)
    typical = (gaps[(len(gaps) - 1) // 2] + gaps[len(gaps) // 2]) / 2 if gaps else None
    for i, (f, r, t, pm) in enumerate(zip(freq, rec, big_t, p, strict=True)):
        gap = r / f if f else typical
        overdue = (t - r) / gap if gap else None
        assert df.loc[f"c{i}", "risk_level"] == _level_oracle(pm, overdue), (f, r, t, pm, overdue)
    means = df.groupby("risk_level")["p_alive"].mean()
    ordered = [means[lvl] for lvl in ("low", "medium", "high") if lvl in means]
    assert all(a > b for a, b in zip(ordered, ordered[1:], strict=False))


_row = st.tuples(st.sampled_from(list("abcdefgh")), st.integers(0, 200), st.integers(1, 50))
_channels = st.fixed_dictionaries({c: st.sampled_from(["Email", "Store / POS", None]) for c in "abcdefgh"})


def _cohort_oracle(rows, days, channel, by):
    """Complete cohort x period grid, computed customer by customer (the definition in cohorts.py)."""
    mi = lambda t: t.year * 12 + t.month - 1  # noqa: E731
    first: dict = {}
    for (c, _, _), t in zip(rows, days, strict=True):
        first[c] = min(first.get(c, 10**9), mi(t))
    last = max(mi(t) for t in days)
    label = {c: f"{f // 12}-{f % 12 + 1:02d}" if by == "month" else (channel[c] or "Unassigned")
             for c, f in first.items()}
    out = {}
    for cohort in set(label.values()):
        members = [c for c in first if label[c] == cohort]
        for k in range(last - min(first[c] for c in members) + 1):
            eligible = [c for c in members if first[c] <= last - k]
            at_k = [(c, v) for (c, _, v), t in zip(rows, days, strict=True)
                    if c in members and mi(t) - first[c] == k]
            cum = sum(sum(v for (c, _, v), t in zip(rows, days, strict=True)
                          if c in members and mi(t) - first[c] == j)
                      / sum(1 for c in members if first[c] <= last - j) for j in range(k + 1))
            out[(cohort, k)] = {"cohort_size": len(members), "eligible": len(eligible),
                                "active": len({c for c, _ in at_k}), "revenue": float(sum(v for _, v in at_k)),
                                "retention": len({c for c, _ in at_k}) / len(eligible),
                                "cum_revenue_per_customer": cum}
    return out


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=30), channel=_channels, by=st.sampled_from(["month", "channel"]))
def test_cohorts_oracle(oracle_engine, make_orders, rows, channel, by):
    base = datetime(2024, 1, 1, 12)
    days = [base + timedelta(days=d) for _, d, _ in rows]
    oracle_engine.create_table("orders", make_orders(pd.DataFrame({
        "order_id": [f"o{i}" for i in range(len(rows))], "customer_id": [r[0] for r in rows],
        "occurred_at": days, "revenue": [float(r[2]) for r in rows], "is_return": [False] * len(rows)})))
    oracle_engine.create_table("customers", pa.table({
        "customer_id": list(channel), "first_channel": pa.array(list(channel.values()), pa.string())}))
    got = run(oracle_engine, CohortQuery(by=by)).to_frame()
    want = _cohort_oracle(rows, days, channel, by)
    assert sorted(zip(got["cohort"], got["period"], strict=True)) == sorted(want)
    for r in got.itertuples():
        w = want[(r.cohort, r.period)]
        for k, v in w.items():
            assert getattr(r, k) == pytest.approx(v, abs=1e-9), (r.cohort, r.period, k)
    # a cumulative measure never decreases, period after period, in every cohort
    for _, g in got.sort_values("period").groupby("cohort"):
        assert (g["cum_revenue_per_customer"].diff().dropna() >= -1e-9).all()


def test_cohort_zero_months_and_heatmaps(tmp_path, make_orders):
    """Hand example: a January cohort of 2 with nobody buying in February (a 0, not a gap)."""
    from percorso.engine import Engine

    eng = Engine(tmp_path / "c.duckdb")
    eng.create_table("orders", make_orders(pd.DataFrame({
        "order_id": ["1", "2", "3", "4"], "customer_id": ["a", "b", "a", "c"],
        "occurred_at": [datetime(2024, 1, 5), datetime(2024, 1, 20), datetime(2024, 3, 2), datetime(2024, 3, 9)],
        "revenue": [10.0, 30.0, 5.0, 7.0], "is_return": [False] * 4})))
    res = run(eng, CohortQuery())
    df = res.to_frame().set_index(["cohort", "period"])
    assert list(df.loc["2024-01"].index) == [0, 1, 2] and list(df.loc["2024-03"].index) == [0]
    assert df.loc[("2024-01", 1), "active"] == 0 and df.loc[("2024-01", 1), "retention"] == 0
    assert df.loc[("2024-01", 1), "cum_revenue_per_customer"] == 20.0      # (10 + 30) / 2, carried over
    assert df.loc[("2024-01", 2), "retention"] == 0.5
    assert df.loc[("2024-01", 2), "cum_revenue_per_customer"] == 22.5      # (10 + 30 + 5) / 2
    assert len(res.figure().data) == 1 and len(res.figure("cum_revenue_per_customer").data) == 1
    assert list(res.customers(cohort="2024-01", period=2)["customer_id"]) == ["a"]
    with pytest.raises(InputError, match="retention"):
        res.figure("retension")


def test_churn_before_a_clv_fit_says_to_fit(tmp_path):
    """It said "table 'customer_value' does not exist yet (run `percorso build` first?)": a build does not fit CLV."""
    from percorso.engine import Engine
    from percorso.errors import NotFound

    eng = Engine(tmp_path / "c.duckdb")
    try:
        with pytest.raises(NotFound, match="percorso clv fit") as err:
            churn_expr(eng)
        assert err.value.code == "clv_not_fitted"
    finally:
        eng.close()
