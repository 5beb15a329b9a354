"""Does the holdout measure the truth? The demo's journeys over many seeds, against the known effects.

For each seed: ``percorso demo`` (generate, ingest, build), then the two shipped e-mail journeys
run over the simulated period and the simulated people respond (percorso.activation.demo:
the cart-abandonment e-mail has a true effect per persona, browse abandonment none), the
reaction orders are ingested and built, and the holdout results are compared with the truth:

- coverage: the cart journey's 95 % interval of the conversion uplift contains the true
  expected uplift (target: at least 18 of 20 seeds);
- the inert journey is reported as not significant (target: at least 18 of 20);
- tick latency: how long one scheduler beat (enrol + advance + send) takes after a build.

``--latency`` measures trigger-to-send under the collector's benchmark load instead
(:mod:`activation_latency`: a timing bench, run it under the shared lock).

Prints one JSON object. Example (the issue's run; minutes per seed at 20,000 customers)::

    python bench/activation.py --seeds 20 --customers 20000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path


def one_seed(folder: Path, seed: int, customers: int) -> dict:
    from percorso.activation.demo import simulate
    from percorso.activation.service import tick
    from percorso.demo.run import run_demo
    from percorso.project import open_project

    clock = time.perf_counter()
    run_demo(folder, customers=customers, seed=seed)
    demo_s = time.perf_counter() - clock
    with open_project(folder) as project:
        clock = time.perf_counter()
        out = simulate(project, seed=seed)
        sim_s = time.perf_counter() - clock
        t = project.engine.table("touchpoints")
        end = project.engine.execute(t.aggregate(end=t.occurred_at.max()))["end"].iloc[0].to_pydatetime()
        beats = []
        for k in range(5):  # beats after the last build: nothing new due, the steady cost of a beat
            start = time.perf_counter()
            tick(project, now=end + timedelta(minutes=k), senders={"email": lambda m, p: ("sent", None)})
            beats.append(time.perf_counter() - start)
    cart, inert = out["journeys"]["cart_abandonment"], out["journeys"]["browse_abandonment"]
    b = cart["before"]
    # Where the error comes from: the arms' conversions before any reaction (randomisation
    # noise of the holdout), the reactions drawn against their expectation, and anything left
    # (conversions the reactions added or removed beyond themselves: must be zero).
    extra_t = int(cart["conversions_treated"]) - b["conversions_treated"] - b["reactions"]
    extra_c = int(cart["conversions_control"]) - b["conversions_control"]
    return {
        "seed": seed, "demo_seconds": round(demo_s, 1), "simulate_seconds": round(sim_s, 1),
        "messages": out["messages"], "reaction_orders": out["reaction_orders"],
        "cart_true_uplift": cart["true_uplift"], "cart_uplift": cart["uplift"], "cart_low": cart["uplift_low"],
        "cart_high": cart["uplift_high"], "cart_p": cart["p_value"], "cart_n_treated": cart["n_treated"],
        "cart_n_control": cart["n_control"],
        "cart_covered": bool(cart["uplift_low"] <= cart["true_uplift"] <= cart["uplift_high"]),
        "inert_uplift": inert["uplift"], "inert_p": inert["p_value"], "inert_significant": bool(inert["significant"]),
        "beat_seconds_median": round(statistics.median(beats), 3),
        "cart_error": cart["uplift"] - cart["true_uplift"],
        "cart_baseline_gap": b["conversions_treated"] / max(1, b["n_treated"])
        - b["conversions_control"] / max(1, b["n_control"]),
        "cart_reaction_gap": b["reactions"] / max(1, b["n_treated"]) - cart["true_uplift"],
        "cart_reactions": b["reactions"], "cart_extra_treated": extra_t, "cart_extra_control": extra_c,
        "cart_enrolments_changed": [b["n_treated"] - int(cart["n_treated"]), b["n_control"] - int(cart["n_control"])],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def saved_rows(paths: list[Path]) -> dict[int, dict]:
    """Per-seed rows (one JSON object a line, as each seed prints them) by seed, first one kept."""
    rows: dict[int, dict] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith('{"seed"'):
                row = json.loads(line)
                rows.setdefault(int(row["seed"]), row)
    return dict(sorted(rows.items()))


def main() -> None:
    if "--latency" in sys.argv:  # trigger-to-send under the collector's load (bench/activation_latency.py)
        from activation_latency import main as latency

        latency(sys.argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--dir", type=Path, default=None, help="keep the projects here (default: a temporary folder)")
    ap.add_argument("--rows", type=Path, nargs="+", help="only sum up per-seed rows already printed (stderr of runs "
                    "over parts of the seeds, in parallel): the first row of each seed counts")
    args = ap.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    if args.rows:
        rows = list(saved_rows(args.rows).values())
        args.seeds = len(rows)
    else:
        base = args.dir or Path(tempfile.mkdtemp(prefix="percorso-activation-bench-"))
        rows = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            rows.append(one_seed(base / f"seed{seed}", seed, args.customers))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    beats = sorted(r["beat_seconds_median"] for r in rows)
    errors = [r["cart_error"] for r in rows]
    print(json.dumps({
        "seeds": args.seeds, "customers": args.customers, "seed_list": [r["seed"] for r in rows],
        "cart_interval_covers_truth": sum(r["cart_covered"] for r in rows),
        "cart_significant": sum(r["cart_p"] < 0.05 for r in rows),
        "inert_not_significant": sum(not r["inert_significant"] for r in rows),
        "beat_seconds_p95": beats[min(len(beats) - 1, int(0.95 * len(beats)))],
        "cart_mean_error": statistics.mean(errors),
        "cart_error_se": statistics.stdev(errors) / len(errors) ** 0.5 if len(errors) > 1 else None,
        "cart_extra_conversions": [sum(r["cart_extra_treated"] for r in rows), sum(r["cart_extra_control"] for r in rows)],
        "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
        "per_seed": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
