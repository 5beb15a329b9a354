"""Journey analyses benchmark: prints ONE JSON object.

    .venv/bin/python bench/journeys.py --events 10000000     # the issue's size
    .venv/bin/python bench/journeys.py --events 1000000      # development

Synthetic touchpoints (numpy → Arrow → a fresh DuckDB file, not timed): about ``events / 20``
customers, 12 event types, exponential gaps (hours), ~3 % purchases. For each analysis it
times percorso (query → runner → result, median of ``--repeat`` runs) and hand-written DuckDB
SQL computing the same outputs (main table, totals and the *other* row) in the same run, and
reports ``ratio`` = percorso / SQL (target ≤ 1.5). The 4-step, 7-day funnel case lives in
``bench/journeys_funnel_case.py`` (owned by the funnel code); without it the JSON says so.
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
        """CREATE OR REPLACE TEMP TABLE g AS WITH g AS (SELECT a, b, count(*) AS n, count(DISTINCT customer_id) AS c,
              median(mins) AS m FROM x WHERE b IS NOT NULL GROUP BY a, b)
           SELECT *, n / sum(n) OVER (PARTITION BY a) AS share FROM g""",
        "SELECT * FROM g ORDER BY n DESC, a, b LIMIT 50",
        "SELECT count(*) FROM g",
        """WITH t AS (SELECT a, b, true AS shown FROM g ORDER BY n DESC, a, b LIMIT 50)
           SELECT count(*), count(DISTINCT customer_id), count(DISTINCT customer_id) FILTER (WHERE shown IS NULL)
           FROM x LEFT JOIN t USING (a, b) WHERE x.b IS NOT NULL""",
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
              FROM k WHERE node <> '(end)' GROUP BY pos, node)
        SELECT k.customer_id, k.pos, CASE WHEN r.rk <= 8 OR k.node = '(end)' THEN k.node ELSE 'other' END AS node
              FROM k LEFT JOIN r USING (pos, node)""",
        """SELECT a.pos, a.node, b.node, count(*) FROM x a JOIN x b ON a.customer_id = b.customer_id
           AND b.pos = a.pos + 1 GROUP BY ALL ORDER BY 1, 4 DESC""",
    ],
}

QUERIES = {
    "transitions": TransitionsQuery(top=50),
    "top_variants": PathsQuery(max_steps=6, top=20),
    "sankey_5": SankeyQuery(steps=5, top_k=8),
}


def funnel_case() -> Callable[..., dict] | None:
    """``funnel_case(engine, con) -> {seconds, sql_seconds}`` from bench/journeys_funnel_case.py, if present."""
    path = Path(__file__).with_name("journeys_funnel_case.py")
    if not path.exists():
        return None
    sys.path.insert(0, str(path.parent))
    from journeys_funnel_case import funnel_case as case  # type: ignore[import-not-found]

    return case


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=[*sorted(QUERIES), "funnel_4_7d"], help="run only these analyses")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "bench.duckdb")
        data = touchpoints(args.events)
        engine.create_table("touchpoints", data)
        customers = len(pa.compute.unique(data["customer_id"]))
        del data
        analyses: dict[str, object] = {}
        out: dict[str, object] = {"events": args.events, "customers": customers, "analyses": analyses}
        for name, query in QUERIES.items():
            if args.only and name not in args.only:
                continue
            statements = SQL[name]

            def hand_sql(statements: list[str] = statements) -> None:
                for text in statements:
                    engine.con.execute(text).fetchall()
                engine.con.execute("DROP TABLE IF EXISTS x").fetchall()
                engine.con.execute("DROP TABLE IF EXISTS g").fetchall()

            sql_s = timed(hand_sql, args.repeat)
            ours = timed(lambda query=query: run(engine, query), args.repeat)
            analyses[name] = {"seconds": round(ours, 3), "sql_seconds": round(sql_s, 3), "ratio": round(ours / sql_s, 2)}
        if not args.only or "funnel_4_7d" in args.only:
            case = funnel_case()
            if case is None:
                analyses["funnel_4_7d"] = {"skipped": "bench/journeys_funnel_case.py not found (written by the funnel "
                                                      "engineer: funnel_case(engine, con) -> {seconds, sql_seconds})"}
            else:
                got = dict(case(engine, engine.con))
                got["ratio"] = round(got["seconds"] / got["sql_seconds"], 2)
                analyses["funnel_4_7d"] = got
        engine.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
