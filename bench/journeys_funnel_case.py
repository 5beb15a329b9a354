"""Funnel benchmark case: percorso's 4-step, 7-day funnel against hand-written DuckDB SQL.

``bench/journeys.py`` imports :func:`funnel_case`; this file also runs alone on synthetic data::

    .venv/bin/python bench/journeys_funnel_case.py --events 1000000      # development
    .venv/bin/python bench/journeys_funnel_case.py --events 10000000     # the issue's size

The SQL computes the same outputs as :class:`~percorso.journeys.funnel.FunnelRunner` (best entry
per journey with the furthest progress, then the earliest; counts per step; medians from the
previous step and from step 1; the time-to-convert buckets), the way an analyst would write it:
the steps once in a temp table, one windowed join per step, then aggregates.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

STEPS = ("page_view", "product_view", "add_to_cart", "purchase")
BASE = "FROM touchpoints WHERE customer_id IS NOT NULL AND event_type NOT IN ('identify', 'alias', 'crm_update')"


def _next(prev: str, k: int, node: str) -> str:
    return f"""s{k} AS (SELECT a.*, min(b.step) AS s{k}, arg_min(b.t, b.step) AS t{k} FROM {prev} a
        LEFT JOIN x b ON b.customer_id = a.customer_id AND b.node = '{node}' AND b.step > a.s{k - 1}
        AND b.t <= a.t1 + INTERVAL 7 DAY GROUP BY ALL)"""


SQL = [
    f"""CREATE OR REPLACE TEMP TABLE x AS SELECT * FROM (SELECT customer_id, event_type AS node, occurred_at AS t,
        row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at, event_id) AS step {BASE})
        WHERE node IN {STEPS!r}""",
    f"""CREATE OR REPLACE TEMP TABLE y AS WITH s1 AS (SELECT customer_id, step AS s1, t AS t1 FROM x
        WHERE node = '{STEPS[0]}'), {_next('s1', 2, STEPS[1])}, {_next('s2', 3, STEPS[2])}, {_next('s3', 4, STEPS[3])},
        r AS (SELECT *, CASE WHEN s4 IS NOT NULL THEN 4 WHEN s3 IS NOT NULL THEN 3 WHEN s2 IS NOT NULL THEN 2 ELSE 1
              END AS reached FROM s4)
        SELECT * FROM r QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY reached DESC, t1, s1) = 1""",
    """SELECT count(*) FILTER (WHERE reached >= 1), count(*) FILTER (WHERE reached >= 2),
         count(*) FILTER (WHERE reached >= 3), count(*) FILTER (WHERE reached >= 4),
         median(epoch(t2) - epoch(t1)) FILTER (WHERE reached >= 2),
         median(epoch(t3) - epoch(t2)) FILTER (WHERE reached >= 3),
         median(epoch(t4) - epoch(t3)) FILTER (WHERE reached >= 4),
         median(epoch(t3) - epoch(t1)) FILTER (WHERE reached >= 3),
         median(epoch(t4) - epoch(t1)) FILTER (WHERE reached >= 4) FROM y""",
    """SELECT CASE WHEN m < 60 THEN 0 WHEN m < 360 THEN 1 WHEN m < 1440 THEN 2 WHEN m < 4320 THEN 3
         WHEN m < 10080 THEN 4 ELSE 5 END AS b, count(*) FROM (SELECT (epoch(t4) - epoch(t1)) / 60 AS m FROM y
         WHERE reached = 4) GROUP BY 1""",
    "DROP TABLE IF EXISTS x",
    "DROP TABLE IF EXISTS y",
]


def _median_seconds(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def funnel_case(engine: Any, con: Any, repeat: int = 3) -> dict[str, float]:
    """Time the funnel (median of ``repeat``) on the ``touchpoints`` table already in ``engine``.

    ``con`` is the engine's DuckDB connection, used only to run the hand-written SQL.
    Returns ``{"seconds", "sql_seconds", "ratio"}`` (ratio = percorso / SQL, target ≤ 1.5).
    """
    from percorso.analysis.base import run
    from percorso.journeys.funnel import FunnelQuery

    query = FunnelQuery(steps=STEPS, window="7d")

    def hand_sql() -> None:
        for text in SQL:
            con.execute(text).fetchall()

    sql_s = _median_seconds(hand_sql, repeat)
    ours = _median_seconds(lambda: run(engine, query), repeat)
    return {"seconds": round(ours, 3), "sql_seconds": round(sql_s, 3), "ratio": round(ours / sql_s, 2)}


def main() -> None:
    import argparse
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from journeys import touchpoints  # the shared synthetic generator of bench/journeys.py

    from percorso.engine import Engine

    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "bench.duckdb")
        engine.create_table("touchpoints", touchpoints(args.events))
        out = {"events": args.events, "funnel_4_7d": funnel_case(engine, engine.con, args.repeat)}
        engine.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
