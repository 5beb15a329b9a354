"""Grow a built demo project N-fold for scale benchmarks: N disjoint copies of its population.

Usage: python bench/scale_project.py --project DIR --times 10   (then: percorso build --full -p DIR)

Why: ``percorso demo`` at ~1M events took 85 s to generate, 463 s to ingest and 144 s to build
on the 2-core box (66,000 simulated people), so a 10M-event project made that way costs about
two hours. The dashboard benchmark (issue 18) needs the *shape* of the demo at 10M events
(every page's data: web and store orders, campaigns and costs, quarantine, imports), not new
people, so this copies the ``events`` table ``times - 1`` more times inside the engine with
every identifier, event id, source key and order id suffixed by ``~k``: each copy is a
disjoint population with the same journeys (identity never joins two copies). The contact
vault is not copied (the copies' customers have no e-mail or phone on their profile), the
campaign costs, imports and quarantine stay as they were. Afterwards a full build recomputes
identity, touchpoints, orders, customers and the value artefacts from the 10M events.

Prints one JSON object (events before and after, seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

SUFFIXED = ("event_id", "source_key", "anonymous_id", "device_id", "user_id", "email_key", "phone_key",
            "loyalty_card", "crm_id", "tax_code_key", "order_id", "ip_key")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, type=Path, help="a built project (its database is changed in place)")
    ap.add_argument("--times", type=int, default=10)
    args = ap.parse_args()
    db = next(args.project.glob("*.duckdb"))
    con = duckdb.connect(str(db))
    before = con.execute("SELECT count(*) FROM events").fetchone()[0]
    if con.execute("SELECT count(*) FROM events WHERE event_id LIKE '%~%'").fetchone()[0]:
        raise SystemExit(f"{db} already holds copies; start from an unscaled project")
    cols = [r[0] for r in con.execute("DESCRIBE event_store").fetchall()]   # events' stored columns (ADR 0075)
    select = ", ".join(f"CASE WHEN e.{c} IS NULL THEN NULL ELSE e.{c} || '~' || k.k END AS {c}" if c in SUFFIXED
                       else f"e.{c}" for c in cols)
    t = time.perf_counter()
    con.execute(f"INSERT INTO event_store SELECT {select} FROM event_store e, range(1, ?) k(k)", [args.times])
    con.execute("CHECKPOINT")
    after = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    print(json.dumps({"database": str(db), "events_before": before, "events_after": after,
                      "seconds": round(time.perf_counter() - t, 1)}))


if __name__ == "__main__":
    main()
