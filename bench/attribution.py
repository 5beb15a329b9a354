"""Attribution benchmark: prints ONE JSON object.

    python bench/attribution.py --journeys 5000000     # full run (targets in docs/attribution.md)
    python bench/attribution.py --journeys 500000      # development

Synthetic journeys (numpy, not timed): 12 channels, geometric lengths, conversion probability
rising with some channels. Timed from the aggregated path table (what leaves the engine),
like ChannelAttribution's input: every rule-based model, exact Markov order 1 and 3, Shapley.
Time decay needs the times, so it is percorso's own engine expression
(:func:`percorso.attribution.aggregates.time_decay_expr`) over a DuckDB table of the journeys
(nodes and days before conversion), the table the runner builds the path table from.
Baseline: hand-written DuckDB SQL for first / last / linear over the same path table. Every figure is the **median** of ``--repeat`` runs (the machine is
shared, single runs are noisy); ``*_runs_s`` lists the runs of the slowest steps.

``--direct ignore_unless_alone`` (default, GA4's convention, ADR 0007): the models are timed on
the path table with Direct dropped from every path that has another step
(:func:`percorso.attribution.direct.drop_direct_paths`, timed as ``direct_rewrite_s``), and
time decay on journeys with the same rule. ``direct_engine_s`` times the engine's rule
(:func:`percorso.attribution.direct.drop_direct_touches`, a window count per journey) on the
touchpoint rows from touchpoints to path table, against the same pipeline without it
(``direct_engine_baseline_s``). ``--direct credit``: every touchpoint counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from percorso.attribution import markov, rules, shapley
from percorso.attribution.aggregates import journeys_expr, path_table_expr, time_decay_expr
from percorso.attribution.direct import IGNORE, drop_direct_paths, drop_direct_touches
from percorso.attribution.paths import from_arrow
from percorso.engine import Engine

CHANNELS = ["Direct", "Email", "Paid Search", "Organic Search", "Paid Social", "Display", "Referral",
            "Affiliates", "SMS", "Store / POS", "Call center", "Events & fairs"]


def synth(n: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Journeys → (path table, flat steps with days-before-conversion)."""
    rng = np.random.default_rng(seed)
    k = len(CHANNELS)
    lengths = np.minimum(rng.geometric(0.28, n), 14)
    pop = rng.dirichlet(np.ones(k) * 0.6)
    steps = rng.choice(k, size=int(lengths.sum()), p=pop).astype(np.int64)
    owner = np.repeat(np.arange(n), lengths)
    lift = rng.uniform(0.0, 0.08, k)
    p = 0.02 + np.bincount(owner, weights=lift[steps], minlength=n)
    conv = (rng.random(n) < np.minimum(p, 0.9)).astype(np.int64)
    value = np.where(conv == 1, rng.gamma(2.0, 40.0, n), 0.0)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    # path key: base-13 code per path of up to 14 steps would overflow; hash pairs instead
    h = np.zeros(n, dtype=np.uint64)
    mul = np.uint64(1099511628211)
    for pos in range(int(lengths.max())):
        ok = lengths > pos
        idx = offsets[:-1][ok] + pos
        h[ok] = (h[ok] ^ np.uint64(steps[idx] + 1).astype(np.uint64)) * mul
    h ^= lengths.astype(np.uint64)
    uniq, first_idx, inv = np.unique(h, return_index=True, return_inverse=True)
    conv_p = np.bincount(inv, weights=conv)
    val_p = np.bincount(inv, weights=value)
    null_p = np.bincount(inv, weights=1 - conv)
    names = np.asarray(CHANNELS, dtype=object)
    path_str = [" > ".join(names[steps[offsets[i]:offsets[i + 1]]]) for i in first_idx]
    paths = pa.table({"path": path_str, "total_conversions": conv_p, "total_conversion_value": val_p,
                      "total_null": null_p, "total_new": conv_p})
    days = rng.exponential(6.0, len(steps))
    flat = pa.table({"journey": owner, "node": pa.array(names[steps].tolist()), "days": days,
                     "converted": np.repeat(conv, lengths), "value": np.repeat(value, lengths)})
    return paths, flat


def timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    """(last result, median seconds, every run's seconds)."""
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    return out, statistics.median(runs), runs


def ga4(flat: pa.Table) -> pa.Table:
    """Flat steps with GA4's rule applied (numpy; the engine's version is timed separately)."""
    journey = flat.column("journey").to_numpy()
    direct = pa.compute.equal(flat.column("node"), "Direct").to_numpy(zero_copy_only=False)
    others = np.bincount(journey, weights=~direct)
    return flat.filter(pa.array(~direct | (others[journey] == 0)))


