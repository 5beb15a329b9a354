"""How much of the Parquet ingest is the write of the ``events`` rows alone: prints ONE JSON object.

    .venv/bin/python bench/ingest_floor.py --events 2000000
    .venv/bin/python bench/ingest_floor.py --events 2000000 --shape wide   # sixteen-column files

Why: ``bench/ingest.py`` compares ``percorso ingest`` with a plain ``CREATE TABLE AS SELECT *
FROM read_parquet(…)`` of six columns. The ingest writes the 42 columns of the event contract
(DESIGN §3), and DuckDB pays per column and row to append and compress, whether the value is a
hash, a per-file constant or NULL. This script measures that floor on the same files, in the
same run, in process CPU seconds (steadier than wall time on a shared machine):

- ``baseline_*``: the plain CTAS of the Parquet files (median of ``--repeats``);
- ``ingest_*``: ``ingest_files`` into a fresh project (once);
- ``write_all_*``: the rows the ingest stored, copied from an in-memory temporary table into a
  fresh table with the ``events`` DDL: no Parquet reading, typing, checks or dedup, only the write;
- ``groups``: the same write for each group of columns alone, into a table of just those
  columns (per-file constants, all-NULL columns, ``event_id``, the other filled columns),
  medians of ``--repeats``.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import baseline, write_files  # noqa: E402  (bench/ingest.py: same files, same baseline)

from percorso.engine.backend import quote_ident as qi  # noqa: E402
from percorso.engine.migrations import MIGRATIONS  # noqa: E402
from percorso.ingest import ingest_files  # noqa: E402
from percorso.project import init_project, open_project  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _groups(con, cols: list[str]) -> dict[str, list[str]]:  # noqa: ANN001
    """Columns of the stored rows by kind: all NULL, constant within each file, event id, other."""
    nulls = [c for c in cols if con.execute(f"SELECT count({qi(c)}) FROM _floor_src").fetchall()[0][0] == 0]
    files = con.execute("SELECT count(DISTINCT source_file) FROM _floor_src").fetchall()[0][0]
    consts = [c for c in cols if c not in nulls and con.execute(
        f"SELECT count(DISTINCT (source_file, {qi(c)})) FROM _floor_src").fetchall()[0][0] == files]
    other = [c for c in cols if c not in nulls and c not in consts and c != "event_id"]
    return {"per_file_constants": consts, "all_null": nulls, "event_id": ["event_id"], "other_filled": other}


def _write(con, cols: list[str], ddl: str | None) -> tuple[float, float]:  # noqa: ANN001
    """CPU and wall seconds to append ``cols`` of the stored rows to a fresh table.

    With ``ddl`` the table is ``events``-shaped; without, it has only ``cols`` (a column
    left out of an insert is still appended, as NULL, so groups need their own table).
    """
    con.execute("DROP TABLE IF EXISTS _floor_dst")
    names = ", ".join(qi(c) for c in cols)
    if ddl:
        con.execute(ddl.replace("CREATE TABLE IF NOT EXISTS events", "CREATE TABLE _floor_dst"))
    else:
        con.execute(f"CREATE TABLE _floor_dst AS SELECT {names} FROM _floor_src LIMIT 0")
    t0, c0 = time.perf_counter(), _cpu()
    con.execute(f"INSERT INTO _floor_dst ({names}) SELECT {names} FROM _floor_src")
    con.execute("CHECKPOINT")
    return _cpu() - c0, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shape", choices=("narrow", "wide"), default="narrow", help="the files of bench/ingest.py")
    args = ap.parse_args()
    ddl = MIGRATIONS[0][2][0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_files(root, args.events, args.files, shape=args.shape)
        base = [baseline(root, i) for i in range(args.repeats)]
        init_project(root / "p", name="bench")
        with open_project(root / "p") as project:
            t0, c0 = time.perf_counter(), _cpu()
            ingest_files(project, "clickstream", files)
            ingest_s, ingest_cpu = time.perf_counter() - t0, _cpu() - c0
            con = project.engine.con
            con.execute("CREATE TEMP TABLE _floor_src AS SELECT * FROM events")
            cols = [r[0] for r in con.execute("DESCRIBE _floor_src").fetchall()]
            groups = _groups(con, cols)
            runs = {name: [_write(con, cs, ddl if name == "all" else None) for _ in range(args.repeats)]
                    for name, cs in [("all", cols)] + list(groups.items())}
            con.execute("DROP TABLE IF EXISTS _floor_dst")
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
    base_cpu = statistics.median(r[1] for r in base)
    print(json.dumps({
        "events": args.events, "files": len(files), "shape": args.shape, "columns": len(cols),
        "baseline_s": round(statistics.median(r[0] for r in base), 2), "baseline_cpu_s": round(base_cpu, 2),
        "ingest_s": round(ingest_s, 2), "ingest_cpu_s": round(ingest_cpu, 2),
        "cpu_ratio": round(ingest_cpu / base_cpu, 2),
        "write_all_s": round(med["all"][1], 2), "write_all_cpu_s": round(med["all"][0], 2),
        "write_cpu_ratio": round(med["all"][0] / base_cpu, 2),
        "write_share_of_ingest_cpu": round(med["all"][0] / ingest_cpu, 2),
        "groups": {k: {"columns": len(groups[k]), "cpu_s": round(med[k][0], 2), "s": round(med[k][1], 2)}
                   for k in groups},
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
