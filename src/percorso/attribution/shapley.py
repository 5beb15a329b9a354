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
"""

from __future__ import annotations

from math import factorial

import numpy as np

from percorso.attribution.paths import PathTable


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
    masks = channel_masks(paths)
    v = coalition_values(masks, paths.measures(), n)
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
