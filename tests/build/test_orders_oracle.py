"""``orders_expr`` against slow obvious Python on random touchpoints (hypothesis).

The rule (``build/orders.py``): every order event is an order (its ``order_id``, or its
``event_id`` when it has none: ADR 0057); an online order whose touchpoint channel is
``Direct`` takes the channel of the customer's last informative online touchpoint (by time,
then event id; the order itself and earlier ones) when that one is at most
``LAST_NON_DIRECT_DAYS`` old. The engine computes it with a window over only the customers
that have such an order; the oracle looks at every row.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import ibis
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.build.orders import LAST_NON_DIRECT_DAYS, orders_expr
from percorso.build.schema import NOT_INFORMATIVE, TOUCHPOINT_COLUMNS
from percorso.build.touchpoints import ORDER_EVENT_TYPES

_T0 = datetime(2025, 1, 1)
_PANDAS = {"VARCHAR": "object", "TIMESTAMP": "datetime64[us]", "BOOLEAN": "object", "INTEGER": "Int32",
           "BIGINT": "Int64", "DOUBLE": "float64"}

row = st.fixed_dictionaries({
    "customer_id": st.sampled_from(["c1", "c2", "c3"]),
    "days": st.integers(0, 80),          # around the 30-day limit
    "event_id": st.sampled_from([f"e{i:02d}" for i in range(40)]),
    "event_type": st.sampled_from(["page_view", "page_view", "purchase", "receipt", "refund"]),
    "online": st.sampled_from([True, True, False, None]),
    "channel": st.sampled_from(["Direct", "Direct", "Email", "Paid Search", "Unassigned", "Store / POS", None]),
    "order_id": st.sampled_from([None, "O1", "O2"]),
    "revenue": st.sampled_from([None, 10.0, -5.0]),
})


def _oracle(rows: list[dict]) -> Counter:
    out: Counter = Counter()
    for r in rows:
        if r["event_type"] not in ORDER_EVENT_TYPES:
            continue
        channel = r["channel"]
        if r["online"] and channel == "Direct":
            key = (r["occurred_at"], r["event_id"])
            before = [o for o in rows if o["customer_id"] == r["customer_id"] and (o["occurred_at"], o["event_id"]) <= key
                      and o["online"] and o["channel"] is not None and o["channel"] not in NOT_INFORMATIVE]
            if before:
                last = max(before, key=lambda o: (o["occurred_at"], o["event_id"]))
                if last["occurred_at"] + timedelta(days=LAST_NON_DIRECT_DAYS) >= r["occurred_at"]:
                    channel = last["channel"]
        out[(r["order_id"] or r["event_id"], r["customer_id"], channel)] += 1
    return out


@settings(max_examples=60, deadline=None)
@given(spec=st.lists(row, min_size=1, max_size=25, unique_by=lambda r: r["event_id"]))
def test_order_rows_and_their_channel_equal_the_oracle(spec):
    rows = [{**r, "occurred_at": _T0 + timedelta(days=r.pop("days"))} for r in spec]
    frame = pd.DataFrame({name: [r.get(name) for r in rows] for name, _ in TOUCHPOINT_COLUMNS})
    frame = frame.astype({name: _PANDAS[sql] for name, sql in TOUCHPOINT_COLUMNS})
    con = ibis.duckdb.connect()
    con.raw_sql("CREATE TABLE touchpoints (" + ", ".join(f"{n} {t}" for n, t in TOUCHPOINT_COLUMNS) + ")")
    con.con.register("frame", frame)
    con.raw_sql("INSERT INTO touchpoints SELECT * FROM frame")
    tp = con.table("touchpoints")
    got = con.execute(orders_expr(tp).select("order_id", "customer_id", "channel"))
    assert Counter(map(tuple, got.astype(object).where(got.notna(), None).itertuples(index=False))) == _oracle(rows)
