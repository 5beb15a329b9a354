"""The demo's journeys behave as the funnel in :mod:`percorso.generate.funnel` says they do."""

from __future__ import annotations

import numpy as np
import pytest

from percorso.generate import funnel as F
from percorso.generate.catalog import CH, CHANNELS
from percorso.generate.journeys import simulate
from percorso.generate.people import make_persons


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(12)
    p = make_persons(30_000, rng, 12)
    return p, *simulate(p, rng)


def test_most_journeys_end_without_a_purchase(sim):
    _, tc, pur, _, truth = sim
    assert truth.cycles - truth.purchases > truth.cycles / 2
    assert truth.purchases == pur.person.size
    key = np.unique(tc.person.astype(np.int64) * 3 + tc.cycle)
    assert key.size == truth.cycles  # every cycle has at least one contact


def test_online_purchases_happen_in_a_visit_of_their_cycle(sim):
    _, tc, pur, _, _ = sim
    visit = tc.purchase >= 0
    assert np.bincount(tc.purchase[visit], minlength=pur.person.size)[pur.online].tolist() == [1] * pur.online.sum()
    assert not np.isin(np.flatnonzero(~pur.online), tc.purchase[visit]).any()
    assert (pur.person[tc.purchase[visit]] == tc.person[visit]).all()
    assert (pur.t[tc.purchase[visit]] > tc.t[visit]).all()
    # a navigational visit (Direct, a brand search or brand ad) unless bought in the deciding visit
    nav = tc.nav & visit
    assert set(np.unique(tc.channel[nav])) <= {CH[c] for c in F.NAV}
    assert nav.sum() > 0.5 * pur.online.sum()


def test_pull_contacts_come_later_than_push_contacts(sim):
    _, tc, _, _, _ = sim
    key = tc.person.astype(np.int64) * 3 + tc.cycle
    first = np.r_[True, key[1:] != key[:-1]]
    step = np.arange(key.size) - np.maximum.accumulate(np.where(first, np.arange(key.size), 0))
    pull = np.array([c.pull for c in CHANNELS])[tc.channel] & ~tc.nav
    push = ~np.array([c.pull for c in CHANNELS])[tc.channel]
    assert step[pull].mean() > step[push].mean() + 0.3


def test_repeat_buyers_start_further_down_the_funnel(sim):
    _, tc, pur, _, _ = sim
    key = np.unique(tc.person.astype(np.int64) * 3 + tc.cycle)
    cycles = np.bincount(key % 3, minlength=3)
    bought = np.bincount(pur.cycle, minlength=3)
    assert bought[1] / cycles[1] > 1.3 * bought[0] / cycles[0]
