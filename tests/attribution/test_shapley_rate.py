"""Conversion-rate Shapley (``shapley_rate``): hand-computed cases, axioms, permutation oracle,
and the sampled estimate above the exact limit against the exact one within its error."""

from __future__ import annotations

import numpy as np
import pytest
from attr_helpers import by_node, table
from attribution_oracle import shapley_rate_permutations
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.attribution import shapley


def test_a_channel_whose_journeys_convert_no_better_gets_nothing():
    # v({a}) = 1/2, v({b}) = 0/2, v({a,b}) = 3/6: φa = ½·½ + ½·(½ - 0) = ½, φb = ½·0 + ½·(½ - ½) = 0;
    # × 6 journeys: a 3, b 0. The count Shapley would give b 1 of the 3 conversions.
    p = table([(["a"], 1, 1), (["b"], 0, 2), (["a", "b"], 2, 0)])
    assert by_node(p, shapley.shapley_rate(p)) == pytest.approx({"a": 3.0, "b": 0.0})
    assert by_node(p, shapley.shapley_exact(p)) == pytest.approx({"a": 2.0, "b": 1.0})


def test_a_channel_that_lowers_the_rate_gets_a_negative_credit():
    # v({a}) = 1, v({c}) = 0 (no journey), v({a,c}) = 2/4: φa = ½·1 + ½·½ = ¾, φc = ½·0 + ½·(½ - 1) = -¼
    p = table([(["a"], 2, 0), (["a", "c"], 0, 2)])
    assert by_node(p, shapley.shapley_rate(p)) == pytest.approx({"a": 3.0, "c": -1.0})


def test_efficiency_symmetry_and_every_measure():
    p = table([(["x", "y"], 3, 1, 30.0), (["y", "x"], 1, 0, 5.0), (["x"], 2, 2, 8.0), (["y"], 2, 2, 8.0)])
    credits = shapley.shapley_rate(p)
    assert credits[:, 0].sum() == pytest.approx(8.0)
    assert credits[:, 1].sum() == pytest.approx(51.0)
    phi = by_node(p, credits)
    assert phi["x"] == pytest.approx(phi["y"])


RATE_ROWS = st.lists(st.tuples(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4), st.integers(0, 5),
                               st.integers(0, 5)), min_size=1, max_size=10).filter(
    lambda rows: sum(r[1] + r[2] for r in rows) > 0)


@settings(max_examples=50, deadline=None)
@given(RATE_ROWS)
def test_shapley_rate_equals_permutation_oracle(rows):
    p = table(rows)
    assert by_node(p, shapley.shapley_rate(p)) == pytest.approx(shapley_rate_permutations(rows), abs=1e-9)


def test_sampling_above_the_exact_limit_agrees_within_its_error():
    rng = np.random.default_rng(4)
    names = list("abcdefg")
    rows = [(list(rng.choice(names, rng.integers(1, 4), replace=False)), int(rng.integers(0, 6)),
             int(rng.integers(0, 6))) for _ in range(60)]
    p = table(rows)
    exact = shapley.shapley_rate(p)
    weights = np.column_stack([p.measures(), p.conversions + p.nulls])
    mean, se = shapley.sampled_rate_shapley(shapley.channel_masks(p), weights, len(p.nodes), 3000, seed=1)
    journeys = weights[:, 3].sum()
    assert np.all(se[:, 0] > 0)
    assert np.all(np.abs(mean[:, 0] * journeys - exact[:, 0]) < 4 * se[:, 0] * journeys)
    forced = shapley.shapley_rate(p, max_exact=0, samples=3000, seed=1)
    assert forced[:, 0] == pytest.approx(mean[:, 0] * journeys)
    assert forced[:, 0].sum() == pytest.approx(p.conversions.sum())  # every order telescopes to v(N)
