"""Demo generator benchmark (issue 2, item 8: 1M customers in ≤ 2 minutes): prints ONE JSON object.

    .venv/bin/python bench/generate.py --customers 1000000    # the issue's size
    .venv/bin/python bench/generate.py --customers 200000     # development

The generator runs in a child process (``percorso generate``), so ``cpu_s`` (user + system)
and ``peak_rss_mb`` are its own. The machine is shared and noisy, so the run also times an
in-run baseline: pyarrow writing a CSV with as many rows as the generator wrote in all its
files (id, 32-hex key, timestamp text, amount), in the same folder. ``ratio`` =
``generate_s / baseline_s`` is the figure to compare between runs on a loaded machine.

Output: customers, seed, generate_s, cpu_s, user_s, sys_s, peak_rss_mb, total_rows,
output_mb, baseline_s, ratio, load_avg (1/5/15 min before the run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]


def baseline(rows: int, folder: Path) -> float:
    """Seconds pyarrow needs to write ``rows`` CSV rows of four typical columns (not timed: building them)."""
    rng = np.random.default_rng(0)
    keys = pa.array([f"{x:032x}" for x in rng.integers(0, 2**62, 4096)])
    stamps = pa.array([f"2024-03-{d:02d}T{h:02d}:15:07.123Z" for d in range(1, 29) for h in range(24)])
    table = pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "key": keys.take(pa.array(rng.integers(0, len(keys), rows))),
        "ts": stamps.take(pa.array(rng.integers(0, len(stamps), rows))),
        "amount": pa.array(rng.integers(0, 100_000, rows) / 100),
    })
    t0 = time.perf_counter()
    pacsv.write_csv(table, folder / "baseline.csv")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "percorso", "generate", "--customers", str(args.customers),
               "--seed", str(args.seed), "--out", str(out)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = json.loads((out / "ground_truth" / "summary.json").read_text())
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        rows = int(summary["total_rows"])
        base = baseline(rows, Path(tmp))
    user, sys_s = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    print(json.dumps({
        "customers": args.customers, "seed": args.seed, "generate_s": round(wall, 2),
        "cpu_s": round(user + sys_s, 2), "user_s": round(user, 2), "sys_s": round(sys_s, 2),
        "peak_rss_mb": round(after.ru_maxrss / 1024), "total_rows": rows, "output_mb": round(size / 2**20),
        "baseline_s": round(base, 2), "ratio": round(wall / base, 1), "load_avg": [round(x, 2) for x in load],
    }))


if __name__ == "__main__":
    main()
