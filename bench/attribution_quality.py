"""Attribution quality on the demo's ground truth: prints ONE JSON object.

    .venv/bin/percorso demo --customers 100000 --seed 7 --dir /tmp/att100k     # once (~4 min)
    .venv/bin/python bench/attribution_quality.py --project /tmp/att100k

Every model (Markov of order 1 and 3) credits the demo project's purchases; the Spearman rank
correlation of the credits per channel is reported against each truth of
:mod:`percorso.attribution.evaluate` (incremental conversions; per-exposure effect with
credits per exposed customer; the raw per-exposure effect), over all channels and without
``--exclude`` (default Loyalty, whose simulated effect is a membership, not a touchpoint).

``ideal``: the same models on the simulation's own purchase cycles (re-simulated from the
demo's customers and seed): one journey per cycle with exactly its contacts (navigational
visits to buy included), no identity loss, no lookback, no sign-in or review visits. It shows
what the demo's data (rather than the model) cost; it is not an upper bound, since a model can
be helped or hurt by what the demo adds (ADR 0006).

Both Direct conventions (``--direct``, default both): ``ignore_unless_alone`` (GA4's, the
product default since ADR 0007) and ``credit`` (every touchpoint counts); on the simulated
cycles the same rule is the path rewrite :func:`percorso.attribution.direct.drop_direct_paths`.

``truth_noise``: the truth is itself an estimate (``incremental_se``). Per model, the Spearman
against incremental purchases redrawn ``--noise-draws`` times as ``N(incremental, se)``
(seeded), paired with last touch on the same draws: the median gap to last touch, its 2.5-97.5 %
range, and the share of draws where the model ranks better than last touch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from percorso.analysis.base import run  # noqa: E402
from percorso.attribution import markov, rules, shapley  # noqa: E402
from percorso.attribution.analysis import AttributionQuery  # noqa: E402
from percorso.attribution.direct import IGNORE, drop_direct_paths  # noqa: E402
from percorso.attribution.evaluate import TRUTHS, exposed_customers, rank_correlations, read_truth  # noqa: E402
from percorso.attribution.paths import PathTable, from_arrow  # noqa: E402
from percorso.project import open_project  # noqa: E402


def demo_credits(folder: Path, direct: str) -> tuple[object, object, dict]:
    """Wide credits frame (all models, Markov orders 1 and 3) and customers exposed per node."""
    with open_project(folder, read_only=True) as proj:
        clock = time.perf_counter()
        res = run(proj.engine, AttributionQuery(models=("all",), direct=direct), proj.settings)
        m3 = run(proj.engine, AttributionQuery(models=("markov",), markov_order=3, direct=direct), proj.settings)
        exposed = exposed_customers(proj.engine, res._runner.touches())
        seconds = time.perf_counter() - clock
    frame = res.frame.merge(m3.frame[["node", "markov_3"]], on="node", how="left")
    meta = {"totals": res.meta["totals"],
            "conversions_without_touchpoints": res.meta["conversions_without_touchpoints"], "n_paths": res.meta["n_paths"], "lookback_days": res.meta["lookback_days"], "seconds": round(seconds, 1)}
    return frame, exposed, meta


def simulated_paths(customers: int, seed: int) -> tuple[PathTable, object]:
    """One journey per simulated purchase cycle (its touches in time order), and the truth."""
    from percorso.generate.catalog import CHANNELS
    from percorso.generate.journeys import simulate
    from percorso.generate.people import make_persons

    rng = np.random.default_rng(seed)  # the draws of percorso.generate.generate, in its order
    people = make_persons(customers, rng, seed)
    tc, pur, _, known = simulate(people, rng)
    key = tc.person.astype(np.int64) * 3 + tc.cycle
    order = np.lexsort((tc.t, key))
    key, channel = key[order], tc.channel[order]
    cycles, start = np.unique(key, return_index=True)
    bought = np.isin(cycles, pur.person.astype(np.int64) * 3 + pur.cycle).astype(float)
    names = pa.array([c.name for c in CHANNELS]).take(pa.array(channel))
    paths = pa.ListArray.from_arrays(pa.array(np.r_[start, key.size].astype(np.int32)), names)
    table = pa.table({"path": paths, "total_conversions": bought, "total_null": 1.0 - bought,
                      "total_conversion_value": bought, "total_new": bought})
    return from_arrow(table), known


def ideal_frame(paths: PathTable) -> object:
    import pandas as pd

    credits = {
        "first": rules.first_touch(paths), "last": rules.last_touch(paths),
        "last_non_direct": rules.last_non_direct(paths), "linear": rules.linear(paths),
        "position": rules.position_based(paths), "markov_1": markov.markov(paths, 1),
        "markov_3": markov.markov(paths, 3), "shapley": shapley.shapley(paths),
        "shapley_rate": shapley.shapley_rate(paths),
    }
    return pd.DataFrame({"node": list(paths.nodes), **{k: v[:, 0] for k, v in credits.items()}})


def truth_noise(frame: object, truth: object, exclude: list[str], draws: int, seed: int = 0) -> dict:
    """Per model: Spearman minus last touch's, against incremental purchases redrawn from
    ``N(incremental, incremental_se)``; median, 2.5-97.5 % range, share of draws above last."""
    from scipy.stats import rankdata

    merged = frame.merge(truth, left_on="node", right_on="channel", how="inner")
    merged = merged[~merged["node"].isin(exclude)]
    inc = merged["incremental_conversions"].to_numpy(float)
    se = merged["incremental_se"].to_numpy(float) if "incremental_se" in merged else np.zeros_like(inc)
    rng = np.random.default_rng(seed)
    t = rankdata(inc + rng.standard_normal((draws, inc.size)) * se, axis=1)
    t = (t - t.mean(axis=1, keepdims=True)) / t.std(axis=1, keepdims=True)

    def rho(col: str) -> np.ndarray:
        c = rankdata(merged[col].to_numpy(float))
        c = (c - c.mean()) / c.std()
        return (t * c).mean(axis=1)

    models = [m for m in frame.columns if m not in ("node", "spread")]
    last = rho("last")
    out = {}
    for m in models:
        d = rho(m) - last
        out[m] = {"rho_median": round(float(np.median(rho(m))), 3), "gap_median": round(float(np.median(d)), 3),
                  "gap_95": [round(float(x), 3) for x in np.quantile(d, [0.025, 0.975])],
                  "share_above_last": round(float((d > 0).mean()), 3)}
    return out


def table(rho: object) -> dict:
    """{channels, truth: {model: rho}} from :func:`rank_correlations`' frame."""
    def r(v: float) -> float | None:
        return None if v != v else round(float(v), 3)

    out: dict = {"channels": int(rho["channels"].iloc[0])}
    for truth in TRUTHS:
        out[truth] = {m: r(v) for m, v in rho[truth].items()}
    return out


