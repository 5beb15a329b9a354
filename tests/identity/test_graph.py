"""The graph solver against a union-find oracle, and its order independence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.identity.graph import BLOCKED, solve
from percorso.identity.kinds import KIND_NO, ROUND_ORDER

UNLIMITED = np.full(len(ROUND_ORDER), 10**9)


def union_find(n: int, edges: list[tuple[int, int]]) -> set[frozenset[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, set[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values()}


def parts(labels: np.ndarray, keep: np.ndarray | None = None) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        if keep is None or keep[i]:
            groups.setdefault(lab, set()).add(i)
    return {frozenset(g) for g in groups.values()}


graphs = st.integers(2, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.integers(0, len(ROUND_ORDER) - 1), min_size=n, max_size=n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1]), max_size=40),
    st.lists(st.booleans(), min_size=n, max_size=n),
    st.randoms(use_true_random=False),
))


def _arrays(edges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    uniq = sorted({(min(a, b), max(a, b)) for a, b in edges})
    return np.array([a for a, _ in uniq], dtype=np.int64), np.array([b for _, b in uniq], dtype=np.int64)


@settings(max_examples=60, deadline=None)
@given(graphs)
def test_without_limits_components_equal_union_find(g) -> None:
    n, kinds, edges, _, _ = g
    a, b = _arrays(edges)
    sol = solve(np.array(kinds), np.zeros(n, bool), np.zeros(n, bool), a, b, np.ones(a.size, bool),
                cap=10**9, limits=UNLIMITED)
    assert parts(sol.labels) == union_find(n, list(zip(a.tolist(), b.tolist(), strict=True)))
    assert (sol.edge_status == 0).all()


@settings(max_examples=60, deadline=None)
@given(graphs)
def test_blocked_values_never_link(g) -> None:
    n, kinds, edges, blocked, _ = g
    blocked = np.array(blocked)
    a, b = _arrays(edges)
    sol = solve(np.array(kinds), np.zeros(n, bool), blocked, a, b, np.ones(a.size, bool),
                cap=10**9, limits=UNLIMITED)
    touching = blocked[a] | blocked[b]
    assert (sol.edge_status[touching] == BLOCKED).all()
    for i in np.flatnonzero(blocked):
        assert (sol.labels == sol.labels[i]).sum() == 1
    kept = [(x, y) for x, y, t in zip(a.tolist(), b.tolist(), touching.tolist(), strict=True) if not t]
    assert parts(sol.labels, ~blocked) == {p for p in union_find(n, kept) if not blocked[next(iter(p))]}


@settings(max_examples=60, deadline=None)
@given(graphs, st.integers(1, 4))
def test_partition_does_not_depend_on_order(g, cap) -> None:
    """Renumber identifiers and shuffle pairs: same partition, same flags, same edge outcomes."""
    n, kinds, edges, trusted_flags, rnd = g
    kinds = np.array(kinds)
    known = np.array(trusted_flags)
    a, b = _arrays(edges)
    tr = np.array([(x * 7 + y) % 3 != 0 for x, y in zip(a.tolist(), b.tolist(), strict=True)], dtype=bool)
    s1 = solve(kinds, known, np.zeros(n, bool), a, b, tr, cap=cap)
    perm = list(range(n))
    rnd.shuffle(perm)
    perm = np.array(perm)                       # old node i → new node perm[i]
    order = list(range(a.size))
    rnd.shuffle(order)
    order = np.array(order, dtype=np.int64)
    inv = np.empty(n, np.int64)
    inv[perm] = np.arange(n)
    a2, b2 = perm[a][order], perm[b][order]
    swap = np.array([rnd.random() < 0.5 for _ in range(a.size)], dtype=bool)
    a2, b2 = np.where(swap, b2, a2), np.where(swap, a2, b2)
    s2 = solve(kinds[inv], known[inv], np.zeros(n, bool), a2, b2, tr[order], cap=cap)
    assert parts(s2.labels[perm]) == parts(s1.labels)
    assert (s2.flag[perm] == s1.flag).all()
    assert (s2.edge_status == s1.edge_status[order]).all()


def test_kiosk_anonymous_id_with_fifty_users_is_flagged() -> None:
    n = 51
    kinds = np.array([KIND_NO["anonymous_id"]] + [KIND_NO["user_id"]] * 50)
    a, b = np.zeros(50, np.int64), np.arange(1, 51)
    sol = solve(kinds, np.zeros(n, bool), np.zeros(n, bool), a, b, np.zeros(50, bool), cap=5)
    assert sol.n_components == 51
    assert sol.flag[0] > 0 and (sol.flag[1:] == 0).all()
    assert sol.n_linked[0] == 50


def test_family_email_between_two_tax_codes_is_flagged_but_each_person_stays_whole() -> None:
    K = KIND_NO
    # 0 tax A, 1 phone A, 2 tax B, 3 phone B, 4 shared email
    kinds = np.array([K["tax_code_key"], K["phone_key"], K["tax_code_key"], K["phone_key"], K["email_key"]])
    a, b = np.array([0, 2, 1, 3, 0]), np.array([1, 3, 4, 4, 4])
    sol = solve(kinds, np.ones(5, bool), np.zeros(5, bool), a, b, np.ones(5, bool), cap=5)
    assert parts(sol.labels) == {frozenset({0, 1}), frozenset({2, 3}), frozenset({4})}
    assert sol.flag[4] > 0


def test_untrusted_edge_cannot_merge_two_known_customers_but_may_attach_new_ids() -> None:
    K = KIND_NO
    # 0 user (known), 1 email (known), 2 anonymous id; edge 0-1 untrusted, 1-2 and 0-2 untrusted
    kinds = np.array([K["user_id"], K["email_key"], K["anonymous_id"]])
    a, b = np.array([0]), np.array([1])
    sol = solve(kinds, np.array([True, True, False]), np.zeros(3, bool), a, b, np.array([False]), cap=5)
    assert sol.n_components == 3 and sol.edge_status[0] == 3
    sol = solve(kinds, np.array([True, False, False]), np.zeros(3, bool), np.array([0, 1]), np.array([1, 2]),
                np.array([False, False]), cap=5)
    assert sol.n_components == 1


@settings(max_examples=50, deadline=None)
@given(graphs)
def test_pinned_identifiers_never_link_and_keep_their_flag(g) -> None:
    """A pinned identifier (kept flagged by an erasure, ADR 0028) is a hub whatever the evidence:
    its edges are not applied, everyone else links as union-find says over the other edges."""
    from percorso.identity.graph import FLAG_REASON, FLAGGED_HUB, KEPT

    n, kinds, edges, pinned, _ = g
    pinned = np.array(pinned)
    a, b = _arrays(edges)
    sol = solve(np.array(kinds), np.zeros(n, bool), np.zeros(n, bool), a, b, np.ones(a.size, bool),
                cap=10**9, limits=UNLIMITED, pinned=pinned)
    touching = pinned[a] | pinned[b]
    assert (sol.edge_status[touching] == FLAGGED_HUB).all() and (sol.edge_status[~touching] == 0).all()
    assert (sol.flag[pinned] == KEPT).all() and (sol.flag[~pinned] == 0).all() and FLAG_REASON[KEPT] == "kept_flagged"
    kept = [(x, y) for x, y, t in zip(a.tolist(), b.tolist(), touching.tolist(), strict=True) if not t]
    assert parts(sol.labels, ~pinned) == {p for p in union_find(n, kept) if not pinned[next(iter(p))]}


def test_a_cookie_kept_flagged_does_not_join_the_two_people_left() -> None:
    """A family browser's cookie seen with three e-mails is a hub at cap 2; after one person is
    erased it touches two: unpinned it would join them, pinned it joins nobody."""
    e1, e2, cookie = 0, 1, 2
    kinds = np.array([KIND_NO["email_key"], KIND_NO["email_key"], KIND_NO["anonymous_id"]])
    a, b = np.array([e1, e2]), np.array([cookie, cookie])
    args = (kinds, np.zeros(3, bool), np.zeros(3, bool), a, b, np.ones(2, bool))
    free = solve(*args, cap=2, limits=UNLIMITED)
    assert free.labels[e1] == free.labels[e2] == free.labels[cookie]
    kept = solve(*args, cap=2, limits=UNLIMITED, pinned=np.array([False, False, True]))
    assert len({int(kept.labels[e1]), int(kept.labels[e2]), int(kept.labels[cookie])}) == 3


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=90))))
def test_numpy_components_equal_union_find(g) -> None:
    """The labelling used for small graphs (an incremental region) against the oracle, self-loops
    and repeated edges included."""
    from percorso.identity.graph import _cc_numpy

    n, edges = g
    a = np.array([x for x, _ in edges], dtype=np.int64)
    b = np.array([y for _, y in edges], dtype=np.int64)
    k, lab = _cc_numpy(n, a, b)
    assert parts(lab) == union_find(n, edges)
    assert k == len(union_find(n, edges)) and sorted(set(lab.tolist())) == list(range(k))


def test_numpy_components_of_a_long_shuffled_chain_and_a_star() -> None:
    """The slow cases of label propagation (a 5,000-node path numbered at random, a star):
    one component each, as scipy says."""
    from percorso.identity.graph import _cc_numpy

    rng = np.random.default_rng(3)
    order = rng.permutation(5000)
    k, lab = _cc_numpy(5000, order[:-1], order[1:])
    assert k == 1 and (lab == 0).all()
    k, lab = _cc_numpy(10, np.zeros(5, np.int64), np.arange(5, 10))
    assert k == 5 and parts(lab) == {frozenset([0, 5, 6, 7, 8, 9]), frozenset([1]), frozenset([2]),
                                      frozenset([3]), frozenset([4])}


@settings(max_examples=30, deadline=None)
@given(graphs, st.integers(1, 4))
def test_solution_is_the_same_with_scipy_components(g, cap) -> None:
    """The solver gives the same answer whichever labelling it uses (scipy above
    ``SMALL_GRAPH``, numpy below)."""
    import percorso.identity.graph as G

    n, kinds, edges, trusted_nodes, _ = g
    a, b = _arrays(edges)
    args = (np.array(kinds), np.array(trusted_nodes), np.zeros(n, bool), a, b, np.arange(a.size) % 2 == 0)
    small = solve(*args, cap=cap)
    was = G.SMALL_GRAPH
    G.SMALL_GRAPH = 0
    try:
        large = solve(*args, cap=cap)
    finally:
        G.SMALL_GRAPH = was
    assert (small.labels == large.labels).all() and (small.flag == large.flag).all()
    assert (small.edge_status == large.edge_status).all() and (small.n_linked == large.n_linked).all()
