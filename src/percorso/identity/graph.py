"""The identity graph solver: connected components with hub flags and trust rules, in numpy.

Why not plain connected components: one shared tablet or family e-mail would merge dozens
of people. Edges are therefore judged in rounds, one identifier kind at a time in
:data:`~percorso.identity.kinds.ROUND_ORDER`; an edge is judged in the round of its later
endpoint ``w``, once every earlier kind has been settled. In its round an identifier is:

* **flagged** when the customers it touches would together hold more distinct values of a
  kind than :data:`~percorso.identity.kinds.LIMITS` allows (two user ids, two tax codes…)
  or when it touches more than ``cap`` customers; its edges are not applied;
* **rejected** (edges from untrusted sources only) when it would join two customers that
  are each already known from a trusted source.

Every decision is taken on *sets* (the customers an identifier touches), so the partition
does not depend on the order of events or on node numbering. Conflicts that only appear when
several identifiers of one round are applied together are undone by flagging (or rejecting)
the identifiers of that round inside the conflicting component, until none is left.
Components are computed with :func:`scipy.sparse.csgraph.connected_components` on the
graph contracted to the current components, so every step costs O(nodes + edges of the
round); nothing loops over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from percorso.identity.kinds import LIMITS, ROUND_ORDER

USED, FLAGGED_HUB, BLOCKED, REJECTED = 0, 1, 2, 3
EDGE_STATUS = ("used", "flagged_hub", "blocked", "rejected_untrusted")
NO_FLAG, CONFLICT, TOO_MANY, CHAIN = 0, 1, 2, 3
FLAG_REASON = ("", "conflicting_identifiers", "too_many_customers", "conflict_via_same_round")
_UNLIMITED = np.iinfo(np.int32).max


@dataclass
class Solution:
    labels: np.ndarray       # (n,) component label, 0..n_components-1
    flag: np.ndarray         # (n,) int8 reason code (0 = not flagged)
    n_linked: np.ndarray     # (n,) customers an identifier touched when judged
    edge_status: np.ndarray  # (m,) int8 status code
    conflict_kind: np.ndarray  # (n,) kind number whose limit a flagged identifier broke (-1 if none)

    @property
    def n_components(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0


def default_limits() -> np.ndarray:
    return np.array([LIMITS.get(k, _UNLIMITED) for k in ROUND_ORDER], dtype=np.int64)


def _cc(n: int, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
    if a.size == 0:
        return n, np.arange(n, dtype=np.int64)
    g = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    k, lab = connected_components(g, directed=False)
    return k, lab.astype(np.int64)


def _agg(mp: np.ndarray, k: int, counts: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    new_counts = np.zeros((k, counts.shape[1]), dtype=np.int64)
    for j in range(counts.shape[1]):
        new_counts[:, j] = np.bincount(mp, weights=counts[:, j], minlength=k)
    new_known = np.bincount(mp, weights=known, minlength=k)
    return new_counts, new_known


def _touch(w: np.ndarray, cu: np.ndarray, cw_all: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (identifier, component) pairs: the components each judged identifier touches."""
    ws = np.unique(w)
    keys = np.unique(np.concatenate([w * n_comp + cu, ws * n_comp + cw_all[ws]]))
    return keys // n_comp, keys % n_comp


