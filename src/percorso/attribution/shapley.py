"""Shapley value attribution over channel coalitions.

Characteristic function: ``v(S)`` = conversions (value, new customers) of the journeys whose
*set* of channels lies within S. Journeys are reduced to a bitmask of their channels, counted
per mask with one ``bincount`` (``w``), and ``v`` is the subset-sum (zeta) transform of
``w`` over the 2^n coalition table: n vectorised passes, one per channel bit. The Shapley
value of channel i is ``Σ_{S ∌ i} |S|!(n-|S|-1)!/n! · (v(S ∪ i) - v(S))``.

Exact up to ``max_exact`` channels (default 15: 32 768 coalitions). Above that we do not
sample: for this characteristic function ``w`` is exactly the Harsanyi dividend of each
channel set, so ``φ_i = Σ_{T ∋ i} w(T) / |T|`` (each journey's value shared equally among its
distinct channels) — also exact, linear in the number of distinct channel sets, and checked
against the coalition table in the tests. Permutation sampling would only add noise.

:func:`shapley_rate` is an added option (model ``shapley_rate``), not a replacement: its
``v(S)`` is the conversion *rate* of the journeys whose channel set lies within S, journeys
without conversion included, so a channel whose journeys convert no better than those without
it gets little or nothing (Shao & Li 2011's probabilistic model is its second-order
approximation, Dalessandro et al. 2012). Credits are ``φ × journeys``, so they sum to total
conversions; a channel whose presence lowers the rate gets a negative credit. No dividend
shortcut exists for a ratio: exact from the coalition table up to :data:`RATE_EXACT_MAX`
channels, permutation sampling (seeded, :data:`RATE_SAMPLES` orders) above.
"""

from __future__ import annotations

from math import factorial

import numpy as np

from percorso.attribution.paths import PathTable
from percorso.errors import InputError

#: Channels up to which :func:`shapley_rate` uses the 2^n coalition table (1M coalitions).
RATE_EXACT_MAX = 20
#: Random channel orders :func:`shapley_rate` averages above that.
RATE_SAMPLES = 2000


def channel_masks(paths: PathTable) -> np.ndarray:
    """Bitmask (int64) of the distinct channels of every path (≤ 62 channels)."""
    bits = np.left_shift(np.int64(1), paths.steps.astype(np.int64))
    if paths.n_paths == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bitwise_or.reduceat(bits, paths.offsets[:-1])


