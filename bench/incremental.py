"""Incremental build benchmark (issue 15): prints ONE JSON object.

    .venv/bin/python bench/incremental.py --events 1000000          # development size
    .venv/bin/python bench/incremental.py --events 10000000 --keep /tmp/inc --runs 3

A fresh project gets the issue's clickstream file (``bench/clickstream_file.py``, N events) and
a small file of cookie-only visits (``anonymous_id``, 0.1 % of N), and a full build (timed, not
the point). Then 1,000 new events are imported (known customers, new customers, and events
that carry a known user's id *and* a known cookie, so the cookie's old events move to that
user: a merge), and the incremental build is timed two ways, each on its own copy:

* ``build_s``: ``percorso build --format json`` as the user runs it, a fresh process (imports,
  opening the database and its checkpoint at exit included); ``build_cpu_s`` its CPU seconds
  (user + system, DuckDB's threads included: steadier than wall time on a shared machine),
  with this checkout's code byte-compiled as an installed package is;
  ``build_in_process_s`` the build's own ``seconds.total`` in that process;
* ``warm_build_s`` / ``warm_build_cpu_s``: ``run_build`` in this process, whose imports are
  warm (what a long-running process such as the collector pays), with
  ``warm_build_steps_cpu_s``: CPU seconds between the build's progress messages.

With ``--runs N`` both are repeated on fresh copies and every figure is the median (the
single runs are in ``runs``). Last, the fresh-process copy of the last run is copied again and
rebuilt in full, and every row of ``touchpoints``, ``orders`` and ``customers`` is compared
(``equal_to_full_build``; the symmetric difference per table is in ``differences``).
``load_avg`` says how busy the machine was (2 cores: above 2, other work competed).

``--keep DIR`` keeps the built base project in DIR and reuses it on the next run (the base
full build at 10M takes minutes). A reused base first gets one incremental build with no new
events (``base_refresh_s``), as the previous build of a project is made by the code that makes
the next one: it compiles and keeps the build's queries and identity's list of sources for
this version of the code (else the timed build would do it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clickstream_file import CHANNELS, TYPES, clickstream_file, clickstream_table  # noqa: E402
from installed_env import installed_env  # noqa: E402

from percorso.build import run_build  # noqa: E402
from percorso.ingest import ingest_files  # noqa: E402
from percorso.project import init_project, open_project  # noqa: E402

TABLES = ("touchpoints", "orders", "customers")


def cookie_visits(n_events: int, people: int) -> pa.Table:
    """Cookie-only visits (no user id) of ``c0``..: the old events a later merge moves."""
    rng = np.random.default_rng(7)
    cookies = max(10, n_events // 1000)
    n = cookies * 3
    c = np.repeat(np.arange(cookies), 3)
    ts = np.datetime64("2025-02-01T10:00:00", "s") + (c * 3600 + np.tile([0, 60, 120], cookies)).astype("timedelta64[s]")
    return pa.table({
        "anonymous_id": pa.array(np.char.add("c", c.astype(str))),
        "ts": pa.array(ts, pa.timestamp("s")),
        "event_type": pa.array(TYPES[rng.integers(0, 3, n)]),
        "channel": pa.array(CHANNELS[rng.integers(0, len(CHANNELS), n)]),
    })


def increment(people: int, size: int = 1000) -> pa.Table:
    """``size`` new events: 60 % known customers, 38 % new ones, 2 % a known user with a known cookie."""
    rng = np.random.default_rng(99)
    known = max(1, int(size * 0.6))
    merge = max(1, size // 50)
    new = size - known - merge
    base = clickstream_table(known + new, seed=101, people=people)
    ids = np.concatenate([np.char.add("u", rng.integers(0, people, known).astype(str)),
                          np.char.add("u", (people + 10_000_000 + np.arange(new) // 3).astype(str)),
                          np.char.add("u", rng.integers(0, people, merge).astype(str))])
    ts = np.datetime64("2025-04-01T12:00:00", "s") + rng.integers(0, 86400 * 3, size).astype("timedelta64[s]")
    anon = np.array([None] * (known + new) + [f"c{i}" for i in range(merge)], dtype=object)
    types = np.concatenate([base["event_type"].to_numpy(zero_copy_only=False), TYPES[np.zeros(merge, int) + 6]])
    return pa.table({
        "customer_id": pa.array(ids), "anonymous_id": pa.array(anon, pa.string()),
        "ts": pa.array(ts, pa.timestamp("s")), "event_type": pa.array(types),
        "channel": pa.array(CHANNELS[rng.integers(0, len(CHANNELS), size)]),
        "revenue": pa.array(np.where(types == "purchase", 50.0, np.nan), from_pandas=True),
    })


def _cpu_steps(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    """CPU seconds between the build's progress messages (identity's own steps included)."""
    out: dict[str, float] = {}
    for (name, at), (_, nxt) in zip(marks, [*marks[1:], ("", end)], strict=True):
        out[name] = round(out.get(name, 0.0) + nxt - at, 3)
    return out


def _differences(con, other: str) -> dict[str, int]:
    out = {}
    for t in TABLES:
        q = (f"SELECT count(*) FROM ((SELECT * FROM {t} EXCEPT ALL SELECT * FROM {other}.{t}) "
             f"UNION ALL (SELECT * FROM {other}.{t} EXCEPT ALL SELECT * FROM {t}))")
        out[t] = con.execute(q).fetchall()[0][0]
    return out


def _fresh_process_build(proj: Path, env: dict[str, str]) -> dict:
    """``percorso build --format json`` in a new process: its wall and CPU seconds and its report.

    The disk first writes back what the copies and the import left in memory (``sync``): a
    user's database is not a 1.6 GB file copied a second ago, whose write-back the build's
    commit (an ``fsync``) would otherwise wait for."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "percorso", "build", "--project", str(proj), "--format", "json"],
                          capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "report": json.loads(done.stdout)}


