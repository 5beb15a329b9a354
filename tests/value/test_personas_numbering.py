"""Persona numbers survive a new clustering: matching, hand-computed and against oracles.

The matching is checked on hand-computed centroids, on random permuted and slightly moved
centroids (the permutation must come back), and against a brute-force search of the
cheapest matching; then end to end on journeys where the clusters change size order between
two runs, in a real DuckDB file.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.testing import journeys_for
from percorso.value.personas import TABLE, PersonasQuery
from percorso.value.personas_numbering import FIRST, KEPT, NEW, match_numbers


def test_hand_computed_match() -> None:
    old = {1: np.array([0.0, 0.0]), 2: np.array([10.0, 0.0]), 3: np.array([0.0, 10.0])}
    # the new clusters by size: near 3, near 1, near 2
    new = np.array([[0.0, 9.5], [0.2, 0.0], [10.0, 0.5]])
    m = match_numbers(old, new)
    assert m.numbers == [3, 1, 2] and m.status == [KEPT] * 3 and m.gone == []
    assert m.distance == pytest.approx([0.5, 0.2, 0.5])
    assert m.lines() == ["persona 1 kept its number (distance 0.20)", "persona 2 kept its number (distance 0.50)",
                         "persona 3 kept its number (distance 0.50)"]


def test_k_grew_takes_free_numbers_and_k_shrank_leaves_one_unused() -> None:
    # the previous run had used 1 and 3 (2 had no match then): the two new clusters take 2, then 4
    old = {1: np.array([0.0, 0.0]), 3: np.array([10.0, 0.0])}
    grew = match_numbers(old, np.array([[0.0, 0.1], [5.0, 5.0], [10.0, 0.0], [20.0, 20.0]]))
    assert grew.numbers == [1, 2, 3, 4] and grew.status == [KEPT, NEW, KEPT, NEW] and grew.gone == []
    assert grew.distance[0] == pytest.approx(0.1) and grew.distance[2] == 0.0
    assert "persona 2 is new" in grew.lines() and "persona 4 is new" in grew.lines()
    old = {1: np.array([0.0, 0.0]), 2: np.array([10.0, 0.0]), 3: np.array([0.0, 10.0])}
    shrank = match_numbers(old, np.array([[9.0, 0.0], [0.0, 1.0]]))
    assert shrank.numbers == [2, 1] and shrank.gone == [3]
    assert shrank.lines()[-1] == "persona 3 has no match in this run: number not used"
    first = match_numbers({}, np.zeros((3, 2)))
    assert first.numbers == [1, 2, 3] and first.status == [FIRST] * 3


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8), st.integers(2, 12))
def test_permuted_and_moved_centroids_keep_their_numbers(seed: int, k: int, d: int) -> None:
    """Each old centroid moved by less than a third of the smallest gap between two of them:
    the cheapest matching is the permutation itself."""
    rng = np.random.default_rng(seed)
    old = rng.normal(size=(k, d)) * 3
    gap = min(np.linalg.norm(old[i] - old[j]) for i in range(k) for j in range(i + 1, k))
    noise = rng.normal(size=(k, d))
    noise *= (gap / 3) * rng.uniform(0, 1, size=(k, 1)) / np.linalg.norm(noise, axis=1, keepdims=True)
    numbers = sorted(rng.choice(np.arange(1, 13), size=k, replace=False).tolist())
    perm = rng.permutation(k)
    m = match_numbers(dict(zip(numbers, old, strict=True)), old[perm] + noise)
    assert m.numbers == [numbers[p] for p in perm]
    assert m.status == [KEPT] * k and m.gone == []


def _cost(old: dict[int, np.ndarray], new: np.ndarray, numbers: list[int]) -> float:
    return sum(float(np.linalg.norm(old[n] - new[i])) for i, n in enumerate(numbers) if n in old)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 5))
def test_matching_is_as_cheap_as_brute_force(seed: int, k_old: int, k_new: int) -> None:
    """Every way to give min(k_old, k_new) new clusters distinct old numbers, tried one by one."""
    rng = np.random.default_rng(seed)
    old = {n: rng.normal(size=3) for n in range(1, k_old + 1)}
    new = rng.normal(size=(k_new, 3))
    m = match_numbers(old, new)
    best = min(sum(float(np.linalg.norm(old[n] - new[i])) for i, n in pairs)
               for chosen in itertools.permutations(range(k_new), min(k_old, k_new))
               for nums in itertools.permutations(old, len(chosen))
               for pairs in [list(zip(chosen, nums, strict=True))])
    assert _cost(old, new, m.numbers) == pytest.approx(best)
    # every number once: the old ones kept or left unused, the new clusters after them
    assert len(set(m.numbers)) == k_new and not set(m.numbers) & set(m.gone)
    assert sorted(set(m.numbers) | set(m.gone)) == list(range(1, max(k_old, k_new) + 1))
    assert sum(s == KEPT for s in m.status) == min(k_old, k_new)


def groups(n_store: int, n_email: int, n_paid: int, seed: int = 1, prefix: str = "") -> dict:
    """Three well-separated groups: store shoppers, e-mail-driven online buyers, paid-social
    visitors who never buy."""
    rng = random.Random(seed)
    store, email = {"channel": "Store / POS"}, {"channel": "Email", "device_type": "desktop"}
    paid = {"channel": "Paid Social", "device_type": "mobile"}
    j = {}
    for i in range(n_store):
        j[f"{prefix}s{i:03d}"] = [("store_visit", f"2024-01-0{1 + d} 10:00", store) for d in range(3)] + [
            ("receipt", "2024-01-05 12:00", {**store, "revenue": 50.0 + rng.random() * 5})]
    for i in range(n_email):
        j[f"{prefix}e{i:03d}"] = [("email_click", f"2024-01-0{1 + d} 10:00", email) for d in range(3)] + [
            ("purchase", "2024-01-07 12:00", {**email, "revenue": 480.0 + rng.random() * 40})]
    for i in range(n_paid):
        j[f"{prefix}p{i:03d}"] = [("page_view", f"2024-01-0{1 + d} 2{d}:00", paid) for d in range(2 + rng.randrange(3))]
    return j


def _assignment(engine) -> dict[str, int]:
    df = engine.execute(engine.table(TABLE).select("customer_id", "persona"))
    return dict(zip(df["customer_id"], df["persona"].astype(int), strict=True))


def test_a_rerun_keeps_the_numbers_when_the_size_order_changes(tmp_path) -> None:
    # run 1: store 20, e-mail 12, paid 6 -> by size store = 1, e-mail = 2, paid = 3
    e = journeys_for(tmp_path, groups(20, 12, 6))
    run(e, PersonasQuery(k=3, seed=2))
    first = _assignment(e)
    by_group = {g: {first[c] for c in first if c[0] == g} for g in "sep"}
    assert by_group == {"s": {1}, "e": {2}, "p": {3}}
    # run 2 on more data: 30 more e-mail buyers make theirs the biggest cluster (by size it would be 1)
    journeys_for(e, {**groups(20, 12, 6), **groups(0, 30, 0, seed=3, prefix="n")})
    r = run(e, PersonasQuery(k=3, seed=2))
    now = _assignment(e)
    assert {c: now[c] for c in first} == first
    assert {now[c] for c in now if c.startswith("ne")} == {2}
    rows = e.execute(e.table("persona_numbering").order_by(["computed_at", "size_rank"]))
    last = rows[rows["computed_at"] == rows["computed_at"].max()]
    assert list(last["persona"]) == [2, 1, 3] and list(last["size_rank"]) == [1, 2, 3]
    assert set(last["status"]) == {KEPT} and (last["distance"] < 0.5).all()
    assert list(rows.loc[rows["computed_at"] == rows["computed_at"].min(), "status"]) == [FIRST] * 3
    assert [c["persona"] for c in r.cards] == [1, 2, 3]
    # the stored description says which numbers were kept
    stored = run(e, PersonasQuery(stored=True))
    assert len(stored.meta["numbering"]) == 3
    assert all(line.startswith(f"persona {n} kept its number (distance ") for n, line in
               zip((1, 2, 3), stored.meta["numbering"], strict=True))

    # k = 2: two groups keep their numbers, the third number is not used in this run
    r2 = run(e, PersonasQuery(k=2, seed=2))
    two = _assignment(e)
    used = set(two.values())
    assert len(used) == 2 and used < {1, 2, 3}
    assert sorted(c["persona"] for c in r2.cards) == sorted(used)
    gone = ({1, 2, 3} - used).pop()
    assert r2.meta["numbering"][-1] == f"persona {gone} has no match in this run: number not used"
    assert run(e, PersonasQuery(stored=True)).meta["k"] == 2
    # k = 3 again: the split-off group takes the free number back, as a new persona
    r3 = run(e, PersonasQuery(k=3, seed=2))
    assert set(_assignment(e).values()) == {1, 2, 3}
    assert f"persona {gone} is new" in r3.meta["numbering"]


def test_a_stored_grouping_that_is_still_an_optimum_is_kept() -> None:
    """Four equal blobs on the corners of a square: splitting them left/right or top/bottom is
    equally good for k = 2. The stored personas decide which one the new run keeps."""
    from percorso.value.personas import fit_personas

    offsets = np.array([[0.0, 0.0], [0.1, 0.0], [-0.1, 0.0], [0.0, 0.1], [0.0, -0.1]])
    x = np.concatenate([offsets + np.array(c) for c in ((-1, -1), (-1, 1), (1, -1), (1, 1))])
    left_right = fit_personas(x, ["a", "b"], 2, seed=0, previous=np.array([[-1.0, 0.0], [1.0, 0.0]]))
    top_bottom = fit_personas(x, ["a", "b"], 2, seed=0, previous=np.array([[0.0, -1.0], [0.0, 1.0]]))
    assert left_right.warm and top_bottom.warm
    assert np.allclose(np.abs(left_right.centroids[:, 1]), 0.0) and (np.abs(left_right.centroids[:, 0]) > 0.9).all()
    assert np.allclose(np.abs(top_bottom.centroids[:, 0]), 0.0) and (np.abs(top_bottom.centroids[:, 1]) > 0.9).all()


def test_a_stored_grouping_worse_than_the_seeded_starts_is_dropped() -> None:
    """Ten customers each at 0, 6 and 10 on one feature, k = 2. {0}, {6, 10} (centres 0 and 8)
    has inertia 20 · 2² = 80; {0, 6}, {10} (centres 3 and 10) is a local optimum with
    20 · 3² = 180. Started there, k-means stays there: the seeded starts' better result wins."""
    from percorso.value.personas import fit_personas

    x = np.repeat([[0.0], [6.0], [10.0]], 10, axis=0)
    worse = fit_personas(x, ["a"], 2, seed=0, previous=np.array([[3.0], [10.0]]))
    assert not worse.warm
    assert sorted((worse.centroids * worse.std + worse.mean)[:, 0]) == pytest.approx([0.0, 8.0])
    same = fit_personas(x, ["a"], 2, seed=0, previous=np.array([[0.0], [8.0]]))
    assert same.warm and sorted((same.centroids * same.std + same.mean)[:, 0]) == pytest.approx([0.0, 8.0])


