"""Journey analyses benchmark: prints ONE JSON object.

    .venv/bin/python bench/journeys.py --events 10000000     # the issue's size
    .venv/bin/python bench/journeys.py --events 1000000      # development

Synthetic touchpoints (numpy → Arrow, not timed): ``events / 20`` customers, 12 event types,
realistic gaps, ~3 % purchases. For each analysis it times percorso (query → runner → result,
median of ``--repeat`` runs) and hand-written DuckDB SQL of the same aggregate in the same run,
and reports ``ratio`` = percorso / SQL (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from percorso.analysis.base import run  # noqa: E402
from percorso.build.schema import TOUCHPOINT_COLUMNS  # noqa: E402
from percorso.engine import Engine  # noqa: E402
from percorso.journeys.funnel import FunnelQuery  # noqa: E402
from percorso.journeys.paths import PathsQuery  # noqa: E402
from percorso.journeys.sankey import SankeyQuery  # noqa: E402
from percorso.journeys.transitions import TransitionsQuery  # noqa: E402

TYPES = np.array(["page_view", "product_view", "add_to_cart", "checkout", "purchase", "email_open", "email_click",
                  "ad_click", "store_visit", "call", "search", "receipt"])
P = np.array([0.30, 0.20, 0.08, 0.04, 0.02, 0.08, 0.05, 0.09, 0.04, 0.02, 0.07, 0.01])
_ARROW = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}


def touchpoints(n: int, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    customers = max(n // 20, 1)
    cust = np.sort(rng.integers(0, customers, n))
    start = rng.integers(0, 300 * 86400, customers)[cust]
    gaps = rng.exponential(6 * 3600, n).astype(np.int64)
    t = start + gaps.cumsum() % (60 * 86400)  # spread over two months per customer
    ts = (np.datetime64("2025-01-01T00:00:00", "s") + t.astype("timedelta64[s]")).astype("datetime64[us]")
    et = rng.choice(len(TYPES), n, p=P / P.sum())
    cols = {name: pa.nulls(n, _ARROW[typ]) for name, typ in TOUCHPOINT_COLUMNS}
    cols["event_id"] = pa.array(np.char.add("e", np.arange(n).astype(str)))
    cols["customer_id"] = pa.array(np.char.add("C", cust.astype(str)))
    cols["occurred_at"] = pa.array(ts)
    cols["event_type"] = pa.array(TYPES[et])
    cols["online"] = pa.array(~np.isin(TYPES[et], ["store_visit", "call", "receipt"]))
    cols["revenue"] = pa.array(np.where(np.isin(TYPES[et], ["purchase", "receipt"]), 100.0, np.nan))
    return pa.table([cols[name] for name, _ in TOUCHPOINT_COLUMNS], names=[c for c, _ in TOUCHPOINT_COLUMNS])


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


ORDERED = "WINDOW w AS (PARTITION BY customer_id ORDER BY occurred_at, event_id)"
BASE = "FROM touchpoints WHERE customer_id IS NOT NULL AND event_type NOT IN ('identify', 'alias', 'crm_update')"

# Hand-written SQL computing the same outputs as percorso (main table, totals for the "other"
# row, medians), the way an analyst would: derived rows once in a temp table, then aggregates.
SQL: dict[str, list[str]] = {
    "transitions": [
        f"""CREATE OR REPLACE TEMP TABLE x AS SELECT customer_id, event_type AS a, lead(event_type) OVER w AS b,
            (epoch(lead(occurred_at) OVER w) - epoch(occurred_at)) / 60 AS mins {BASE} {ORDERED}""",
        """WITH g AS (SELECT a, b, count(*) AS n, count(DISTINCT customer_id) AS c, median(mins) AS m
              FROM x WHERE b IS NOT NULL GROUP BY a, b)
           SELECT *, n / sum(n) OVER (PARTITION BY a) AS share FROM g ORDER BY n DESC LIMIT 50""",
        "SELECT count(*), count(DISTINCT customer_id), count(DISTINCT (a, b)) FROM x WHERE b IS NOT NULL",
    ],
    "top_variants": [
        f"""CREATE OR REPLACE TEMP TABLE x AS WITH s AS (SELECT customer_id, event_type, row_number() OVER w AS step,
            event_type IN ('purchase', 'receipt') AS buy, revenue {BASE} {ORDERED})
            SELECT customer_id, CASE WHEN max(step) > 6 THEN string_agg(event_type, ' → ' ORDER BY step)
              FILTER (WHERE step <= 6) || ' → …' ELSE string_agg(event_type, ' → ' ORDER BY step) END AS path,
              bool_or(buy) FILTER (WHERE step <= 6) AS conv, sum(revenue) FILTER (WHERE step <= 6 AND buy) AS rev
            FROM s GROUP BY customer_id""",
        """SELECT path, count(*) AS n, count(DISTINCT customer_id), sum(conv::INT), sum(rev) FROM x GROUP BY 1
           ORDER BY n DESC, path LIMIT 20""",
        "SELECT count(*), count(DISTINCT customer_id), sum(conv::INT), sum(rev), count(DISTINCT path) FROM x",
    ],
    "sankey_5": [
        f"""CREATE OR REPLACE TEMP TABLE x AS WITH s AS (SELECT customer_id, event_type AS node,
            row_number() OVER w AS pos {BASE} {ORDERED}),
        k AS (SELECT customer_id, pos, node FROM s WHERE pos <= 5
              UNION ALL SELECT customer_id, max(pos) + 1, '(end)' FROM s GROUP BY customer_id HAVING max(pos) < 5),
        r AS (SELECT pos, node, row_number() OVER (PARTITION BY pos ORDER BY count(*) DESC, node) AS rk
              FROM k GROUP BY pos, node)
        SELECT k.customer_id, k.pos, CASE WHEN r.rk <= 8 OR k.node = '(end)' THEN k.node ELSE 'other' END AS node
              FROM k JOIN r USING (pos, node)""",
        """SELECT a.pos, a.node, b.node, count(*) FROM x a JOIN x b ON a.customer_id = b.customer_id
           AND b.pos = a.pos + 1 GROUP BY ALL ORDER BY 1, 4 DESC""",
        "SELECT count(DISTINCT customer_id) FROM x",
    ],
    "funnel_4_7d": [
        f"""CREATE OR REPLACE TEMP TABLE x AS WITH s AS (SELECT customer_id, event_type AS node, occurred_at AS t,
            row_number() OVER w AS step {BASE} {ORDERED}),
        s1 AS (SELECT customer_id, step AS s1, t AS t1 FROM s WHERE node = 'page_view'),
        s2 AS (SELECT a.customer_id, a.s1, a.t1, min(b.step) AS s2, arg_min(b.t, b.step) AS t2 FROM s1 a
               LEFT JOIN s b ON b.customer_id = a.customer_id AND b.node = 'product_view' AND b.step > a.s1
               AND b.t <= a.t1 + INTERVAL 7 DAY GROUP BY ALL),
        s3 AS (SELECT a.customer_id, a.s1, a.t1, a.s2, a.t2, min(b.step) AS s3, arg_min(b.t, b.step) AS t3 FROM s2 a
               LEFT JOIN s b ON b.customer_id = a.customer_id AND b.node = 'add_to_cart' AND b.step > a.s2
               AND b.t <= a.t1 + INTERVAL 7 DAY GROUP BY ALL),
        s4 AS (SELECT a.*, min(b.step) AS s4, arg_min(b.t, b.step) AS t4 FROM s3 a LEFT JOIN s b
               ON b.customer_id = a.customer_id AND b.node = 'purchase' AND b.step > a.s3
               AND b.t <= a.t1 + INTERVAL 7 DAY GROUP BY ALL),
        r AS (SELECT *, CASE WHEN s4 IS NOT NULL THEN 4 WHEN s3 IS NOT NULL THEN 3 WHEN s2 IS NOT NULL THEN 2 ELSE 1 END
              AS reached FROM s4)
        SELECT * FROM r QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY reached DESC, t1, s1) = 1""",
        """SELECT count(*) FILTER (WHERE reached >= 1), count(*) FILTER (WHERE reached >= 2),
             count(*) FILTER (WHERE reached >= 3), count(*) FILTER (WHERE reached >= 4),
             median(epoch(t2) - epoch(t1)) FILTER (WHERE reached >= 2), median(epoch(t3) - epoch(t2)) FILTER (WHERE
             reached >= 3), median(epoch(t4) - epoch(t3)) FILTER (WHERE reached >= 4),
             median(epoch(t3) - epoch(t1)) FILTER (WHERE reached >= 3), median(epoch(t4) - epoch(t1))
             FILTER (WHERE reached >= 4) FROM x""",
        """SELECT CASE WHEN m < 60 THEN 0 WHEN m < 360 THEN 1 WHEN m < 1440 THEN 2 ELSE 3 END, count(*)
           FROM (SELECT (epoch(t4) - epoch(t1)) / 60 AS m FROM x WHERE reached = 4) GROUP BY 1""",
    ],
}

QUERIES = {
    "transitions": TransitionsQuery(top=50),
    "top_variants": PathsQuery(max_steps=6, top=20),
    "sankey_5": SankeyQuery(steps=5, top_k=8),
    "funnel_4_7d": FunnelQuery(steps=("page_view", "product_view", "add_to_cart", "purchase"), window="7d"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=sorted(QUERIES), help="run only these analyses")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "bench.duckdb")
        engine.create_table("touchpoints", touchpoints(args.events))
        out: dict[str, object] = {"events": args.events, "customers": max(args.events // 20, 1), "analyses": {}}
        for name, query in QUERIES.items():
            if args.only and name not in args.only:
                continue
            statements = SQL[name]

            def hand_sql(statements: list[str] = statements) -> None:
                for text in statements:
                    engine.con.execute(text).fetchall()
                engine.con.execute("DROP TABLE IF EXISTS x")

            sql_s = timed(hand_sql, args.repeat)
            ours = timed(lambda query=query: run(engine, query), args.repeat)
            out["analyses"][name] = {"seconds": round(ours, 3), "sql_seconds": round(sql_s, 3),  # type: ignore[index]
                                     "ratio": round(ours / sql_s, 2)}
        engine.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
