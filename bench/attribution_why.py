"""Why the models rank the demo's channels as they do: prints ONE JSON object (ADR 0006).

    .venv/bin/python bench/attribution_why.py --project /tmp/seq100k    # a `percorso demo` folder

``channels``: per channel, on the simulation's own purchase cycles (re-simulated from the demo's
customers and seed): contacts, the share that are navigational visits to buy, the conversion
rate of the cycles it reached and of those it did not (what a path model sees), and the truth
(incremental purchases, per reached cycle). A channel whose presence goes with buying but
whose effect is small (Direct) or the reverse (push channels met while unengaged) is where
every model that reads paths goes wrong.

``spearman``: rank correlation with incremental purchases of every model, Markov order 1-4,
on the demo's journeys and on the simulated cycles (``ideal``): as is (``direct = "credit"``),
with Direct ignored unless a journey has nothing else (GA4's convention, the product default
since ADR 0007), and without Direct and Loyalty.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from attribution_quality import simulated_paths  # noqa: E402

from percorso.attribution import aggregates as A  # noqa: E402
from percorso.attribution import markov, rules, shapley  # noqa: E402
from percorso.attribution.analysis import AttributionQuery, AttributionRunner  # noqa: E402
from percorso.attribution.direct import drop_direct_paths  # noqa: E402
from percorso.attribution.evaluate import read_truth  # noqa: E402
from percorso.attribution.paths import PathTable  # noqa: E402
from percorso.project import open_project  # noqa: E402


def demo_paths(folder: Path) -> PathTable:
    with open_project(folder, read_only=True) as proj:
        query = AttributionQuery(models=("last",), direct="credit")  # as is; GA4's rule applied below
        runner = AttributionRunner(proj.engine, query, proj.settings)
        return A.load_path_table(proj.engine, A.journeys_expr(runner.touches()))


def credits(paths: PathTable) -> pd.DataFrame:
    models = {"first": rules.first_touch, "last": rules.last_touch, "last_non_direct": rules.last_non_direct,
              "linear": rules.linear, "position": rules.position_based, "shapley": shapley.shapley,
              "shapley_rate": shapley.shapley_rate}
    out = {k: f(paths)[:, 0] for k, f in models.items()}
    out |= {f"markov_{k}": markov.markov(paths, k)[:, 0] for k in (1, 2, 3, 4)}
    return pd.DataFrame(out, index=list(paths.nodes))


def spearman(frame: pd.DataFrame, truth: pd.Series, drop: tuple[str, ...] = ()) -> dict[str, float]:
    t = truth.reindex(frame.index)
    ok = t.notna() & ~frame.index.isin(drop)
    return {m: round(float(spearmanr(frame.loc[ok, m], t[ok]).statistic), 3) for m in frame.columns}


def channel_table(customers: int, seed: int) -> list[dict]:
    from percorso.generate.catalog import CHANNEL_NAMES
    from percorso.generate.journeys import simulate
    from percorso.generate.people import make_persons

    rng = np.random.default_rng(seed)
    tc, pur, _, known = simulate(make_persons(customers, rng, seed), rng)
    key = tc.person.astype(np.int64) * 3 + tc.cycle
    cycles, inv = np.unique(key, return_inverse=True)
    bought = np.isin(cycles, pur.person.astype(np.int64) * 3 + pur.cycle)
    rows = []
    for ch, name in enumerate(CHANNEL_NAMES):
        hit = np.zeros(cycles.size, bool)
        hit[inv[tc.channel == ch]] = True
        m = tc.channel == ch
        rows.append({"channel": name, "contacts": int(m.sum()),
                     "navigational_share": round(float(tc.nav[m].mean()), 3) if m.any() else None,
                     "conversion_rate_reached": round(float(bought[hit].mean()), 3) if hit.any() else None,
                     "conversion_rate_not_reached": round(float(bought[~hit].mean()), 3),
                     "incremental": float(known.incremental[ch]), "incremental_se": round(float(known.se[ch]), 1),
                     "incremental_per_reached_cycle": round(float(known.incremental[ch] / max(known.exposed[ch], 1)), 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", type=Path, required=True, help="a folder made by `percorso demo`")
    args = ap.parse_args()
    params = json.loads((args.project / "demo.json").read_text(encoding="utf-8"))
    truth = read_truth(args.project / "ground_truth" / "channel_effects.csv").set_index("channel")
    truth = truth["incremental_conversions"]
    ideal, _ = simulated_paths(params["customers"], params["seed"])
    out: dict = {"project": str(args.project), **params,
                 "channels": channel_table(params["customers"], params["seed"]), "spearman": {}}
    for name, paths in (("demo", demo_paths(args.project)), ("ideal", ideal)):
        views = {"as_is": credits(paths), "direct_ignored_unless_alone": credits(drop_direct_paths(paths, ["Direct"]))}
        out["spearman"][name] = {view: spearman(frame, truth) for view, frame in views.items()}
        out["spearman"][name]["without_Direct_Loyalty"] = spearman(views["as_is"], truth, ("Direct", "Loyalty"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