def _one_run(base: Path, work: Path, people: int, new: int, i: int, env: dict[str, str]) -> dict:
    """Copy the base twice, import the increment into both, time both builds."""
    out: dict = {}
    inc = work / "increment.parquet"
    pq.write_table(increment(people, new), inc)
    for kind in ("fresh", "warm"):
        proj = work / f"p{i}-{kind}"
        shutil.copytree(base, proj)
        p = open_project(proj)
        t0 = time.perf_counter()
        ingest_files(p, "clickstream", [inc])
        out["ingest_s"] = round(time.perf_counter() - t0, 3)
        if kind == "fresh":
            p.close()
            r = _fresh_process_build(proj, env)
            rep = r["report"]
            out.update(build_s=round(r["wall"], 3), build_cpu_s=round(r["cpu"], 3),
                       build_in_process_s=rep["seconds"]["total"], mode=rep["mode"], build_steps_s=rep["seconds"],
                       identity_phases_s=rep["identity"].get("phases", {}), customers_rebuilt=rep["customers_rebuilt"],
                       customers_retired=rep["identity"].get("customers_retired"),
                       identity_region_identifiers=rep["identity"].get("region_identifiers"))
            out["_project"] = proj
            continue
        marks: list[tuple[str, float]] = []
        os.sync()
        t0, c0 = time.perf_counter(), time.process_time()
        rep = run_build(p, progress=lambda msg: marks.append((msg.split(" / ")[-1], time.process_time())))
        out["warm_build_s"] = round(time.perf_counter() - t0, 3)
        c1 = time.process_time()
        out["warm_build_cpu_s"] = round(c1 - c0, 3)
        out["warm_build_steps_cpu_s"] = _cpu_steps(marks, c1)
        out["warm_build_steps_s"] = rep.seconds
        p.close()
        shutil.rmtree(proj, ignore_errors=True)
    return out


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=1000, help="events in the increment")
    ap.add_argument("--runs", type=int, default=1, help="timed runs (each on fresh copies); figures are medians")
    ap.add_argument("--keep", type=Path, default=None, help="keep/reuse the built base project here")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "percorso-bench-data")
    ap.add_argument("--no-check", action="store_true", help="skip the full-build equality check")
    ap.add_argument("--rebuild-base", action="store_true",
                    help="rebuild the kept base project in full first (after a change of the build's state tables)")
    a = ap.parse_args()
    out: dict = {"events": a.events, "new_events": a.new, "runs_count": a.runs}
    people = max(1, int(a.events / 9.4))
    work = Path(tempfile.mkdtemp(prefix="percorso-inc-"))
    try:
        base = (a.keep or work / "base") / f"p{a.events}"
        if not (base / "percorso.duckdb").exists():
            init_project(base, name="bench")
            p = open_project(base)
            src = clickstream_file(a.events, a.data)
            cookies = work / "cookies.parquet"
            pq.write_table(cookie_visits(a.events, people), cookies)
            t0 = time.perf_counter()
            ingest_files(p, "clickstream", [src, cookies])
            out["base_ingest_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            run_build(p, full=True)
            out["base_full_build_s"] = round(time.perf_counter() - t0, 2)
            p.close()
        else:
            p = open_project(base)
            t0 = time.perf_counter()
            rep = run_build(p, full=a.rebuild_base)
            out["base_full_build_s" if a.rebuild_base else "base_refresh_s"] = round(time.perf_counter() - t0, 2)
            out["base_refresh_mode"] = rep.mode
            p.close()
        env = installed_env(PERCORSO_PROGRESS="0")
        out["load_avg_start"] = [round(x, 2) for x in os.getloadavg()]
        runs = []
        for i in range(a.runs):
            if runs:   # only the last run's fresh-process copy is kept (for the check)
                shutil.rmtree(runs[-1].pop("_project"), ignore_errors=True)
            runs.append(_one_run(base, work, people, a.new, i, env))
        out["load_avg_end_of_runs"] = [round(x, 2) for x in os.getloadavg()]
        for key in ("build_s", "build_cpu_s", "build_in_process_s", "warm_build_s", "warm_build_cpu_s", "ingest_s"):
            out[key] = _median(runs, key)
        last = runs[-1]
        proj = last.pop("_project")
        for key in ("mode", "customers_rebuilt", "customers_retired", "identity_region_identifiers"):
            out[key] = last[key]
        out["runs"] = runs
        if not a.no_check:
            full = work / "full"
            shutil.copytree(proj, full)
            q = open_project(full)
            t0 = time.perf_counter()
            run_build(q, full=True)
            out["full_build_s"] = round(time.perf_counter() - t0, 2)
            q.close()
            p = open_project(proj)
            con = p.engine.con
            con.execute(f"ATTACH '{full / 'percorso.duckdb'}' AS fullb (READ_ONLY)")
            out["differences"] = _differences(con, "fullb")
            out["equal_to_full_build"] = not any(out["differences"].values())
            con.execute("DETACH fullb")
            p.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
