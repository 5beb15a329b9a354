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
Components are computed on the graph contracted to the current components, so every step
costs O(nodes + edges of the round); nothing loops over rows in Python. Large graphs (a full
resolution) use :func:`scipy.sparse.csgraph.connected_components`; small ones (the region of
an incremental run) a numpy labelling (:func:`_cc_numpy`), so that a fresh process resolving
1,000 new events does not import scipy (0.13 CPU s, more than the solve).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from percorso.identity.kinds import LIMITS, ROUND_ORDER, STRONG

USED, FLAGGED_HUB, BLOCKED, REJECTED = 0, 1, 2, 3
EDGE_STATUS = ("used", "flagged_hub", "blocked", "rejected_untrusted")
NO_FLAG, CONFLICT, TOO_MANY, CHAIN, KEPT = 0, 1, 2, 3, 4
FLAG_REASON = ("", "conflicting_identifiers", "too_many_customers", "conflict_via_same_round", "kept_flagged")
_UNLIMITED = np.iinfo(np.int32).max


@dataclass
class Solution:
    labels: np.ndarray       # (n,) component label (the smallest identifier number of the component)
    flag: np.ndarray         # (n,) int8 reason code (0 = not flagged)
    n_linked: np.ndarray     # (n,) customers an identifier touched when judged
    edge_status: np.ndarray  # (m,) int8 status code
    conflict_kind: np.ndarray  # (n,) kind number whose limit a flagged identifier broke (-1 if none)

    @property
    def n_components(self) -> int:
        return int(distinct(self.labels).size)


def default_limits() -> np.ndarray:
    return np.array([LIMITS.get(k, _UNLIMITED) for k in ROUND_ORDER], dtype=np.int64)


#: Below this many nodes + edges, components are labelled in numpy (:func:`_cc_numpy`).
SMALL_GRAPH = 200_000


