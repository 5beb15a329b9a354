"""Does a Markov chain over (channel, stage) states rank channels better than last touch?

Prints ONE JSON object::

    .venv/bin/python bench/attribution_state.py --project /tmp/S_s7 [--project /tmp/S_s42 ...]

Why: ADR 0005-0007 found that presence-based models (Markov, Shapley) tie with last touch on
the demo because they credit reach; "what would change the conclusion is a model that
conditions on the person's state". The touchpoints carry an observed ``stage`` (from event
types, ``[stages]`` rules). A chain whose states are (channel, stage) conditions on where the
data says the person is in the funnel; its removal effects are rolled up to channels and
ranked against the simulation's ``incremental_conversions`` as in
``bench/attribution_quality.py`` (same journeys: the product's rules, GA4's Direct
convention, purchase conversion, 30-day lookback).

Variants, fixed before any figure was taken (every one is reported):

- ``touch``: the credited touchpoint's own stage (the literal "touchpoint property" level);
- ``session``: the deepest stage its session reaches, over every event of the session but
  the conversion's own event types (a landing page alone is consideration, a visit with a
  cart is decision);
- ``prior``: the deepest stage the customer reached *before* this touchpoint since their last
  conversion, over every event (``none`` when nothing came before): the person's state when
  the channel meets them.

Per variant and Markov order (1, 2, 3): ``per_channel`` removes every state of a channel at
once (credit = normalised channel removal effects), ``per_state`` removes one state at a time
(credit = state credits summed per channel). Shapley is not run: its characteristic function
is over channel *sets*, so the stage does not enter it.

The state label is carried through the product's journey rules in the ``campaign`` column
(level ``channel_campaign``, node ``channel | state``) of a touchpoints expression with the
stage added: the journey rules stay the product's, untouched, and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ibis  # noqa: E402
from attribution_quality import table, truth_noise  # noqa: E402

from percorso.attribution import aggregates as A  # noqa: E402
from percorso.attribution import markov, rules  # noqa: E402
from percorso.attribution.analysis import AttributionQuery, AttributionRunner  # noqa: E402
from percorso.attribution.evaluate import rank_correlations, read_truth  # noqa: E402
from percorso.attribution.paths import PathTable  # noqa: E402
from percorso.journeys.stages import stage_rank, stage_settings  # noqa: E402
from percorso.project import open_project  # noqa: E402

VARIANTS = ("touch", "session", "prior")
SEP = " | "


class StagedEngine:
    """The project's engine, except that ``touchpoints`` carries a state label in ``campaign``."""

    def __init__(self, engine: Any, touchpoints: Any) -> None:
        self._engine, self._tp = engine, touchpoints

    def table(self, name: str) -> Any:
        return self._tp if name == "touchpoints" else self._engine.table(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def staged_touchpoints(engine: Any, variant: str, order: tuple[str, ...], conv_types: list[str]) -> Any:
    """Touchpoints with ``campaign`` replaced by the variant's stage label."""
    tp = engine.table("touchpoints")
    if variant == "touch":
        return tp.mutate(campaign=tp.stage.fill_null("(none)"))
    names = ibis.literal(list(order))
    is_conv = tp.event_type.isin(conv_types)
    rank = ibis.ifelse(is_conv, ibis.null().cast("int64"), stage_rank(tp.stage, order))
    if variant == "session":
        deepest = rank.max().over(ibis.window(group_by="session_id"))
        return tp.mutate(campaign=names[deepest].fill_null("(none)"))
    # prior: segment = conversions strictly before (as in journeys.journey_touches)
    key = ["occurred_at", "event_id"]
    t = tp.mutate(_c=is_conv.cast("int64"), _r=rank)
    t = t.mutate(_seg=t._c.sum().over(ibis.window(group_by="customer_id", order_by=key, rows=(None, 0))) - t._c)
    before = t._r.max().over(ibis.window(group_by=["customer_id", "_seg"], order_by=key, rows=(None, -1)))
    return t.mutate(campaign=names[before].fill_null("none")).drop("_c", "_r", "_seg")


def load_paths(proj: Any, variant: str | None) -> PathTable:
    """The product's journeys at channel level (``variant=None``) or at channel | state."""
    engine, level = proj.engine, "channel"
    if variant is not None:
        runner = AttributionRunner(proj.engine, AttributionQuery(models=("last",)), proj.settings)
        order = stage_settings(getattr(proj.settings, "stages", None)).order
        tp = staged_touchpoints(proj.engine, variant, tuple(order), list(runner.conversion.event_types))
        engine, level = StagedEngine(proj.engine, tp), "channel_campaign"
    runner = AttributionRunner(engine, AttributionQuery(models=("last",), level=level), proj.settings)
    return A.load_path_table(proj.engine, A.journeys_expr(runner.touches()))


def channel_of(nodes: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Channel names and the channel index of every ``channel | state`` node."""
    ch = [n.split(SEP)[0] for n in nodes]
    names = sorted(set(ch))
    return names, np.array([names.index(c) for c in ch])


def per_channel_removal(paths: PathTable, order: int, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Conversions credit per channel: remove every state containing any node of the channel."""
    chain = markov.build_chain(paths, order)
    G = sp.csr_matrix((np.ones(len(group)), (group, np.arange(len(group)))), shape=(n_groups, len(group)))
    contains = (G @ chain.contains.astype(float)).tocsr()
    total = splu(chain.A).solve(chain.B[:, :1])[0, 0]
    states = np.arange(chain.A.shape[0])
    without = np.empty(n_groups)
    for c in range(n_groups):
        bad = np.zeros(states.size, dtype=bool)
        bad[contains[c].indices] = True
        rest = states[~bad]
        without[c] = splu(chain.A[rest][:, rest].tocsc()).solve(chain.B[rest, :1])[0, 0]
    re = np.clip(1.0 - without / total, 0.0, None)
    return re / re.sum() * paths.conversions.sum()


def credits_for(paths: PathTable, variant: str | None, orders: list[int]) -> tuple[pd.DataFrame, dict]:
    """Channel credits frame (last touch and every Markov flavour) and the chain's size."""
    names, group = channel_of(paths.nodes)
    roll = lambda c: np.bincount(group, weights=c, minlength=len(names))  # noqa: E731
    cols: dict[str, np.ndarray] = {"last": roll(rules.last_touch(paths)[:, 0])}
    info: dict[str, Any] = {"nodes": len(paths.nodes), "paths": paths.n_paths}
    for k in orders:
        clock = time.perf_counter()
        if variant is None:
            cols[f"markov_{k}"] = roll(markov.markov(paths, k)[:, 0])
        else:
            cols[f"markov_{k}_per_channel"] = per_channel_removal(paths, k, group, len(names))
            cols[f"markov_{k}_per_state"] = roll(markov.markov(paths, k)[:, 0])
        info[f"order{k}_s"] = round(time.perf_counter() - clock, 1)
    return pd.DataFrame({"node": names, **cols}), info


def state_mix(paths: PathTable) -> dict:
    """Per state: journeys through it and conversion rate of journeys whose *last* step it is,
    to read what a state tells the chain (a state that only ends purchases leaks the outcome)."""
    weight = paths.conversions + paths.nulls
    last = paths.steps[paths.offsets[1:] - 1]
    ends = np.bincount(last, weights=weight, minlength=len(paths.nodes))
    conv = np.bincount(last, weights=paths.conversions, minlength=len(paths.nodes))
    steps = np.bincount(paths.steps, weights=np.repeat(weight, paths.lengths), minlength=len(paths.nodes))
    return {n: {"steps": int(steps[i]), "last_rate": round(float(conv[i] / ends[i]), 3) if ends[i] else None}
            for i, n in enumerate(paths.nodes)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", type=Path, action="append", required=True, help="demo folder(s)")
    ap.add_argument("--orders", default="1,2,3", help="Markov orders to run")
    ap.add_argument("--exclude", default="Loyalty")
    ap.add_argument("--noise-draws", type=int, default=2000)
    ap.add_argument("--mix", action="store_true", help="add every state's steps and last-step conversion rate")
    args = ap.parse_args()
    orders = [int(k) for k in args.orders.split(",")]
    exclude = [c for c in args.exclude.split(",") if c]
    out: dict = {"orders": orders, "projects": {}}
    for folder in args.project:
        truth = read_truth(folder / "ground_truth" / "channel_effects.csv")
        demo = json.loads((folder / "demo.json").read_text(encoding="utf-8"))
        res: dict = {**demo}
        frames = []
        with open_project(folder, read_only=True) as proj:
            for variant in (None, *VARIANTS):
                paths = load_paths(proj, variant)
                frame, info = credits_for(paths, variant, orders)
                name = variant or "channel"
                if variant is not None:
                    frame = frame.drop(columns=["last"]).rename(columns=lambda c: c if c == "node" else f"{name}_{c}")
                    if args.mix:
                        info["states"] = state_mix(paths)
                res[f"chain_{name}"] = info
                frames.append(frame)
        frame = frames[0]
        for f in frames[1:]:
            frame = frame.merge(f, on="node", how="outer").fillna(0.0)
        res["all_channels"] = table(rank_correlations(frame, truth))["incremental_conversions"]
        res["without_loyalty"] = table(rank_correlations(frame, truth, exclude=exclude))["incremental_conversions"]
        res["truth_noise_all"] = truth_noise(frame, truth, [], args.noise_draws)
        res["truth_noise_without_loyalty"] = truth_noise(frame, truth, exclude, args.noise_draws)
        res["credits"] = frame.round(1).set_index("node").to_dict(orient="index")
        out["projects"][str(folder)] = res
    print(json.dumps(out))


if __name__ == "__main__":
    main()