def coalition_values(masks: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``v[S]`` for every coalition S (2^n × measures): subset sums of the per-mask weights."""
    size = 1 << n
    v = np.empty((size, weights.shape[1]))
    for j in range(weights.shape[1]):
        v[:, j] = np.bincount(masks, weights=weights[:, j], minlength=size)
    for i in range(n):
        view = v.reshape(-1, 2, 1 << i, weights.shape[1])
        view[:, 1] += view[:, 0]
    return v


def shapley_exact(paths: PathTable) -> np.ndarray:
    """Exact Shapley credits ``(n_nodes, 3)`` from the 2^n coalition table."""
    n = len(paths.nodes)
    return shapley_of_table(coalition_values(channel_masks(paths), paths.measures(), n), n)


def shapley_of_table(v: np.ndarray, n: int) -> np.ndarray:
    """Shapley values ``(n, measures)`` of any characteristic function given as its 2^n table."""
    coalitions = np.arange(1 << n, dtype=np.int64)
    popcount = np.zeros(1 << n, dtype=np.int64)
    for i in range(n):
        popcount += (coalitions >> i) & 1
    fact = np.array([factorial(k) for k in range(n + 1)], dtype=float)
    weight = fact[popcount] * fact[np.clip(n - popcount - 1, 0, None)] / fact[n]
    out = np.empty((n, v.shape[1]))
    for i in range(n):
        without = coalitions[(coalitions >> i) & 1 == 0]
        gain = v[without | (1 << i)] - v[without]
        out[i] = weight[without] @ gain
    return out


def shapley_dividends(paths: PathTable) -> np.ndarray:
    """Exact Shapley credits for any number of channels via the Harsanyi dividends."""
    n = len(paths.nodes)
    # distinct channels of each path: unique (path, node) pairs
    key = paths.path_of_step.astype(np.int64) * n + paths.steps
    uniq = np.unique(key)
    owner, node = uniq // n, (uniq % n).astype(np.int64)
    k = np.bincount(owner, minlength=paths.n_paths)
    measures = paths.measures()
    out = np.empty((n, measures.shape[1]))
    for j in range(measures.shape[1]):
        out[:, j] = np.bincount(node, weights=measures[owner, j] / k[owner], minlength=n)
    return out


def shapley(paths: PathTable, max_exact: int = 15) -> np.ndarray:
    """Shapley credits: coalition table up to ``max_exact`` channels, dividends above."""
    if len(paths.nodes) <= max_exact:
        return shapley_exact(paths)
    return shapley_dividends(paths)


def shapley_rate(paths: PathTable, max_exact: int = RATE_EXACT_MAX, samples: int = RATE_SAMPLES,
                 seed: int = 0) -> np.ndarray:
    """Conversion-rate Shapley credits ``(n_nodes, 3)``: ``v(S)`` = each measure per journey
    among the journeys whose channel set ⊆ S (``v(∅) = 0``), credits = ``φ × journeys``.

    Examples
    --------
    Journeys with only ``b`` never convert and ``a > b`` converts as often as ``a`` alone, so
    ``b`` adds nothing: ``v({a}) = 1/2``, ``v({b}) = 0``, ``v({a, b}) = 3/6``.

    >>> import pyarrow as pa
    >>> from percorso.attribution.paths import from_arrow
    >>> paths = from_arrow(pa.table({"path": ["a", "b", "a > b"], "total_conversions": [1.0, 0.0, 2.0],
    ...                              "total_null": [1.0, 2.0, 0.0], "total_conversion_value": [1.0, 0.0, 2.0]}))
    >>> shapley_rate(paths)[:, 0].round(6).tolist()
    [3.0, 0.0]
    """
    n = len(paths.nodes)
    if n > 62:
        raise InputError(f"shapley_rate handles at most 62 nodes (bit masks); got {n}: use a coarser level",
                         code="too_many_nodes")
    weights = np.column_stack([paths.measures(), paths.conversions + paths.nulls])
    journeys = weights[:, 3].sum()
    if n == 0 or journeys <= 0:
        return np.zeros((n, 3))
    masks = channel_masks(paths)
    if n <= max_exact:
        v = coalition_values(masks, weights, n)
        return shapley_of_table(_rates(v), n) * journeys
    return sampled_rate_shapley(masks, weights, n, samples, seed)[0] * journeys


def _rates(v: np.ndarray) -> np.ndarray:
    """Measures per journey (last column = journeys); 0 for a coalition that holds no journey."""
    den = v[:, -1:]
    return np.divide(v[:, :-1], den, out=np.zeros_like(v[:, :-1]), where=den > 0)


def sampled_rate_shapley(masks: np.ndarray, weights: np.ndarray, n: int, samples: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean marginal rate gain of each channel over ``samples`` random channel orders, and its
    standard error ``(n, 3)`` each: φ estimated without the 2^n table."""
    uniq, inv = np.unique(masks, return_inverse=True)
    w = np.zeros((uniq.size, weights.shape[1]))
    np.add.at(w, inv, weights)
    order = np.argsort(np.random.default_rng(seed).random((samples, n)), axis=1)
    prefix = np.bitwise_or.accumulate(np.left_shift(np.int64(1), order.astype(np.int64)), axis=1)
    coalitions = np.concatenate([np.zeros((samples, 1), np.int64), prefix], axis=1).ravel()
    v = np.empty((coalitions.size, w.shape[1]))
    step = max(1, 20_000_000 // max(uniq.size, 1))
    for a in range(0, coalitions.size, step):  # a journey set lies within S when it has no bit outside S
        inside = (uniq[None, :] & ~coalitions[a:a + step, None]) == 0
        v[a:a + step] = inside @ w
    rate = _rates(v).reshape(samples, n + 1, -1)
    gain = rate[:, 1:] - rate[:, :-1]                    # (samples, n, 3), position j gains for order[:, j]
    total = np.zeros((n, gain.shape[2]))
    square = np.zeros((n, gain.shape[2]))
    np.add.at(total, order.ravel(), gain.reshape(-1, gain.shape[2]))
    np.add.at(square, order.ravel(), (gain * gain).reshape(-1, gain.shape[2]))
    mean = total / samples
    var = np.maximum(square / samples - mean * mean, 0.0)
    return mean, np.sqrt(var / samples)