def _cc(n: int, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of components, component number 0..k-1 of each node) of the undirected graph."""
    if a.size == 0:
        return n, np.arange(n, dtype=np.int64)
    if n + a.size <= SMALL_GRAPH:
        return _cc_numpy(n, a, b)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    k, lab = connected_components(g, directed=False)
    return k, lab.astype(np.int64)


def _cc_numpy(n: int, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
    """:func:`_cc` by label propagation: each edge pulls both ends, and their labels' own
    labels (the roots), down to the smaller label, then labels are followed to their roots
    (pointer jumping), until no edge joins two labels. Labels only move within a component,
    and at the end both ends of every edge share one, so the labels are the components."""
    lab = np.arange(n, dtype=np.int64)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while True:
        la, lb = lab[a], lab[b]
        if np.array_equal(la, lb):
            break
        low = np.minimum(la, lb)
        for ends in (a, b, la, lb):
            np.minimum.at(lab, ends, low)
        while True:
            up = lab[lab]
            if np.array_equal(up, lab):
                break
            lab = up
    roots, number = np.unique(lab, return_inverse=True)
    return int(roots.size), number.astype(np.int64)


def distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values: ``np.unique(x)``, by a sort and a neighbour test.

    Why: numpy 2.4's ``np.unique`` without ``return_*`` takes a hash-table path that is ~100x
    slower on int64 (0.8-1.1 s for the 1.07M component labels of a 10M-event build, on the
    build's critical path; the sort 0.01 s)."""
    s = np.sort(x)
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _touch(w: np.ndarray, cu: np.ndarray, cw_all: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (identifier, component) pairs: the components each judged identifier touches."""
    ws = distinct(w)
    keys = distinct(np.concatenate([w * n_comp + cu, ws * n_comp + cw_all[ws]]))
    return keys // n_comp, keys % n_comp


def solve(kind: np.ndarray, known: np.ndarray, blocked: np.ndarray, a: np.ndarray, b: np.ndarray,
          trusted: np.ndarray, *, cap: int, limits: np.ndarray | None = None,
          pinned: np.ndarray | None = None) -> Solution:
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
    pinned
        (n,) identifier is kept flagged whatever the evidence says now (``kept_flagged``): an
        erasure removed the people that made it a hub, and the people left must not be joined
        through it (ADR 0028). Its edges are never applied, as a hub's.
    """
    n, m = int(kind.size), int(a.size)
    kind = kind.astype(np.int64)
    a, b = a.astype(np.int64), b.astype(np.int64)
    lim = default_limits() if limits is None else np.asarray(limits, dtype=np.int64)
    limited = np.flatnonzero(lim < _UNLIMITED)
    # per component (indexed by its representative identifier): values of each limited kind
    counts = np.zeros((n, limited.size), dtype=np.int32)
    for j, kk in enumerate(limited):
        counts[:, j] = kind == kk
    comp_known = (known & ~blocked).astype(np.float64)
    counts[blocked] = 0
    lim_l = lim[limited]
    comp = np.arange(n, dtype=np.int64)   # identifier → representative of its component
    flag = np.zeros(n, dtype=np.int8)
    if pinned is not None:
        flag[np.asarray(pinned, dtype=bool) & ~blocked] = KEPT
    conflict_kind = np.full(n, -1, dtype=np.int64)
    n_linked = np.zeros(n, dtype=np.int64)
    status = np.full(m, USED, dtype=np.int8)
    status[blocked[a] | blocked[b]] = BLOCKED
    ka, kb = kind[a], kind[b]
    r_edge = np.maximum(ka, kb)
    by_round = np.argsort(r_edge, kind="stable")
    bounds = np.searchsorted(r_edge[by_round], np.arange(len(ROUND_ORDER) + 1))
    is_c = np.zeros(n, dtype=bool)

    def flagged_end(ei: np.ndarray) -> np.ndarray:
        return (flag[a[ei]] > 0) | (flag[b[ei]] > 0)

    def apply(ei: np.ndarray, culprit_kind: int, check_known: bool) -> tuple[np.ndarray, np.ndarray]:
        """Apply edges ``ei``; return (culprit identifiers removed, the edges removed).

        Only the components the edges touch are relabelled (local numbering), so a round
        costs O(its edges), not O(all identifiers).
        """
        nonlocal comp
        removed = np.zeros(ei.size, dtype=bool)
        culprits_all: list[np.ndarray] = []
        while ei.size:
            e = ei[~removed]
            ends = np.concatenate([a[e], b[e]])
            touched, inv = np.unique(comp[ends], return_inverse=True)
            k, lab = _cc(touched.size, inv[:e.size], inv[e.size:])
            new_counts = np.empty((k, limited.size), dtype=np.int64)
            for j in range(limited.size):
                new_counts[:, j] = np.bincount(lab, weights=counts[touched, j], minlength=k)
            new_known = np.bincount(lab, weights=comp_known[touched], minlength=k)
            bad = (new_counts > lim_l).any(axis=1)
            if check_known:
                bad |= np.bincount(lab, weights=(comp_known[touched] > 0), minlength=k) >= 2
            sel = (kind[ends] == culprit_kind) & bad[lab[inv]]
            culprits = distinct(ends[sel])
            if culprits.size == 0:
                rep = np.full(k, n, dtype=np.int64)
                np.minimum.at(rep, lab, touched)
                counts[rep] = new_counts
                comp_known[rep] = new_known
                cm = np.arange(n, dtype=np.int64)
                cm[touched] = rep[lab]
                comp = cm[comp]
                break
            culprits_all.append(culprits)
            is_c[culprits] = True
            removed |= is_c[a[ei]] | is_c[b[ei]]
            is_c[culprits] = False
        out = np.concatenate(culprits_all) if culprits_all else np.zeros(0, np.int64)
        return out, ei[removed]

    for r in range(len(ROUND_ORDER)):
        ei = by_round[bounds[r]:bounds[r + 1]]
        ei = ei[status[ei] == USED]
        if not ei.size:
            continue
        hit = flagged_end(ei)
        status[ei[hit]] = FLAGGED_HUB
        ei = ei[~hit]
        # directed (w, u): w is the identifier judged in this round
        fa, fb = ei[ka[ei] == r], ei[kb[ei] == r]
        w = np.concatenate([a[fa], b[fb]])
        u = np.concatenate([b[fa], a[fb]])
        tw, tc = _touch(w, comp[u], comp, n)
        start = np.flatnonzero(np.concatenate([[True], tw[1:] != tw[:-1]])) if tw.size else tw
        ws = tw[start]
        sums = np.add.reduceat(counts[tc], start, axis=0) if ws.size else np.zeros((0, limited.size))
        touched = np.diff(np.append(start, tw.size)) - 1
        over = sums > lim_l
        is_conflict = over.any(axis=1)
        is_many = ~is_conflict & (touched > cap)
        n_linked[ws] = touched
        flag[ws[is_conflict]] = CONFLICT
        conflict_kind[ws[is_conflict]] = limited[np.argmax(over[is_conflict], axis=1)] if is_conflict.any() else []
        flag[ws[is_many]] = TOO_MANY
        hub = flagged_end(ei)
        status[ei[hub]] = FLAGGED_HUB
        ei = ei[~hub]

        # trusted edges first: they may merge known customers
        culprits, removed = apply(ei[trusted[ei]], r, check_known=False)
        flag[culprits] = CHAIN
        status[removed] = FLAGGED_HUB
        unt = ei[~trusted[ei] & (status[ei] == USED)]
        drop = flagged_end(unt)
        status[unt[drop]] = FLAGGED_HUB
        unt = unt[~drop]

        # untrusted edges: never join two customers already known from trusted sources
        if unt.size:
            ua, ub = unt[ka[unt] == r], unt[kb[unt] == r]
            w = np.concatenate([a[ua], b[ub]])
            u = np.concatenate([b[ua], a[ub]])
            eid = np.concatenate([ua, ub])
            kn = comp_known > 0
            own_known = kn[comp[w]]
            tw, tc = _touch(w, comp[u], comp, n)
            n_known = np.bincount(tw, weights=kn[tc], minlength=n)
            other = comp[u] != comp[w]
            reject = kn[comp[u]] & other & (own_known | (n_known[w] >= 2))
            status[eid[reject]] = REJECTED
            unt = unt[status[unt] == USED]
            _, removed = apply(unt, r, check_known=True)
            status[removed] = REJECTED
    # a component's representative is its smallest identifier number: a label independent
    # of the order edges were applied in
    return Solution(labels=comp, flag=flag, n_linked=n_linked, edge_status=status,
                    conflict_kind=conflict_kind)


#: A table as numpy columns by name: what DuckDB's ``fetchnumpy`` returns and ``register`` reads.
#: Not Arrow: building or reading an Arrow array loads pandas (0.2 CPU s in a fresh process,
#: more than an incremental run's whole solve).
Columns = dict[str, np.ndarray]


@dataclass
class SolvedTables:
    """:func:`solve` run on the engine's (nodes, edges), with its answers as columns to write back."""

    solution: Solution
    hashes: np.ndarray      # (n,) id_hash (uint64) of identifier number i (sorted)
    kind: np.ndarray
    strong: np.ndarray
    blocked: np.ndarray
    usable: np.ndarray      # identifier numbers neither flagged nor blocked

    def link_status(self, edges: Columns) -> Columns:
        """(link_no, status) of every edge, in the order of ``edges``."""
        return {"link_no": edges["link_no"],
                "status": np.array(EDGE_STATUS, dtype=object)[self.solution.edge_status.astype(np.int64)]}

    def flags(self) -> Columns:
        """(id_hash, reason, n_linked, conflict_type) of every flagged identifier."""
        sol = self.solution
        fl = np.flatnonzero(sol.flag > 0)
        ck = sol.conflict_kind[fl]
        return {
            "id_hash": self.hashes[fl],
            "reason": np.array(FLAG_REASON, dtype=object)[sol.flag[fl].astype(np.int64)],
            "n_linked": sol.n_linked[fl].astype(np.int64),
            "conflict_type": np.array([ROUND_ORDER[k] if k >= 0 else None for k in ck.tolist()], dtype=object),
        }

    def unusable(self) -> Columns:
        """(id_hash) of the flagged or blocked identifiers."""
        ok = np.zeros(self.kind.size, dtype=bool)
        ok[self.usable] = True
        return {"id_hash": self.hashes[~ok]}

    def components(self, labels: np.ndarray | None = None) -> Columns:
        """(id_hash, label) of every usable identifier; ``labels`` replaces the solver's (the device link's)."""
        lab = self.solution.labels if labels is None else labels
        return {"id_hash": self.hashes[self.usable], "label": lab[self.usable].astype(np.int64)}

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(EDGE_STATUS, 0)
        vals, cnt = np.unique(self.solution.edge_status, return_counts=True)
        for v, c in zip(vals, cnt, strict=True):
            counts[EDGE_STATUS[int(v)]] = int(c)
        return counts


def split_by_size(comps: Columns) -> tuple[Columns, Columns]:
    """:meth:`SolvedTables.components` in two: (id_hash) of the identifiers alone in their
    component and (id_hash, label) of the others (a lone identifier's smallest 'type:value' is
    its own: the engine need not group it, :func:`percorso.engine.identity_sql.write_fresh_identity_map`)."""
    lab = comps["label"]
    alone = np.bincount(lab)[lab] == 1 if lab.size else np.zeros(0, dtype=bool)
    return {"id_hash": comps["id_hash"][alone]}, {"id_hash": comps["id_hash"][~alone], "label": lab[~alone]}


def solve_tables(nodes: Columns, edges: Columns, *, cap: int) -> SolvedTables:
    """:func:`solve` on ``nodes`` (id_hash, kind, strong, trusted_seen, blocked, optional pinned) and
    ``edges`` (link_no, id_hash_a, id_hash_b, trusted) as they come from the engine
    (:func:`percorso.engine.identity_sql.graph_inputs`: ``kind`` numbers the identifier's type in
    :data:`~percorso.identity.kinds.ROUND_ORDER`, ``strong`` says it is in
    :data:`~percorso.identity.kinds.STRONG`).

    Identifiers are numbered by sorting their 64-bit keys, so edges become integer arrays
    (a searchsorted, no string is touched) and the numbering, hence every label, does not
    depend on the order the engine returned the rows in.
    """
    hashes = np.asarray(nodes["id_hash"], dtype=np.uint64)
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    ea = np.searchsorted(sorted_h, np.asarray(edges["id_hash_a"], dtype=np.uint64))
    eb = np.searchsorted(sorted_h, np.asarray(edges["id_hash_b"], dtype=np.uint64))

    def col(name: str) -> np.ndarray:
        return np.asarray(nodes[name], dtype=bool)[order]

    kind = np.asarray(nodes["kind"], dtype=np.int64)[order]
    strong, trusted_seen, blocked = col("strong"), col("trusted_seen"), col("blocked")
    pinned = col("pinned") if "pinned" in nodes else None
    sol = solve(kind, strong & trusted_seen, blocked, ea, eb, np.asarray(edges["trusted"], dtype=bool), cap=cap,
                pinned=pinned)
    usable = np.flatnonzero((sol.flag == 0) & ~blocked)
    return SolvedTables(solution=sol, hashes=sorted_h, kind=kind, strong=strong, blocked=blocked, usable=usable)