def test_a_stored_persona_without_members_today_keeps_its_number_out_of_reuse(tmp_path) -> None:
    """A stored persona none of whose members has touchpoints today (merged into other ids) has
    no centroid to match; its number was given to a new cluster as "new", as if the previous run
    had not used it, so a saved `persona = 3` silently named another group."""
    old = {1: np.array([0.0, 0.0]), 2: np.array([10.0, 0.0])}
    m = match_numbers(old, np.array([[0.0, 0.1], [10.0, 0.0], [5.0, 5.0]]), used={1, 2, 3})
    assert m.numbers == [1, 2, 4] and m.status == [KEPT, KEPT, NEW] and m.gone == [3]
    # end to end: the stored members of persona 3 vanish (ids no touchpoint has any more)
    e = journeys_for(tmp_path, groups(20, 12, 6))
    run(e, PersonasQuery(k=3, seed=2))
    stored = e.execute(e.table(TABLE))
    stored.loc[stored.persona == 3, "customer_id"] = "merged-" + stored.loc[stored.persona == 3, "customer_id"]
    e.create_table(TABLE, pa.Table.from_pandas(stored, preserve_index=False))
    r = run(e, PersonasQuery(k=3, seed=2))
    assert 3 not in set(_assignment(e).values())
    assert r.meta["numbering"][-1] == "persona 3 has no match in this run: number not used"
