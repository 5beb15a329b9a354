"""The same project on DuckDB and on Spark local mode, step by step (issue 21): prints ONE JSON object.

    .venv/bin/python bench/spark.py --events 1000000
    flock /tmp/percorso-heavy.lock flock /tmp/percorso-bench.lock nice -n 5 .venv/bin/python bench/spark.py \
        --events 10000000 --files /tmp/percorso-bench-data --driver-memory 6g --duckdb-memory 4GB

A clickstream Parquet file of N events (``bench/clickstream_file.py``) is ingested and built on
DuckDB, exported to the Parquet lake, then each step runs on both engines in this process:

- ``build``: on DuckDB ``run_build`` (identity resolution, touchpoints, orders, customers);
  on Spark ``percorso.build.lake_build.build_lake`` from the lake (identity components of the
  exported graph, then the same Ibis build code), its tables written back to the lake and
  checked equal to DuckDB's (rows per table, revenue totals, the identity partition's size);
- ``identity``: connected components of a synthetic identifier graph with two cookies per
  person (2 edges and 3 nodes per person), with scipy (the resolver's solver), in DuckDB and in
  Spark (``percorso.identity.components``): the label propagation alone, at a known size;
- the main analyses: transitions, paths top, a three-step funnel, journey map, RFM, cohorts;
  every answer is checked equal on both engines (rows; numbers to 1e-9).

Seconds per step; ``spark_session_s`` is the JVM start; peak memory is this process's maximum
resident set (``python_peak_mb``: DuckDB runs inside it) and the Spark JVM's (``jvm_peak_mb``,
VmHWM). ``load_avg`` is the machine's load at the start and at the end (2 cores: above 2,
other work competed). Spark's shuffle partitions default to the master's cores.

No step has a time limit; a step that fails is recorded under ``errors`` (one line) and the
run goes on, so one failure does not lose the figures of the others. Both engines' memory is
bounded explicitly (``--duckdb-memory``, ``--driver-memory``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clickstream_file import EVENTS_PER_PERSON, clickstream_file  # noqa: E402


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 2)


def _jvm_peak_mb(session: Any) -> float | None:
    """VmHWM of the Spark JVM (the gateway's child process), in MB."""
    try:
        pid = session.sparkContext._gateway.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except Exception:  # noqa: BLE001 - not Linux, or Spark Connect (no local JVM)
        return None
    return None


def _num(x: Any) -> float:
    import math

    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _same(a: Any, b: Any) -> bool:
    import pandas as pd

    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    cols = list(a.columns)
    try:
        pd.testing.assert_frame_equal(a.sort_values(cols).reset_index(drop=True), b.sort_values(cols).reset_index(drop=True),
                                      check_dtype=False, rtol=1e-9, atol=1e-9)
    except AssertionError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--work", type=Path, default=None, help="keep the project here (default: a temp folder)")
    ap.add_argument("--driver-memory", default="8g", help="the Spark JVM's heap (local mode: driver = executor)")
    ap.add_argument("--partitions", type=int, default=None, help="shuffle partitions (default: the master's cores)")
    ap.add_argument("--files", type=Path, default=None,
                    help="folder of the clickstream files (reused when present; default: inside --work)")
    ap.add_argument("--duckdb-memory", default="4GB", help="the project's [engine] memory_limit (DuckDB)")
    a = ap.parse_args()

    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_cc

    from percorso.analysis.base import run
    from percorso.api import (
        CohortQuery, FunnelQuery, JourneyMapQuery, PathsQuery, RFMQuery, TransitionsQuery, ingest_files,
        init_project, open_project, run_build,
    )
    from percorso.build.lake_build import build_lake
    from percorso.engine.spark import SparkEngine
    from percorso.identity.components import connected_components
    from percorso.lake import export_lake

    work = a.work or Path(tempfile.mkdtemp(prefix="percorso-spark-"))
    out: dict[str, Any] = {"events": a.events, "master": a.master, "duckdb_s": {}, "spark_s": {}, "equal": {},
                           "errors": {}, "duckdb_memory_limit": a.duckdb_memory,
                           "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        path = clickstream_file(a.events, a.files or work / "files")
        proj = work / "p"
        cfg = init_project(proj)
        cfg.write_text(cfg.read_text(encoding="utf-8").replace(
            '# memory_limit = "8GB"', f'memory_limit = "{a.duckdb_memory}"', 1), encoding="utf-8")
        with open_project(proj) as p:
            _, out["duckdb_s"]["ingest"] = _timed(lambda: ingest_files(p, "clickstream", [path]))
            build, out["duckdb_s"]["build"] = _timed(lambda: run_build(p))
            for step in ("identity", "touchpoints", "orders", "customers"):
                out["duckdb_s"][f"build_{step}"] = build.seconds.get(step)
        print(json.dumps(out), file=sys.stderr, flush=True)
        with open_project(proj, read_only=True) as p:
            _, out["lake_export_s"] = _timed(lambda: export_lake(p.engine, p.lake_path))
            out["lake_mb"] = round(sum(f.stat().st_size for f in p.lake_path.rglob("*.parquet")) / 2**20, 1)
            print(json.dumps(out), file=sys.stderr, flush=True)
            duck = p.engine
            cores = a.master[a.master.find("[") + 1:-1] if a.master.startswith("local[") else "2"
            cores = str(os.cpu_count() or 2) if cores == "*" else cores
            conf = {"spark.sql.shuffle.partitions": str(a.partitions or cores), "spark.driver.memory": a.driver_memory}
            out["spark_conf"] = conf
            spark = SparkEngine(p.lake_path, master=a.master, conf=conf, time_zone=p.settings.project.time_zone)
            _, out["spark_session_s"] = _timed(lambda: spark.session)
            out["jvm_pid"] = spark.session.sparkContext._gateway.proc.pid

            try:
                report, out["spark_s"]["build"] = _timed(lambda: build_lake(p, spark))
                out["spark_build_rounds"] = report.rounds
                out["spark_build_solver"] = report.solved   # what went to the per-component solver (ADR 0044)
                for step in ("identity", "touchpoints", "orders", "customers", "write"):
                    out["spark_s"][f"build_{step}"] = report.seconds.get(step)
                for name in ("touchpoints", "orders", "customers"):
                    d_rows = duck.count(name)
                    # a sum over no rows is NULL (Spark's pandas: NaN): 0 here
                    d_rev = 0.0 if name == "touchpoints" else _num(duck.execute(duck.table(name).revenue.sum()))
                    s_rev = 0.0 if name == "touchpoints" else _num(spark.execute(spark.table(name).revenue.sum()))
                    out["equal"][f"build_{name}"] = (report.rows[name] == d_rows and abs(d_rev - s_rev) <= 1e-9 * max(1, abs(d_rev)))
                parts = [int(e.execute(e.table("identity_map").customer_id.nunique())) for e in (duck, spark)]
                out["equal"]["build_identity_customers"] = parts[0] == parts[1]
            except Exception as exc:  # noqa: BLE001 - recorded; the analyses still run on the exported lake
                out["errors"]["spark_build"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            out["jvm_peak_mb"] = _jvm_peak_mb(spark.session)
            print(json.dumps(out), file=sys.stderr, flush=True)

            people = max(1, int(a.events / EVENTS_PER_PERSON))
            person = np.arange(people, dtype=np.int64)
            ea = np.concatenate([person, people + 2 * person])
            eb = np.concatenate([people + 2 * person, people + 2 * person + 1])
            edges = pa.table({"a": ea, "b": eb})
            _, out["identity_components_scipy_s"] = _timed(lambda: scipy_cc(
                coo_matrix((np.ones(ea.size, np.int8), (ea, eb)), shape=(3 * people, 3 * people)), directed=False))
            for name, eng in (("duckdb_s", duck), ("spark_s", spark)):
                def cc(eng: Any = eng) -> int:
                    lab, rounds = connected_components(eng, eng.register_arrow("_bench_edges", edges))
                    n = int(eng.execute(lab.label.nunique()))
                    eng.drop_temp(lab)
                    assert n == people, (n, people)
                    return rounds
                try:
                    out["identity_rounds"], out[name]["identity_components"] = _timed(cc)
                except Exception as exc:  # noqa: BLE001 - recorded, the analyses still run
                    out["errors"][f"identity_components_{name[:-2]}"] = f"{type(exc).__name__}: {str(exc)[:300]}"

            queries = {
                "transitions": TransitionsQuery(), "paths_top": PathsQuery(),
                "funnel": FunnelQuery(steps=["product_view", "cart", "purchase"]),
                "journey_map": JourneyMapQuery(), "rfm": RFMQuery(), "cohorts": CohortQuery(),
            }
            for name, q in queries.items():
                try:
                    fa, out["duckdb_s"][name] = _timed(lambda q=q: run(duck, q, p.settings).to_frame())
                    fb, out["spark_s"][name] = _timed(lambda q=q: run(spark, q, p.settings).to_frame())
                    out["equal"][name] = _same(fa, fb)
                except Exception as exc:  # noqa: BLE001 - recorded, the next analysis still runs
                    out["errors"][name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                out["jvm_peak_mb"] = _jvm_peak_mb(spark.session)
                out["python_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
                print(json.dumps(out), file=sys.stderr, flush=True)   # partial figures, step by step
            out["jvm_peak_mb"] = _jvm_peak_mb(spark.session)
        out["python_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out))
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
