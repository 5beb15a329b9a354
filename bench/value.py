"""Benchmark: RFM + BG/NBD + Gamma-Gamma fit + per-customer predictions.

    .venv/bin/python bench/value.py --customers 1000000 [--repeat 5]

Generates synthetic orders (not timed) into a DuckDB file, then runs the steps ``--repeat``
times and prints one JSON object with the **median** seconds of each step and of
``total_s`` (the median of the per-run totals), plus every run's total. Medians, because the
machine class has 2 cores that other jobs share: single runs swing by ±50 %. ``total_cpu_s``
(CPU seconds of this process, DuckDB's threads included) and ``load_avg_1m`` (at the end) tell
how much of a slow run was waiting for a core.

Steps, each exactly what the product runs:

* ``rfm_s``: the RFM analysis (``run(engine, RFMQuery(...))``): every customer's recency,
  frequency, monetary, channel split, quintile scores and segment, computed in the engine
  and aggregated to counts and value per segment (what ``percorso rfm`` prints);
* ``summary_s``: the BG/NBD calibration summary of every customer (temporary table);
* ``bgnbd_fit_s`` (grouping included), ``gamma_gamma_fit_s``: the maximum-likelihood fits
  with standard errors;
* ``predict_s``: per-customer predictions joined in the engine and written to the
  ``customer_value`` table (1 row per customer).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from percorso.analysis.base import run
from percorso.build.schema import ORDER_COLUMNS
from percorso.engine import Engine
from percorso.value.clv.pipeline import fit_clv
from percorso.value.rfm import RFMQuery

_ARROW = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64(),
          "BOOLEAN": pa.bool_(), "INTEGER": pa.int32(), "BIGINT": pa.int64()}


def synthetic_orders(n: int, seed: int = 7) -> pa.Table:
    """Orders from a BG/NBD-like process over two years (first purchase in year one)."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 365, n)
    lam = rng.gamma(0.5, 1 / 60, n)            # purchases per day while alive
    life = rng.exponential(300, n)
    span = np.minimum(730 - first, life)
    repeats = rng.poisson(lam * span)
    cust = np.repeat(np.arange(n), repeats + 1)
    is_first = np.concatenate([[True], cust[1:] != cust[:-1]])
    offs = (rng.random(len(cust)) * np.repeat(span, repeats + 1)).astype(np.int64)
    day = np.repeat(first, repeats + 1) + np.where(is_first, 0, offs)
    secs = rng.integers(8 * 3600, 21 * 3600, len(cust))
    base = np.datetime64("2023-01-01T00:00:00", "us")
    ts = base + (day * 86400 + secs).astype("timedelta64[s]")
    ids = pa.array([f"C{i:012x}" for i in range(n)]).take(pa.array(cust))
    m = len(cust)
    cols = {
        "order_id": pa.array(np.arange(m).astype(str)), "customer_id": ids,
        "occurred_at": pa.array(ts, type=pa.timestamp("us")),
        "revenue": pa.array(np.round(rng.gamma(6.0, 1.0 / np.repeat(rng.gamma(3.7, 1 / 15.0, n), repeats + 1)), 2)),
        "online": pa.array(rng.random(m) < 0.6), "is_return": pa.array(np.zeros(m, dtype=bool)),
    }
    arrays = [cols[c] if c in cols else pa.nulls(m, _ARROW[t]) for c, t in ORDER_COLUMNS]
    return pa.Table.from_arrays(arrays, names=[c for c, _ in ORDER_COLUMNS])


def one_run(eng: Engine) -> dict[str, float]:
    """Seconds of each step of one run."""
    out: dict[str, float] = {}
    t_all, c_all = time.perf_counter(), time.process_time()
    t0 = time.perf_counter()
    run(eng, RFMQuery(as_of=date(2025, 1, 1)))
    out["rfm_s"] = time.perf_counter() - t0
    fit = fit_clv(eng, calibration_end=date(2024, 12, 31))
    out.update(fit.timings)
    out["total_s"] = time.perf_counter() - t_all
    out["total_cpu_s"] = time.process_time() - c_all
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5, help="runs; the JSON reports medians")
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.duckdb"
    eng = Engine(db)
    orders = synthetic_orders(args.customers)
    eng.create_table("orders", orders)
    out: dict[str, Any] = {"customers": args.customers, "orders": orders.num_rows, "repeat": args.repeat}
    del orders
    runs = [one_run(eng) for _ in range(args.repeat)]
    for k in runs[0]:
        out[k] = round(statistics.median(r[k] for r in runs), 3)
    out["total_s_runs"] = [round(r["total_s"], 3) for r in runs]
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    out["customer_value_rows"] = eng.count("customer_value")
    print(json.dumps(out))
    eng.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
