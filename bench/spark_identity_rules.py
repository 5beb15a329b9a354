"""The identity rules on Spark next to DuckDB on a generated demo: prints ONE JSON object.

    flock /tmp/percorso-bench.lock nice -n 5 .venv/bin/python bench/spark_identity_rules.py --customers 16000

What ``percorso lake build`` spends on identity (ADR 0039, 0044) on data with real identity
work (``percorso demo``: shared devices, shop phones, several cards, untrusted web logins;
the clickstream file of ``bench/spark.py`` has one identifier per event, so nothing links
there). The demo is built on DuckDB, with analytics resting on consent and consent withheld
for some cookies (the records of ``tests/identity/helpers.add_analytics_consent``) and exported
to the lake. Then :func:`percorso.identity.engine_rules.resolve_in_engine` runs on DuckDB (over
the database) and on Spark local mode (over the lake's events: the occurrences, the consent
join, the candidate components, the rule split, the per-component solver in Python workers,
the device link, the event keys), and the partitions are compared with each other and with the
resolver's (the database's ``identity_map``). Seconds, what the
solver got, the JVM's peak memory (VmHWM), the load at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=16000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="3g")
    ap.add_argument("--work", type=Path, default=None, help="keep the project here (reused when present)")
    a = ap.parse_args()

    from percorso.build import run_build
    from percorso.demo import run_demo
    from percorso.engine.spark import SparkEngine
    from percorso.identity.engine_rules import resolve_in_engine
    from percorso.lake import export_lake
    from percorso.project import open_project
    from tests.identity.helpers import add_analytics_consent

    out: dict = {"customers": a.customers, "master": a.master, "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    work = a.work or Path(tempfile.mkdtemp(prefix="percorso-spark-rules-"))
    folder = work / f"demo-{a.customers}"
    if not (folder / "lake" / "_percorso_lake.json").exists():
        run_demo(folder, customers=a.customers, seed=7)
        toml = folder / "percorso.toml"
        toml.write_text(toml.read_text(encoding="utf-8") + '\n[privacy.legal_basis]\nanalytics = "consent"\n',
                        encoding="utf-8")
        with open_project(folder) as p:
            out["consent_records"] = add_analytics_consent(p)
            run_build(p, full=True, refresh=False)
            t0 = time.perf_counter()
            export_lake(p.engine, p.lake_path)
            out["lake_export_s"] = round(time.perf_counter() - t0, 2)

    def groups(engine, nodes) -> set:  # noqa: ANN001
        df = engine.execute(nodes.select("id_type", "id_value", "label"))
        return {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in df.groupby("label")}

    with open_project(folder, read_only=True) as p:
        e = p.engine
        out["events"] = e.count("events")
        t0 = time.perf_counter()
        d = resolve_in_engine(p, e, e.table("events"))
        out["duckdb_s"] = round(time.perf_counter() - t0, 2)
        want = groups(e, d.nodes)
        s = SparkEngine(p.lake_path, master=a.master, conf={"spark.driver.memory": a.driver_memory,
                                                            "spark.sql.shuffle.partitions": "2"},
                        time_zone=p.settings.project.time_zone)
        t0 = time.perf_counter()
        _ = s.session
        out["spark_session_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        r = resolve_in_engine(p, s, s.table("events"))
        n = int(s.execute(r.nodes.count()))
        out["spark_s"] = round(time.perf_counter() - t0, 2)
        out["identifiers"], out["rounds"], out["solver"] = n, r.rounds, r.solved
        got = groups(s, r.nodes)
        out["equal_partition"] = got == want
        ref = e.execute(e.table("identity_map").select("id_type", "id_value", "customer_id"))
        out["equal_to_resolver"] = got == {frozenset(zip(g.id_type, g.id_value, strict=True))
                                           for _, g in ref.groupby("customer_id")}
        try:
            pid = s.session.sparkContext._gateway.proc.pid
            hwm = [ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmHWM:")]
            out["jvm_peak_mb"] = round(int(hwm[0].split()[1]) / 1024, 1)
        except (OSError, AttributeError, IndexError):
            out["jvm_peak_mb"] = None
        s.close()
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
