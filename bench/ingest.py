"""Ingest + identity benchmark: prints ONE JSON object.

    .venv/bin/python bench/ingest.py --events 10000000     # the issue's size
    .venv/bin/python bench/ingest.py --events 1000000      # development

Writes Parquet files of clickstream events (not timed): event id, user id for a third of the
people, anonymous (cookie) ids, event name, time, page URL with UTM tags. Then, in the same
run and on the same files:

- ``baseline_s``: a plain ``CREATE TABLE AS SELECT * FROM read_parquet(…)`` in a fresh DuckDB file;
- ``ingest_s``: ``percorso ingest clickstream`` (typing, checks, event ids, quarantine, dedup,
  lineage) into a fresh project;
- ``identity_s``: identity resolution over those events (``percorso.identity.resolve``);
- ``peak_rss_mb``: the process's peak resident memory (self or children, whichever is larger);
- ``*_cpu_s`` / ``cpu_ratio``: the same in process CPU seconds (steadier on a shared machine);
- ``shaped_s`` / ``ratio_shaped``: a hand-written ``INSERT`` of the same 42-column event rows from
  the files (event id hash, lineage, UTM fields; no checks, quarantine or dedup), median of the
  repeats, and ``ingest_s`` over it: the pipeline's own cost, like for like (ADR 0010);
- ``load_avg``: the machine's 1, 5 and 15 minute load averages at the end (2 cores: above 2, other
  work competed for them).

``bench/ingest_floor.py`` measures how much of the ingest is the write of the 42-column rows alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from percorso.engine import Engine  # noqa: E402
from percorso.events.schema import EVENT_COLUMN_NAMES  # noqa: E402
from percorso.identity import resolve  # noqa: E402
from percorso.ingest import ingest_files  # noqa: E402
from percorso.project import init_project, open_project  # noqa: E402

#: Rows per Parquet row group, as DuckDB and Spark write them (pyarrow's default of 1M rows
#: would make every 1M-row file a single row group, read by one thread).
ROW_GROUP = 122_880
NAMES = np.array(["page_view", "product_view", "add_to_cart", "checkout", "purchase", "search", "login"])
P = np.array([0.45, 0.25, 0.1, 0.05, 0.03, 0.1, 0.02])
UTM = np.array(["", "?utm_source=google&utm_medium=cpc&utm_campaign=saldi", "?utm_source=newsletter&utm_medium=email",
                "?utm_source=facebook&utm_medium=paid_social", ""])


def write_files(folder: Path, n: int, files: int, seed: int = 11) -> list[Path]:
    rng = np.random.default_rng(seed)
    people = max(n // 25, 1)
    out = []
    per = -(-n // files)
    for f in range(files):
        m = min(per, n - f * per)
        if m <= 0:
            break
        person = rng.integers(0, people, m)
        cookie = person * 2 + rng.integers(0, 2, m)           # two devices per person
        known = person % 3 == 0
        login = known & (rng.random(m) < 0.2)
        ts = np.datetime64("2025-01-01T00:00:00", "s") + rng.integers(0, 365 * 86400, m).astype("timedelta64[s]")
        table = pa.table({
            "event_id": pa.array(np.char.add(f"f{f}-", np.arange(m).astype(str))),
            "user_id": pa.array(np.where(login, np.char.add("u", person.astype(str)), None)),
            "anonymous_id": pa.array(np.char.add("c", cookie.astype(str))),
            "event_name": pa.array(NAMES[rng.choice(len(NAMES), m, p=P)]),
            "timestamp": pa.array(ts.astype("datetime64[us]")),
            "page_url": pa.array(np.char.add("https://shop.it/p", UTM[rng.integers(0, len(UTM), m)])),
        })
        path = folder / f"events_{f:02d}.parquet"
        pq.write_table(table, path, row_group_size=ROW_GROUP)
        out.append(path)
    return out


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def baseline(root: Path, i: int) -> tuple[float, float]:
    """Wall and CPU seconds of a plain CREATE TABLE AS SELECT * FROM read_parquet(all files)."""
    base = Engine(root / f"baseline_{i}.duckdb")
    globbed = str(root / "events_*.parquet")
    t0, c0 = time.perf_counter(), _cpu()
    base.con.execute(f"CREATE TABLE raw AS SELECT * FROM read_parquet('{globbed}')")
    base.close()
    return time.perf_counter() - t0, _cpu() - c0


#: The 42 columns of a clickstream event written by hand from the files' columns (see shaped()).
_SHAPED = {
    "event_id": "substr(sha256('clickstream|' || event_id), 1, 32)", "schema_version": "1",
    "event_type": "event_name", "event_name": "event_name", "occurred_at": "\"timestamp\"",
    "received_at": "now()::TIMESTAMP", "source_name": "'clickstream'", "source_kind": "'clickstream'",
    "source_system": "'web'", "source_file": "parse_filename(filename)", "source_line": "file_row_number + 1",
    "source_key": "event_id", "online": "true", "anonymous_id": "anonymous_id", "user_id": "user_id",
    "page_url": "page_url", "ingest_run_id": "'run'",
    **{f"utm_{p}": f"NULLIF(regexp_extract(page_url, '[?&]utm_{p}=([^&#]*)', 1), '')"
       for p in ("source", "medium", "campaign")},
}


def shaped(root: Path, i: int) -> tuple[float, float]:
    """Wall and CPU seconds of a hand-written INSERT of the same 42-column event rows (no checks, no dedup).

    Why: the plain CTAS writes the files' 6 columns; this writes what the ingest writes (ADR
    0010), so ``ingest_s / shaped_s`` is the cost of typing, checks, quarantine, dedup and lineage.
    """
    eng = Engine(root / f"shaped_{i}.duckdb")
    eng.con  # noqa: B018 - open and migrate (creates ``events``) before the clock starts
    cols = list(EVENT_COLUMN_NAMES)
    sel = ", ".join(_SHAPED.get(c, "NULL") for c in cols)
    globbed = str(root / "events_*.parquet")
    t0, c0 = time.perf_counter(), _cpu()
    eng.con.execute(f"INSERT INTO events ({', '.join(cols)}) SELECT {sel} FROM "
                    f"read_parquet('{globbed}', filename=true, file_row_number=true)")
    eng.close()
    return time.perf_counter() - t0, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="baseline repeats (median); the ingest runs once")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_files(root, args.events, args.files)
        runs = [baseline(root, i) for i in range(args.repeats)]
        baseline_s = statistics.median(r[0] for r in runs)
        baseline_cpu = statistics.median(r[1] for r in runs)
        shaped_runs = [shaped(root, i) for i in range(args.repeats)]
        shaped_s = statistics.median(r[0] for r in shaped_runs)
        init_project(root / "p", name="bench")
        with open_project(root / "p") as project:
            t0, c0 = time.perf_counter(), _cpu()
            reports = ingest_files(project, "clickstream", files)
            ingest_s, ingest_cpu = time.perf_counter() - t0, _cpu() - c0
            t0 = time.perf_counter()
            ident = resolve(project, full=True)
            identity_s = time.perf_counter() - t0
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(json.dumps({
            "events": args.events, "files": len(files),
            "ingest_s": round(ingest_s, 2), "baseline_s": round(baseline_s, 2), "ratio": round(ingest_s / baseline_s, 2),
            "ingest_cpu_s": round(ingest_cpu, 2), "baseline_cpu_s": round(baseline_cpu, 2),
            "cpu_ratio": round(ingest_cpu / baseline_cpu, 2),
            "shaped_s": round(shaped_s, 2), "shaped_cpu_s": round(statistics.median(r[1] for r in shaped_runs), 2),
            "ratio_shaped": round(ingest_s / shaped_s, 2),
            "identity_s": round(identity_s, 2), "peak_rss_mb": round(peak / 1024),
            "accepted": sum(r.accepted for r in reports), "quarantined": sum(r.quarantined for r in reports),
            "customers_new": ident.customers_new, "identity_phases_s": ident.phases,
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }))


if __name__ == "__main__":
    main()