def solve(kind: np.ndarray, known: np.ndarray, blocked: np.ndarray, a: np.ndarray, b: np.ndarray,
          trusted: np.ndarray, *, cap: int, limits: np.ndarray | None = None) -> Solution:
    """Resolve identifiers into components.

    Parameters
    ----------
    kind
        (n,) kind number of each identifier (index into ``ROUND_ORDER``).
    known
        (n,) identifier is strong and was seen in a trusted source.
    blocked
        (n,) identifier is a generic value: it never links.
    a, b, trusted
        (m,) distinct identifier pairs seen on one event, and whether a trusted source saw it.
    cap
        An identifier touching more than ``cap`` other customers is a hub.
    limits
        (len(ROUND_ORDER),) most distinct values of a kind one customer may hold.
    """
    n, m = int(kind.size), int(a.size)
    kind = kind.astype(np.int64)
    a, b = a.astype(np.int64), b.astype(np.int64)
    lim = default_limits() if limits is None else np.asarray(limits, dtype=np.int64)
    limited = np.flatnonzero(lim < _UNLIMITED)
    counts = np.zeros((n, limited.size), dtype=np.int64)
    for j, kk in enumerate(limited):
        counts[:, j] = kind == kk
    comp_known = (known & ~blocked).astype(np.float64)
    counts[blocked] = 0
    lim_l = lim[limited]
    comp = np.arange(n, dtype=np.int64)
    n_comp = n
    flag = np.zeros(n, dtype=np.int8)
    conflict_kind = np.full(n, -1, dtype=np.int64)
    n_linked = np.zeros(n, dtype=np.int64)
    status = np.full(m, USED, dtype=np.int8)
    status[blocked[a] | blocked[b]] = BLOCKED
    ka, kb = kind[a], kind[b]
    r_edge = np.maximum(ka, kb)

    def apply(active: np.ndarray, culprit_kind: int, check_known: bool) -> tuple[np.ndarray, np.ndarray]:
        """Apply ``active`` edges; return (culprit identifiers removed, their edge mask)."""
        nonlocal comp, n_comp, counts, comp_known
        removed = np.zeros(m, dtype=bool)
        culprits_all: list[np.ndarray] = []
        if not active.any():
            return np.zeros(0, np.int64), removed
        while True:
            e = active & ~removed
            k, mp = _cc(n_comp, comp[a[e]], comp[b[e]])
            new_counts, new_known = _agg(mp, k, counts, comp_known)
            bad = (new_counts > lim_l).any(axis=1)
            if check_known:
                pre_known = np.bincount(mp, weights=(comp_known > 0), minlength=k)
                bad |= pre_known >= 2
            ends = np.concatenate([a[e], b[e]])
            ends = ends[kind[ends] == culprit_kind]
            culprits = np.unique(ends[bad[mp[comp[ends]]]])
            if culprits.size == 0 or not bad.any():
                comp, n_comp, counts, comp_known = mp[comp], k, new_counts, new_known
                return (np.concatenate(culprits_all) if culprits_all else np.zeros(0, np.int64)), removed
            culprits_all.append(culprits)
            is_c = np.zeros(n, dtype=bool)
            is_c[culprits] = True
            removed |= e & (is_c[a] | is_c[b])

    for r in range(len(ROUND_ORDER)):
        in_round = (r_edge == r) & (status == USED)
        if not in_round.any():
            continue
        hit_flag = in_round & ((flag[a] > 0) | (flag[b] > 0))
        status[hit_flag] = FLAGGED_HUB
        in_round &= ~hit_flag
        # directed (w, u): w is the identifier judged in this round
        fa, fb = in_round & (ka == r), in_round & (kb == r)
        w = np.concatenate([a[fa], b[fb]])
        u = np.concatenate([b[fa], a[fb]])
        tw, tc = _touch(w, comp[u], comp, n_comp)
        ws, start = np.unique(tw, return_index=True)
        sums = np.add.reduceat(counts[tc], start, axis=0) if ws.size else np.zeros((0, limited.size))
        touched = np.diff(np.append(start, tw.size)) - 1
        over = sums > lim_l
        is_conflict = over.any(axis=1)
        is_many = ~is_conflict & (touched > cap)
        n_linked[ws] = touched
        flag[ws[is_conflict]] = CONFLICT
        conflict_kind[ws[is_conflict]] = limited[np.argmax(over[is_conflict], axis=1)] if is_conflict.any() else []
        flag[ws[is_many]] = TOO_MANY
        hub_edge = in_round & ((flag[a] > 0) | (flag[b] > 0))
        status[hub_edge] = FLAGGED_HUB
        in_round &= ~hub_edge

        # trusted edges first: they may merge known customers
        culprits, removed = apply(in_round & trusted, r, check_known=False)
        flag[culprits] = CHAIN
        status[removed] = FLAGGED_HUB
        in_round &= ~removed
        drop = in_round & ~trusted & ((flag[a] > 0) | (flag[b] > 0))
        status[drop] = FLAGGED_HUB
        in_round &= ~drop

        # untrusted edges: never join two customers already known from trusted sources
        unt = in_round & ~trusted
        if unt.any():
            ua, ub = unt & (ka == r), unt & (kb == r)
            w = np.concatenate([a[ua], b[ub]])
            u = np.concatenate([b[ua], a[ub]])
            eid = np.concatenate([np.flatnonzero(ua), np.flatnonzero(ub)])
            kn = comp_known > 0
            own_known = kn[comp[w]]
            tw, tc = _touch(w, comp[u], comp, n_comp)
            tk = kn[tc]
            n_known = np.bincount(tw, weights=tk, minlength=n)
            other = comp[u] != comp[w]
            reject = kn[comp[u]] & other & (own_known | (n_known[w] >= 2))
            rej_edges = np.zeros(m, dtype=bool)
            rej_edges[eid[reject]] = True
            status[rej_edges] = REJECTED
            unt &= ~rej_edges
            _, removed = apply(unt, r, check_known=True)
            status[removed] = REJECTED
    _, labels = np.unique(comp, return_inverse=True)
    return Solution(labels=labels.astype(np.int64), flag=flag, n_linked=n_linked, edge_status=status,
                    conflict_kind=conflict_kind)
