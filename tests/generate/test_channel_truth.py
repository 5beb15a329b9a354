"""The generator's incremental purchases per channel against a counterfactual re-run.

Re-running one purchase cycle from the same random state with one channel's effect set to
zero removes exactly that channel's exposures from the purchase decision (the draws do not
depend on the effects), so the realised drop in purchases must match the exact expectation
``ChannelTruth.incremental`` within sampling error.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from percorso.generate import journeys as GJ
from percorso.generate.catalog import CH
from percorso.generate.fmt import SPAN_S
from percorso.generate.people import make_persons

DAY = 86400


def test_observed_probability_by_hand():
    big = np.array([10**12])
    assert GJ._observed_p(np.array([0.0]), np.array([0.0]), big)[0] == pytest.approx(0.5)
    assert GJ._observed_p(np.array([3.0]), np.array([1.0]), np.array([600]))[0] == 0.0
    # delay ~ Exp(6 days) + 600 s must be < 600 s + 6 days: probability 1 - 1/e, times σ(0)
    h = np.array([600 + 6 * DAY])
    assert GJ._observed_p(np.array([0.0]), np.array([0.0]), h)[0] == pytest.approx(0.5 * (1 - math.exp(-1)))


def _one_cycle(rng: np.random.Generator, p, start: np.ndarray, reg: np.ndarray):
    return GJ._cycle(p, rng, np.arange(p.n), start, 0, reg)


@pytest.mark.parametrize("channel", ["Paid Search", "Store / POS", "Display", "Loyalty"])
def test_incremental_purchases_match_a_counterfactual_rerun(monkeypatch, channel):
    rng = np.random.default_rng(21)
    p = make_persons(30_000, rng, 21)
    # starts late enough that some purchases fall after the span (the truth must see that too)
    start = rng.integers(0, SPAN_S - 5 * DAY, p.n)
    reg = np.where(p.loyalty, rng.integers(-DAY, SPAN_S, p.n), np.iinfo(np.int64).max)
    again = copy.deepcopy(rng)
    _, bought, truth = _one_cycle(rng, p, start, reg)
    n = bought.person.size
    assert abs(n - truth.expected) < 4 * math.sqrt(truth.expected)
    effects = GJ.EFFECTS.copy()
    effects[CH[channel]] = 0.0
    monkeypatch.setattr(GJ, "EFFECTS", effects)
    _, without, _ = _one_cycle(again, p, start, reg)
    drop, expected = n - without.person.size, truth.incremental[CH[channel]]
    assert expected > 20  # the check has power
    assert abs(drop - expected) < 4 * math.sqrt(expected) + 2
