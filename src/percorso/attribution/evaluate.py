"""How well a model ranks channels against what the demo simulation knows (its ground truth).

The demo generator writes ``ground_truth/channel_effects.csv``: per channel the hidden
``true_effect`` (change, per contact, in the log-odds of the funnel step the channel works on),
the ``exposed_cycles`` and the ``incremental_conversions`` (purchases with every contact minus
purchases when the channel's contacts move nothing, downstream contacts and steps included,
from a paired re-run with the same random numbers; ``incremental_se`` is its Monte Carlo
error, ADR 0006). Why two truths, and the Spearman rank correlation of model credits against
each (ADR 0005):

- ``incremental_conversions`` is the quantity attribution estimates: credits are *totals*
  (conversions per channel), so they must be compared with a total that carries the
  channel's reach as well as its effect;
- ``true_effect_per_exposed`` compares credits *per exposed customer* with the per-exposure
  effect, so a model that only tracks reach is not rewarded for it;
- ``true_effect``: raw credits against the per-exposure effect, the comparison made before
  ADR 0005 (it mixes reach into one side only); kept so the change hides nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from percorso.errors import InputError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from percorso.engine import Engine

TRUTHS = ("incremental_conversions", "true_effect_per_exposed", "true_effect")


def read_truth(effects_csv: str | Path) -> pd.DataFrame:
    """The generator's ``channel_effects.csv``, checked for the columns the measures need."""
    truth = pd.read_csv(effects_csv)
    need = {"channel", "true_effect", "incremental_conversions"}
    if not need <= set(truth.columns):
        raise InputError(f"{effects_csv}: expected columns {sorted(need)}; found {list(truth.columns)} "
                         "(regenerate the demo: older files have no incremental_conversions)",
                         code="truth_file_invalid")
    return truth


def exposed_customers(engine: Engine, touches: ir.Table) -> pd.Series:
    """Customers with at least one credited-eligible touchpoint per node (journeys with or
    without conversion), counted in the engine: the denominator of ``true_effect_per_exposed``."""
    df = engine.execute(touches.group_by("node").aggregate(exposed=touches.customer_id.nunique()))
    return df.set_index("node")["exposed"].astype(float)


def rank_correlations(frame: pd.DataFrame, truth: pd.DataFrame, exposed: pd.Series | None = None,
                      *, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """Spearman correlation of every model column with each truth, over the shared channels.

    Parameters
    ----------
    frame : the wide attribution frame (``node`` plus one credits column per model).
    truth : :func:`read_truth`'s frame.
    exposed : customers exposed per node (:func:`exposed_customers`); without it the
        ``true_effect_per_exposed`` column is NaN.
    exclude : channels left out (e.g. one whose simulated effect acts without a touchpoint).

    Returns
    -------
    pandas.DataFrame
        One row per model, one column per name in :data:`TRUTHS` (NaN below 3 channels),
        plus ``channels``, the number compared.

    Examples
    --------
    >>> truth = pd.DataFrame({"channel": list("abc"), "true_effect": [0.1, 0.2, 0.3],
    ...                       "incremental_conversions": [30.0, 20.0, 10.0]})
    >>> frame = pd.DataFrame({"node": list("abc"), "last": [3.0, 2.0, 1.0]})
    >>> float(rank_correlations(frame, truth).loc["last", "incremental_conversions"])
    1.0
    """
    from scipy.stats import spearmanr

    key = "node" if "node" in frame.columns else "channel"
    models = [c for c in frame.columns if c not in {key, "spread"} and pd.api.types.is_numeric_dtype(frame[c])]
    merged = frame.rename(columns={key: "_node"}).merge(truth, left_on="_node", right_on="channel", how="inner")
    merged = merged[~merged["_node"].isin(list(exclude))]
    per_exposed = None
    if exposed is not None:
        per_exposed = merged["_node"].map(exposed).astype(float)
    rows: dict[str, dict[str, Any]] = {}
    for m in models:
        credits = merged[m].astype(float)
        per_customer = None if per_exposed is None else (credits / per_exposed, merged["true_effect"])
        pairs = {
            "incremental_conversions": (credits, merged["incremental_conversions"]),
            "true_effect_per_exposed": per_customer,
            "true_effect": (credits, merged["true_effect"]),
        }
        rows[m] = {name: _spearman(spearmanr, pair) for name, pair in pairs.items()}
        rows[m]["channels"] = len(merged)
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*TRUTHS, "channels"])


def _spearman(spearmanr: Any, pair: tuple[pd.Series, pd.Series] | None) -> float:
    if pair is None:
        return float("nan")
    x, y = pair
    ok = x.notna() & y.notna()
    if ok.sum() < 3:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)
