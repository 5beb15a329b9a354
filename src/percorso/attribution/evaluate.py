"""How well a model ranks channels against the simulation's true channel effects.

The demo generator writes ``ground_truth/channel_effects.csv`` (channel, true_effect, …); a
model that ranks channels like the truth has a high Spearman rank correlation. Used to show
that the data-driven models (Markov, Shapley) beat last touch on the demo data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from percorso.errors import InputError


def rank_correlation(result_frame: pd.DataFrame, effects_csv: str | Path) -> dict[str, float]:
    """Spearman correlation between each model column and ``true_effect``, per channel.

    ``result_frame`` is the wide attribution frame (``node`` plus one column per model); only
    channels present in both are compared. Returns ``{model: rho}`` (NaN when < 3 channels).
    """
    from scipy.stats import spearmanr

    truth = pd.read_csv(effects_csv)
    if not {"channel", "true_effect"} <= set(truth.columns):
        raise InputError(f"{effects_csv}: expected columns channel, true_effect; found {list(truth.columns)}")
    key = "node" if "node" in result_frame.columns else "channel"
    merged = result_frame.merge(truth[["channel", "true_effect"]], left_on=key, right_on="channel", how="inner")
    out: dict[str, float] = {}
    skip = {key, "channel", "true_effect", "spread"}
    for col in result_frame.columns:
        if col in skip or not pd.api.types.is_numeric_dtype(result_frame[col]):
            continue
        if len(merged) < 3:
            out[col] = float("nan")
            continue
        rho = spearmanr(merged[col], merged["true_effect"]).statistic
        out[col] = float(rho)
    return out
