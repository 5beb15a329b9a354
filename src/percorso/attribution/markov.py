"""Markov chain removal-effect attribution of order 1 to 4, solved exactly.

The chain (the standard one of Anderl et al. 2016 and ChannelAttribution): transient states
``start`` and one state per channel (order 1) or per k-gram of the last k channels (order k;
the first steps of a path are the shorter grams), absorbing ``conversion`` and ``null``.
Transition probabilities are the journey-weighted frequencies of the path table.

*Removal effect* of channel c: every transition into a state containing c is redirected to
``null``; ``RE(c) = 1 - P_without_c / P``, with P the absorption probability (or expected value)
from ``start``. Credits are the removal effects normalised to the totals of each measure
(conversions, value, new customers; each measure has its own absorbing reward, so value credit
follows where the money converts, not only where the conversions do).

Why exact: absorption probabilities solve ``(I - Q) x = b``, a sparse linear system with one
row per state (≤ a few thousand for 12 channels at order 3), far cheaper and more precise
than simulating millions of walks (ChannelAttribution's estimates are up to ~9 % off).

Order 1 reuses *one* LU factorisation for all channels, by the strong Markov property at the
first visit to c: ``P = P_without_c + F(start→c)·x(c)``, with the hitting probability
``F(start→c) = N[start, c] / N[c, c]`` read off the fundamental matrix ``N = (I - Q)^-1``
(one transposed solve for row ``start`` plus one multi-column solve for the diagonal).
From order 2 a channel lives in many k-gram states, so each removal is one reduced sparse
solve on the states that do not contain it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from percorso.attribution.paths import PathTable
from percorso.errors import InputError


@dataclass
class Chain:
    """The transient part of the absorbing chain built from a path table."""

    A: sp.csc_matrix            # I - Q over transient states, state 0 = start
    B: np.ndarray               # (n_states, n_measures) expected one-step absorbing reward
    contains: sp.csr_matrix     # (n_channels, n_states) bool: state contains channel
    n_channels: int


def state_codes(paths: PathTable, order: int) -> tuple[np.ndarray, int]:
    """Integer code of the k-gram state after each step (0 is never used: it is ``start``)."""
    base = len(paths.nodes) + 1
    if base ** order >= 2**62:
        raise InputError(f"Markov order {order} with {len(paths.nodes)} channels is too large")
    code = paths.steps.astype(np.int64) + 1
    if order == 1:
        return code, base
    pos = np.arange(len(paths.steps)) - np.repeat(paths.offsets[:-1], paths.lengths)
    for j in range(1, order):
        prev = np.zeros_like(code)
        if j < len(paths.steps):
            prev[j:] = paths.steps[:-j] + 1
        prev[pos < j] = 0
        code += prev * base**j
    return code, base


#: Above this many (from, to) state pairs transitions are counted sparsely (sort), below
#: with one ``bincount`` over a dense m × m grid (order 1 to 3 with a dozen channels).
DENSE_PAIRS = 1 << 24


def count_transitions(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, m: int) -> sp.csr_matrix:
    """Weighted transition counts between ``m`` states as a CSR matrix."""
    if m * m <= DENSE_PAIRS:
        grid = np.bincount(src.astype(np.int64) * m + dst, weights=weight, minlength=m * m)
        return sp.csr_matrix(grid.reshape(m, m))
    return sp.coo_matrix((weight, (src, dst)), shape=(m, m)).tocsr()


def build_chain(paths: PathTable, order: int = 1) -> Chain:
    """Count transitions of every journey and normalise them into ``I - Q`` and ``b``."""
    if not 1 <= order <= 4:
        raise InputError(f"Markov order {order} is not supported; valid: 1, 2, 3, 4")
    n = len(paths.nodes)
    weight = paths.conversions + paths.nulls
    codes, base = state_codes(paths, order)
    if base**order <= 50_000_000:
        present = np.zeros(base**order, dtype=bool)
        present[codes] = True
        lookup = np.cumsum(present)  # state ids 1..m
        sid = lookup[codes]
        uniq = np.flatnonzero(present)
    else:
        uniq, inv = np.unique(codes, return_inverse=True)
        sid = inv + 1
    m = len(uniq) + 1
    w_step = np.repeat(weight, paths.lengths)
    is_first = np.zeros(len(sid), dtype=bool)
    is_first[paths.offsets[:-1]] = True
    src = np.where(is_first, 0, np.roll(sid, 1))
    counts = count_transitions(src, sid, w_step, m)
    last = sid[paths.offsets[1:] - 1]
    rewards = np.column_stack([paths.conversions, paths.value, paths.new_customers])
    absorbed = np.bincount(last, weights=weight, minlength=m)
    out = np.asarray(counts.sum(axis=1)).ravel() + absorbed
    out[out == 0] = 1.0
    B = np.empty((m, rewards.shape[1]))
    for j in range(rewards.shape[1]):
        B[:, j] = np.bincount(last, weights=rewards[:, j], minlength=m) / out
    Q = sp.diags(1.0 / out) @ counts
    A = (sp.identity(m, format="csr") - Q).tocsc()
    # which channels each state contains
    rows, cols = [], []
    for j in range(order):
        digit = (uniq // base**j) % base  # channel + 1, 0 = none
        ok = digit > 0
        rows.append(digit[ok] - 1)
        cols.append(np.flatnonzero(ok) + 1)
    r, c = np.concatenate(rows), np.concatenate(cols)
    contains = sp.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(n, m))
    return Chain(A, B, contains, n)


def removal_effects(paths: PathTable, order: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Removal effect of every channel for each measure: ``(n_channels, 3)``, plus P per measure."""
    # paths of zero weight (e.g. not drawn by the bootstrap) stay: their states get no
    # probability mass, and every channel keeps its state, so the order-1 shortcut applies.
    chain = build_chain(paths, order)
    lu = splu(chain.A)
    x = lu.solve(chain.B)
    total = x[0]
    n = chain.n_channels
    without = np.empty((n, chain.B.shape[1]))
    if order == 1:
        e0 = np.zeros(chain.A.shape[0])
        e0[0] = 1.0
        n_start = lu.solve(e0, trans="T")  # row 'start' of N = (I - Q)^-1
        # order 1: exactly one state per channel, in channel order
        state_of = chain.contains.tocsr().indices
        E = np.zeros((chain.A.shape[0], n))
        E[state_of, np.arange(n)] = 1.0
        diag = lu.solve(E)[state_of, np.arange(n)]
        hit = n_start[state_of] / diag
        without = total[None, :] - hit[:, None] * x[state_of]
    else:
        all_states = np.arange(chain.A.shape[0])
        for c in range(n):
            bad = np.zeros(chain.A.shape[0], dtype=bool)
            bad[chain.contains[c].indices] = True
            rest = all_states[~bad]
            sub = chain.A[rest][:, rest].tocsc()
            without[c] = splu(sub).solve(chain.B[rest])[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        re = np.where(total > 0, 1.0 - without / np.where(total > 0, total, 1.0), 0.0)
    return np.clip(re, 0.0, None), total


def markov(paths: PathTable, order: int = 1) -> np.ndarray:
    """Credits ``(n_nodes, 3)``: removal effects normalised to each measure's total."""
    re, _ = removal_effects(paths, order)
    totals = np.array([paths.conversions.sum(), paths.value.sum(), paths.new_customers.sum()])
    s = re.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, re / np.where(s > 0, s, 1.0) * totals, 0.0)

