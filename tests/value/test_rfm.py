"""RFM: a hand-computed example and a pure-Python oracle on random orders."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.engine import Engine
from percorso.testing import journeys_for
from percorso.value.rfm import RFMQuery, rfm_expr


def test_hand_example(tmp_path):
    eng = journeys_for(tmp_path, {
        "anna": [("purchase", "2024-01-01 10:00", {"revenue": 100.0}),
                 ("receipt", "2024-03-01 17:00", {"channel": "Store / POS", "revenue": 50.0}),
                 ("return", "2024-03-05 10:00", {"revenue": -20.0})],
        "bruno": [("purchase", "2024-02-01 09:00", {"revenue": 30.0})],
        "carla": [("page_view", "2024-02-01 09:00")],
    })
    df = eng.execute(rfm_expr(eng, date(2024, 4, 1))).set_index("customer_id")
    assert set(df.index) == {"anna", "bruno"}  # carla never bought
    a = df.loc["anna"]
    assert a.frequency == 2 and a.monetary == 130.0
    assert a.recency_days == 31 and a.tenure_days == 91
    assert a.online_orders == 1 and a.store_orders == 1
    assert a.online_revenue == 80.0 and a.store_revenue == 50.0
    # two customers: rank 0 -> score 1, rank 1 -> score 1 + floor(5/2) = 3
    assert (a.r_score, a.f_score, a.m_score) == (3, 3, 3)
    assert a.rfm_segment == "Loyal"
    b = df.loc["bruno"]
    assert (b.r_score, b.f_score, b.m_score) == (1, 1, 1) and b.rfm_segment == "Lost"
    res = run(eng, RFMQuery(as_of=date(2024, 4, 1)))
    fr = res.to_frame().set_index("segment")
    assert fr.loc["Loyal", "customers"] == 1 and fr.loc["Lost", "revenue"] == 30.0
    assert list(res.customers(segment="Lost")["customer_id"]) == ["bruno"]


def _oracle(rows, as_of):
    by = {}
    for c, day, rev, ret, online in rows:
        by.setdefault(c, []).append((day, rev, ret, online))
    out = {}
    for c, lst in by.items():
        buys = [x for x in lst if not x[2]]
        if not buys:
            continue
        out[c] = {
            "recency_days": (as_of - max(x[0] for x in buys)).days,
            "frequency": len(buys),
            "monetary": sum(x[1] for x in lst),
        }
    n = len(out)

    def score(key, desc=False):
        for c, v in out.items():
            vals = [o[key] for o in out.values()]
            rank = sum(1 for x in vals if (x > v[key] if desc else x < v[key]))
            v[key[0] + "_score"] = 1 + (5 * rank) // n
    score("recency_days", desc=True)
    score("frequency")
    score("monetary")
    for v in out.values():
        r, f, m = v["r_score"], v["f_score"], v["m_score"]
        if r >= 4 and f >= 4 and m >= 4: s = "Champions"
        elif r >= 3 and f >= 3: s = "Loyal"
        elif r >= 4 and f == 1: s = "New"
        elif r >= 3: s = "Potential loyalists"
        elif r == 1 and f >= 4: s = "Can't lose them"
        elif f >= 3: s = "At risk"
        elif r == 2: s = "Hibernating"
        else: s = "Lost"
        v["rfm_segment"] = s
    return out


_row = st.tuples(st.sampled_from([f"c{i}" for i in range(12)]), st.integers(0, 60),
                 st.integers(1, 20), st.booleans(), st.booleans())


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=40))
def test_oracle(oracle_engine, make_orders, rows):
    base = datetime(2024, 1, 1, 12)
    df = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(len(rows))],
        "customer_id": [r[0] for r in rows],
        "occurred_at": [base + timedelta(days=r[1]) for r in rows],
        "revenue": [-float(r[2]) if r[3] else float(r[2]) for r in rows],
        "is_return": [r[3] for r in rows],
        "online": [r[4] for r in rows],
    })
    oracle_engine.create_table("orders", make_orders(df))
    as_of = date(2024, 3, 15)
    got = oracle_engine.execute(rfm_expr(oracle_engine, as_of)).set_index("customer_id")
    want = _oracle([(c, (base + timedelta(days=d)).date(), -float(v) if ret else float(v), ret, on)
                    for c, d, v, ret, on in rows], as_of)
    assert set(got.index) == set(want)
    for c, w in want.items():
        for k, v in w.items():
            assert got.loc[c, k] == v, (c, k)
