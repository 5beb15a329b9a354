"""Exact Markov removal effects vs a dense brute-force solve; Shapley axioms and oracle."""

from __future__ import annotations

import numpy as np
import pytest
from attr_helpers import by_node, table
from attribution_oracle import markov_removal_dense, shapley_permutations
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.attribution import markov, shapley

HAND = [(["a", "b"], 1, 0), (["b"], 1, 1), (["a", "c", "b"], 0, 1), (["c"], 0, 1)]


def test_markov_order1_hand_computed():
    # start→a 2/5, →b 2/5, →c 1/5; a→b 1/2, a→c 1/2; c→b 1/2, c→null 1/2; b→conv 2/4.
    # P = 0.4·0.375 + 0.4·0.5 + 0.2·0.25 = 0.4; without a: 0.25; without b: 0; without c: 0.3.
    p = table(HAND)
    re, total = markov.removal_effects(p, 1)
    assert total[0] == pytest.approx(0.4)
    assert by_node(p, re) == pytest.approx({"a": 0.375, "b": 1.0, "c": 0.25})
    credits = by_node(p, markov.markov(p, 1))
    s = 0.375 + 1 + 0.25
    assert credits == pytest.approx({"a": 2 * 0.375 / s, "b": 2 / s, "c": 2 * 0.25 / s})


def test_markov_order2_hand_computed():
    # order 2: states (a), (b), (c), (a,b), (a,c), (c,b). (a,b)→conv 1; (b)→conv 1/2;
    # (a,c)→(c,b)→null; (c)→null. P = 2/5·(1/2·1 + 1/2·0) + 2/5·1/2 + 0 = 0.4.
    # Without c: (a,c) and (c,*) lead to null; a still converts via (a,b): P = 0.4 → RE 0.
    p = table(HAND)
    re, total = markov.removal_effects(p, 2)
    assert total[0] == pytest.approx(0.4)
    assert by_node(p, re) == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.0})


MARKOV_ROWS = st.lists(
    st.tuples(st.lists(st.sampled_from("abcd"), min_size=1, max_size=5), st.integers(0, 4), st.integers(0, 4)),
    min_size=1, max_size=10,
).filter(lambda rows: sum(r[1] for r in rows) > 0)


@settings(max_examples=60, deadline=None)
@given(MARKOV_ROWS, st.integers(1, 3))
def test_markov_equals_dense_bruteforce(rows, order):
    p = table(rows)
    re, total = markov.removal_effects(p, order)
    expected, expected_total = markov_removal_dense(rows, order)
    assert total[0] == pytest.approx(expected_total, rel=1e-9, abs=1e-12)
    got = by_node(p, re)
    assert got == pytest.approx({k: max(v, 0.0) for k, v in expected.items()}, abs=1e-9)
    credits = markov.markov(p, order)
    assert credits[:, 0].sum() == pytest.approx(sum(r[1] for r in rows))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_sparse_transition_counts_equal_dense_bruteforce(monkeypatch, order):
    # large chains (order 4) count transitions sparsely; force that path on small ones
    monkeypatch.setattr(markov, "DENSE_PAIRS", 0)
    rows = [(list("abca"), 2, 1), (list("ba"), 1, 2), (list("ccb"), 0, 3), (list("d"), 1, 1), (list("adb"), 3, 0)]
    re, total = markov.removal_effects(table(rows), order)
    expected, expected_total = markov_removal_dense(rows, order)
    assert total[0] == pytest.approx(expected_total, rel=1e-9)
    assert by_node(table(rows), re) == pytest.approx({k: max(v, 0.0) for k, v in expected.items()}, abs=1e-9)


def test_markov_order4_runs_and_sums():
    p = table([(list("abcab"), 3, 1), (list("ba"), 1, 2), (list("ccca"), 0, 2), (list("d"), 1, 1)])
    credits = markov.markov(p, 4)
    assert credits[:, 0].sum() == pytest.approx(5.0)
    assert credits[:, 1].sum() == pytest.approx(50.0)


def test_value_removal_effect_follows_money():
    # b converts cheaply, a converts expensively; value credit must favour a more than count credit
    p = table([(["a"], 1, 1, 100.0), (["b"], 1, 1, 1.0)])
    c = by_node(p, markov.markov(p, 1), col=1)
    assert c["a"] == pytest.approx(100.0) and c["b"] == pytest.approx(1.0)


def test_shapley_axioms():
    rows = [(["a", "b"], 4, 0), (["b", "a"], 2, 0), (["a"], 1, 3), (["b"], 1, 0), (["c", "a"], 0, 5)]
    p = table(rows)
    phi = by_node(p, shapley.shapley_exact(p))
    assert sum(phi.values()) == pytest.approx(8.0)            # efficiency
    assert phi["c"] == pytest.approx(0.0)                      # null player: c never helps
    # hand: v({a})=1, v({b})=1, v({a,b})=8 → φa = φb = 1/2·1 + 1/2·(8-1) = 4
    assert phi["a"] == pytest.approx(4.0) and phi["b"] == pytest.approx(4.0)


def test_shapley_symmetry():
    p = table([(["x", "y"], 3, 1), (["y", "x"], 1, 0), (["x"], 2, 0), (["y"], 2, 4)])
    phi = by_node(p, shapley.shapley_exact(p))
    assert phi["x"] == pytest.approx(phi["y"])


SH_ROWS = st.lists(st.tuples(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4), st.integers(0, 5)),
                   min_size=1, max_size=10)


@settings(max_examples=50, deadline=None)
@given(SH_ROWS)
def test_shapley_equals_permutation_oracle(rows):
    p = table([(r[0], r[1], 0) for r in rows])
    expected = shapley_permutations(rows)
    exact = by_node(p, shapley.shapley_exact(p))
    assert exact == pytest.approx(expected, abs=1e-9)
    assert by_node(p, shapley.shapley_dividends(p)) == pytest.approx(expected, abs=1e-9)


def test_shapley_many_channels_uses_dividends():
    names = [f"ch{i:02d}" for i in range(18)]
    rows = [([names[i], names[(i + 1) % 18]], 1 + i % 3, 0) for i in range(18)]
    p = table(rows)
    credits = shapley.shapley(p, max_exact=15)
    assert credits[:, 0].sum() == pytest.approx(sum(r[1] for r in rows))
    assert np.all(credits >= 0)