def main() -> None:
    import pandas as pd

    ap = argparse.ArgumentParser()
    ap.add_argument("--project", type=Path, required=True, help="a folder made by `percorso demo`")
    ap.add_argument("--exclude", default="Loyalty", help="comma list of channels left out of the 2nd view")
    ap.add_argument("--no-ideal", action="store_true", help="skip the re-simulated best case")
    ap.add_argument("--direct", default=f"{IGNORE},credit", help="comma list of Direct conventions")
    ap.add_argument("--noise-draws", type=int, default=2000, help="redraws of the truth within its error")
    args = ap.parse_args()
    truth = read_truth(args.project / "ground_truth" / "channel_effects.csv")
    params = json.loads((args.project / "demo.json").read_text(encoding="utf-8"))
    exclude = [c for c in args.exclude.split(",") if c]
    view = f"without_{'_'.join(e.replace(' ', '') for e in exclude)}"
    out: dict = {"project": str(args.project), **params, "demo": {}, "ideal": {}, "truth_noise": {}}
    sim = None if args.no_ideal else simulated_paths(params["customers"], params["seed"])
    for direct in args.direct.split(","):
        frame, exposed, meta = demo_credits(args.project, direct)
        out["demo"][direct] = {"all_channels": table(rank_correlations(frame, truth, exposed)),
                               view: table(rank_correlations(frame, truth, exposed, exclude=exclude)), **meta}
        noise = {"demo_all_channels": truth_noise(frame, truth, [], args.noise_draws),
                 f"demo_{view}": truth_noise(frame, truth, exclude, args.noise_draws)}
        if sim is not None:
            paths, known = sim
            ideal = ideal_frame(drop_direct_paths(paths, ["Direct"]) if direct == IGNORE else paths)
            cycles = pd.Series(known.exposed.astype(float), index=truth["channel"].to_numpy())
            out["ideal"][direct] = {"all_channels": table(rank_correlations(ideal, truth, cycles)),
                                    view: table(rank_correlations(ideal, truth, cycles, exclude=exclude))}
            noise["ideal"] = truth_noise(ideal, truth, [], args.noise_draws)
        out["truth_noise"][direct] = noise
    print(json.dumps(out))


if __name__ == "__main__":
    main()
