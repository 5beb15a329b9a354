"""Identity components alone at a given size, DuckDB and Spark local mode (issue 21): ONE JSON object.

    nice -n 15 .venv/bin/python bench/spark_components.py --events 10000000

The synthetic identifier graph of ``bench/spark.py`` (two cookies per person: a cookie–person
and a cookie–cookie link, ``events / 9.4`` people) solved by scipy (the resolver's solver), by
``percorso.identity.components.connected_components`` on DuckDB and on Spark; each answer is
checked to have one component per person. Why apart from ``bench/spark.py``: the 10M-event
ingest and build do not fit a session on the shared box, the label propagation alone does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clickstream_file import EVENTS_PER_PERSON  # noqa: E402
from spark import _jvm_peak_mb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="6g")
    a = ap.parse_args()

    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_cc

    from percorso.engine import Engine
    from percorso.engine.spark import SparkEngine
    from percorso.identity.components import connected_components
    from percorso.lake import write_manifest

    people = max(1, int(a.events / EVENTS_PER_PERSON))
    out: dict[str, Any] = {"events": a.events, "people": people, "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    person = np.arange(people, dtype=np.int64)
    ea = np.concatenate([person, people + 2 * person])
    eb = np.concatenate([people + 2 * person, people + 2 * person + 1])
    edges = pa.table({"a": ea, "b": eb})
    out["edges"] = int(ea.size)
    t = time.perf_counter()
    scipy_cc(coo_matrix((np.ones(ea.size, np.int8), (ea, eb)), shape=(3 * people, 3 * people)), directed=False)
    out["scipy_s"] = round(time.perf_counter() - t, 2)

    def solve(eng: Any, name: str) -> None:
        t = time.perf_counter()
        lab, out["rounds"] = connected_components(eng, eng.register_arrow("_bench_edges", edges))
        n = int(eng.execute(lab.label.nunique()))
        assert n == people, (n, people)
        out[f"{name}_s"] = round(time.perf_counter() - t, 2)

    solve(Engine(":memory:"), "duckdb")
    lake = Path(tempfile.mkdtemp(prefix="percorso-cc-"))
    write_manifest(lake, {"format": 1, "tables": {}})   # an empty lake: the engine needs one
    cores = a.master[a.master.find("[") + 1:-1] if a.master.startswith("local[") else "2"
    spark = SparkEngine(lake, master=a.master,
                        conf={"spark.sql.shuffle.partitions": cores, "spark.driver.memory": a.driver_memory})
    t = time.perf_counter()
    session = spark.session
    out["spark_session_s"] = round(time.perf_counter() - t, 2)
    solve(spark, "spark")
    out["jvm_peak_mb"] = _jvm_peak_mb(session)
    out["python_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
