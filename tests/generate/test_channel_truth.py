"""The generator's incremental purchases per channel (paired counterfactual re-walks).

``funnel.channel_truth`` re-walks only the cycles a channel reached, with the channel's
effect removed and the same random numbers. These tests check that shortcut against a full
re-walk of every cycle, the transition rule on one hand-computed step, that a channel with
no effect gets exactly nothing, and that the paired estimate agrees with two *independent*
simulations (with and without the channel) within their sampling error.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from percorso.generate import funnel as F
from percorso.generate.catalog import CH, CHANNELS
from percorso.generate.fmt import DAYS, SPAN_S

DAY = 86400


def _cycles(n: int, seed: int, stage0: int = 0) -> F.Cycles:
    rng = np.random.default_rng(seed)
    reg = np.where(rng.random(n) < 0.35, rng.integers(-DAY, SPAN_S, n), np.iinfo(np.int64).max)
    return F.Cycles(np.arange(n), rng.integers(0, SPAN_S - 5 * DAY, n), np.full(n, stage0), rng.integers(0, 4, n),
                    rng.normal(0, 0.5, n), reg, np.zeros(DAYS + 2))


@pytest.fixture(scope="module")
def factual():
    c = _cycles(40_000, 5)
    d = F.draw(np.random.default_rng(6), c.person.size)
    w = F.walk(c, d)
    out = F.outcome(w, d)
    return c, d, w, out, F.channel_truth(c, d, w, out)


@pytest.mark.parametrize("channel", ["Paid Search", "Display", "Direct", "Loyalty"])
def test_rewalking_reached_cycles_equals_rewalking_all(factual, channel):
    c, d, w, out, truth = factual
    ch = CH[channel]
    again = F.walk(c, d, removed=ch)
    bought = F.outcome(again, d).bought
    reached = F.exposure(w)[:, ch]
    # cycles the channel never reached walk exactly as before ...
    assert np.array_equal(again.channel[~reached], w.channel[~reached])
    assert np.array_equal(again.t[~reached], w.t[~reached])
    assert np.array_equal(bought[~reached], out.bought[~reached])
    # ... so the shortcut's difference is the full re-walk's difference
    assert truth.incremental[ch] == out.bought.sum() - bought.sum()
    assert truth.exposed[ch] == reached.sum() > 0


def test_removing_a_channel_changes_what_happens_after_it(factual):
    c, d, w, _, _ = factual
    ch = CH["Paid Social"]
    again = F.walk(c, d, removed=ch)
    reached = F.exposure(w)[:, ch]
    later = (again.channel != w.channel).any(axis=1)
    # downstream contacts differ (a different stage draws from a different mix) or stop
    assert later[reached].sum() > 100
    assert not later[~reached].any()


def test_a_channel_with_no_effect_gets_exactly_nothing(monkeypatch, factual):
    c, d, _, _, _ = factual
    patched = tuple(replace(x, true_effect=0.0) if x.name == "Affiliates" else x for x in CHANNELS)
    monkeypatch.setattr(F, "CHANNELS", patched)
    w = F.walk(c, d)
    truth = F.channel_truth(c, d, w, F.outcome(w, d))
    assert truth.exposed[CH["Affiliates"]] > 1000
    assert truth.incremental[CH["Affiliates"]] == 0 and truth.se[CH["Affiliates"]] == 0


def test_one_step_by_hand():
    """A considering person, no membership, propensity 0, off season, one Store / POS visit.

    Decision log-odds: BASE_LOGIT[1] + 1.20 (Store / POS is mid funnel: full effect). The
    decision uniform sits between σ(BASE_LOGIT[1]) and σ(BASE_LOGIT[1] + 1.20), so the visit
    decides and, removed, does not: one incremental purchase.

    Times: the contact is drawn at 2024-01-11 00:00 UTC (01:00 in Rome, a Thursday); a store
    visit waits for the store (a wait of 0 open days: its opening, 09:30 in Rome = 08:30 UTC),
    and the purchase, with no delay, is 10 minutes later, the store being open."""
    c = F.Cycles(np.array([0]), np.array([10 * DAY]), np.array([1]), np.array([0]), np.array([0.0]),
                 np.array([np.iinfo(np.int64).max]), np.zeros(DAYS + 2))
    cdf = F.mix_cdf()[0, 1]
    k = CH["Store / POS"]
    lo, hi = (cdf[k - 1] if k else 0.0), cdf[k]
    with_it = 1 / (1 + math.exp(-(F.BASE_LOGIT[1] + 1.20)))
    without = 1 / (1 + math.exp(-F.BASE_LOGIT[1]))
    step = np.zeros((5, 1, F.STEPS), np.float32)
    step[0] = (lo + hi) / 2                  # the contact is a store visit
    step[2, 0, 0] = (with_it + without) / 2  # decides only with its effect
    step[3] = 0.0                            # a step without a decision ends the journey
    step[4] = 0.0                            # no wait beyond the store's opening
    d = F.Draws(step, np.ones((1, F.STEPS), np.float32), np.full((5, 1), 0.5, np.float32), np.zeros(1, np.float32))
    w = F.walk(c, d)
    assert w.channel[0, 0] == k and w.decided[0] == 0 and (w.channel[0, 1:] == -1).all()
    opening = 10 * DAY + 8 * 3600 + 30 * 60
    assert w.t[0, 0] == opening
    out = F.outcome(w, d)
    assert out.bought[0] and not out.online[0]  # after a store visit, 0.5 ≥ ONLINE[0]: buys in store
    assert out.t[0] == opening + 600
    truth = F.channel_truth(c, d, w, out)
    assert truth.incremental[k] == 1 and truth.incremental.sum() == 1
    gone = F.walk(c, d, removed=k)
    assert gone.decided[0] == -1


def test_paired_truth_agrees_with_independent_simulations():
    """Purchases without Paid Search's effect, as the paired truth implies them (factual
    purchases minus its incremental ones, re-walked with the same random numbers), against an
    independent walk of the same 400,000 cycles with other random numbers: two independent
    samples of one quantity, so they differ by sampling error only (sd √(2 n p (1 - p)))."""
    n, ch = 400_000, CH["Paid Search"]
    c = _cycles(n, 8)
    d = F.draw(np.random.default_rng(9), n)
    w = F.walk(c, d)
    out = F.outcome(w, d)
    truth = F.channel_truth(c, d, w, out)
    paired = out.bought.sum() - truth.incremental[ch]
    other = F.draw(np.random.default_rng(10), n)
    independent = F.outcome(F.walk(c, other, removed=ch), other).bought.sum()
    p = independent / n
    sd = math.sqrt(2 * n * p * (1 - p))
    assert truth.incremental[ch] > 6 * sd  # a truth off by a sizeable share would fail
    assert abs(paired - independent) < 4 * sd
    assert 0 < truth.se[ch] < truth.incremental[ch] / 10