def touches_engine(flat: pa.Table) -> Engine:
    """The flat steps as the runner's touchpoint rows (customer, journey, times, node, outcome)."""
    base = np.datetime64("2025-01-01T00:00:00", "us")
    days = flat.column("days").to_numpy()
    engine = Engine(":memory:")
    engine.create_table("touches", pa.table({
        "customer_id": flat.column("journey"), "journey": np.zeros(flat.num_rows, np.int64),
        "event_id": np.arange(flat.num_rows), "occurred_at": base - (days * 86400e6).astype("timedelta64[us]"),
        "ref_at": np.full(flat.num_rows, base), "node": flat.column("node"),
        "direct": pa.compute.equal(flat.column("node"), "Direct"), "converted": flat.column("converted"),
        "value": flat.column("value"), "new_customer": flat.column("converted"),
    }))
    return engine


def journeys_engine(flat: pa.Table) -> Engine:
    """The journeys as the runner's per-journey table (:func:`aggregates.journeys_expr`)."""
    journey = flat.column("journey").to_numpy()
    lengths = np.bincount(journey)
    offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32))
    first = np.r_[0, np.cumsum(lengths)[:-1]]
    conv = flat.column("converted").to_numpy()[first]
    table = pa.table({
        "customer_id": pa.array(np.arange(lengths.size)).cast(pa.string()), "journey": np.zeros(lengths.size, np.int64),
        "nodes": pa.ListArray.from_arrays(offsets, flat.column("node").combine_chunks()),
        "days": pa.ListArray.from_arrays(offsets, flat.column("days").combine_chunks()),
        "converted": conv, "value": flat.column("value").to_numpy()[first], "new_customer": conv,
    })
    engine = Engine(":memory:")
    engine.create_table("journeys", table)
    return engine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--journeys", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5, help="runs per step; the JSON reports medians")
    ap.add_argument("--direct", default=IGNORE, choices=[IGNORE, "credit"])
    args = ap.parse_args()
    r = args.repeat
    path_arrow, flat = synth(args.journeys, args.seed)
    out: dict[str, object] = {"journeys": args.journeys, "distinct_paths": path_arrow.num_rows,
                              "channels": len(CHANNELS), "repeat": r, "direct": args.direct}
    paths, out["load_path_table_s"], _ = timed(lambda: from_arrow(path_arrow), r)
    if args.direct == IGNORE:
        raw = paths
        paths, out["direct_rewrite_s"], _ = timed(lambda: drop_direct_paths(raw, ["Direct"]), r)
        out["path_steps_before_after_rewrite"] = [int(raw.steps.size), int(paths.steps.size)]
        engine = touches_engine(flat)
        t = engine.table("touches")
        _, out["direct_engine_baseline_s"], _ = timed(
            lambda: engine.execute(path_table_expr(journeys_expr(t)).count()), r)
        _, out["direct_engine_s"], out["direct_engine_runs_s"] = timed(
            lambda: engine.execute(path_table_expr(journeys_expr(drop_direct_touches(t))).count()), r)
        engine.close()
        n_steps = flat.num_rows
        flat = ga4(flat)
        out["journey_steps_before_after"] = [n_steps, flat.num_rows]
    models = {
        "first": rules.first_touch, "last": rules.last_touch, "last_non_direct": rules.last_non_direct,
        "linear": rules.linear, "position": rules.position_based,
    }
    for name, fn in models.items():
        _, out[f"{name}_s"], _ = timed(lambda fn=fn: fn(paths), r)
    engine = journeys_engine(flat)
    journeys = engine.table("journeys")
    _, out["time_decay_s"], out["time_decay_runs_s"] = timed(lambda: engine.execute(time_decay_expr(journeys, 7.0)), r)
    out["time_decay_engine_rows"] = flat.num_rows
    engine.close()
    m1, out["markov_order1_s"], out["markov_order1_runs_s"] = timed(lambda: markov.markov(paths, 1), r)
    _, out["markov_order3_s"], out["markov_order3_runs_s"] = timed(lambda: markov.markov(paths, 3), r)
    sh, out["shapley_s"], _ = timed(lambda: shapley.shapley(paths, 15), r)
    con = duckdb.connect()
    con.register("paths_arrow", path_arrow)
    con.execute("CREATE TABLE paths AS SELECT * FROM paths_arrow")
    base = {
        "first": "SELECT split_part(path, ' > ', 1) AS node, sum(total_conversions) FROM paths GROUP BY 1",
        "last": "SELECT list_last(string_split(path, ' > ')) AS node, sum(total_conversions) FROM paths GROUP BY 1",
        "linear": """SELECT node, sum(total_conversions / n) FROM (
                       SELECT unnest(p) AS node, len(p) AS n, total_conversions
                       FROM (SELECT string_split(path, ' > ') AS p, total_conversions FROM paths)) GROUP BY 1""",
    }
    for name, sql in base.items():
        _, out[f"duckdb_sql_{name}_s"], _ = timed(lambda sql=sql: con.execute(sql).fetchall(), r)
    out["markov_order1_credit_sum"] = float(m1[:, 0].sum())
    out["shapley_credit_sum"] = float(sh[:, 0].sum())
    out["total_conversions"] = float(paths.conversions.sum())
    con.close()

    def rounded(v: object) -> object:
        if isinstance(v, float):
            return round(v, 4)
        return [round(x, 3) for x in v] if isinstance(v, list) else v

    print(json.dumps({k: rounded(v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
