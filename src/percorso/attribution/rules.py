"""Rule-based models, vectorised over the path table with numpy.

Why over the path table: every rule-based model is a per-step weight that depends only on
the position of the step in its path and the path's length; one weight vector over the flat
``steps`` array and a ``bincount`` per measure credit ~1M distinct paths in tens of ms.
Time decay needs the touchpoint times, so it runs in the engine (``journeys.time_decay``).

Each function returns an ``(n_nodes, 3)`` matrix: conversions, value and new customers credited.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from percorso.attribution.direct import is_direct_node
from percorso.attribution.paths import PathTable


def credit_steps(paths: PathTable, weights: np.ndarray, step_index: np.ndarray | None = None) -> np.ndarray:
    """Sum ``weight × path measures`` per node; ``weights`` per step (or per ``step_index``,
    one chosen step per path). Each path's measures reach its steps by ``np.repeat`` (a
    sequential copy), not by a gather through ``path_of_step``."""
    n = len(paths.nodes)
    nodes = paths.steps if step_index is None else paths.steps[step_index]
    out = np.empty((n, 3))
    for j, m in enumerate((paths.conversions, paths.value, paths.new_customers)):
        per_step = m if step_index is not None else np.repeat(m, paths.lengths)
        out[:, j] = np.bincount(nodes, weights=weights * per_step, minlength=n)
    return out


def credit_paths(paths: PathTable, path_weight: np.ndarray) -> np.ndarray:
    """Like :func:`credit_steps` when every step of a path has the same weight (``path_weight``)."""
    n = len(paths.nodes)
    out = np.empty((n, 3))
    for j, m in enumerate((paths.conversions, paths.value, paths.new_customers)):
        out[:, j] = np.bincount(paths.steps, weights=np.repeat(m * path_weight, paths.lengths), minlength=n)
    return out


def first_touch(paths: PathTable) -> np.ndarray:
    """All credit to the first touchpoint of each path."""
    return credit_steps(paths, np.ones(paths.n_paths), paths.offsets[:-1])


def last_touch(paths: PathTable) -> np.ndarray:
    """All credit to the last touchpoint before the conversion."""
    return credit_steps(paths, np.ones(paths.n_paths), paths.offsets[1:] - 1)


def last_non_direct(paths: PathTable, direct: Sequence[str] = ("Direct",)) -> np.ndarray:
    """Last touchpoint that is not direct; a path of only direct keeps its last.

    It is last touch on the journeys with ``direct = "ignore_unless_alone"`` applied, so at
    channel-based levels it credits the same whichever convention the journeys were built
    with (ADR 0007): with ``direct = "credit"`` it is the one rule that still reads GA4's
    last click.
    """
    is_direct = is_direct_node(paths.nodes, direct)
    idx = np.arange(len(paths.steps))
    candidate = np.where(is_direct[paths.steps], -1, idx)
    last_nd = np.maximum.reduceat(candidate, paths.offsets[:-1]) if paths.n_paths else candidate[:0]
    chosen = np.where(last_nd >= 0, last_nd, paths.offsets[1:] - 1)
    return credit_steps(paths, np.ones(paths.n_paths), chosen)


def linear(paths: PathTable) -> np.ndarray:
    """Equal credit to every touchpoint of the path."""
    return credit_paths(paths, 1.0 / paths.lengths)


def position_weights(paths: PathTable, first: float = 0.4, last: float = 0.4) -> np.ndarray:
    """Per-step weights of the position-based model (U-shaped).

    One touch gets 1; two touches split ``first : last`` proportionally (0.5/0.5 with the
    default 40/40); from three touches, the first gets ``first``, the last ``last`` and the
    middle ones share ``1 - first - last`` equally. Built per path (a million paths, not
    eight million steps): the middle weight repeated, then the two ends written over it.
    """
    length = paths.lengths
    two = first + last
    end_first, end_last = (first / two, last / two) if two > 0 else (0.5, 0.5)
    w = np.repeat((1.0 - first - last) / np.maximum(length - 2, 1), length)
    starts, ends = paths.offsets[:-1], paths.offsets[1:] - 1
    w[starts] = np.where(length == 2, end_first, first)
    w[ends] = np.where(length == 2, end_last, last)
    w[ends[length == 1]] = 1.0
    return w


def position_based(paths: PathTable, first: float = 0.4, last: float = 0.4) -> np.ndarray:
    """Position-based (40/20/40 by default)."""
    return credit_steps(paths, position_weights(paths, first, last))


def time_decay_positional(paths: PathTable, half_life_steps: float) -> np.ndarray:
    """Time decay when only the order is known (path files): one step back = one time unit.

    Used for ``--paths`` input, which carries no timestamps; the engine version
    (:func:`percorso.attribution.journeys.time_decay_credits`) uses real days before conversion.
    """
    length = paths.lengths[paths.path_of_step]
    pos = np.arange(len(paths.steps)) - paths.offsets[:-1][paths.path_of_step]
    raw = np.exp2(-(length - 1 - pos) / half_life_steps)
    denom = np.add.reduceat(raw, paths.offsets[:-1]) if paths.n_paths else raw[:0]
    return credit_steps(paths, raw / denom[paths.path_of_step])
