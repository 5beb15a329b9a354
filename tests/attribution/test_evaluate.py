"""Rank correlations against the simulation's truths (hand-computed Spearman values)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from percorso.attribution import AttributionQuery
from percorso.attribution.analysis import AttributionRunner
from percorso.attribution.evaluate import exposed_customers, rank_correlations, read_truth
from percorso.errors import InputError
from percorso.testing import journeys_for

TRUTH = pd.DataFrame({"channel": list("abcd"), "true_effect": [0.4, 0.3, 0.2, 0.1],
                      "incremental_conversions": [40.0, 30.0, 20.0, 10.0], "description": [""] * 4})
# 'x' has no truth and 'spread' is not a model: both ignored
FRAME = pd.DataFrame({"node": list("abcdx"), "last": [1, 2, 3, 4, 9], "markov_1": [40, 60, 20, 10, 0],
                      "spread": [0] * 5})
EXPOSED = pd.Series({"a": 100.0, "b": 300.0, "c": 100.0, "d": 200.0, "x": 5.0})


def test_rank_correlations_hand():
    rho = rank_correlations(FRAME, TRUTH, EXPOSED)
    assert list(rho.index) == ["last", "markov_1"] and (rho["channels"] == 4).all()
    assert rho.loc["last", "incremental_conversions"] == pytest.approx(-1.0)
    # markov ranks a3 b4 c2 d1 against 4 3 2 1: Σd² = 2 → 1 - 6·2/(4·15) = 0.8
    assert rho.loc["markov_1", "incremental_conversions"] == pytest.approx(0.8)
    assert rho.loc["markov_1", "true_effect"] == pytest.approx(0.8)
    # per exposed customer 0.4, 0.2, 0.2, 0.05 (a tie): ranks 4, 2.5, 2.5, 1 → 4.5/√(4.5·5) = 3/√10
    assert rho.loc["markov_1", "true_effect_per_exposed"] == pytest.approx(3 / math.sqrt(10))


def test_rank_correlations_exclude_and_missing_exposure():
    rho = rank_correlations(FRAME, TRUTH, exclude=["b"])
    assert rho.loc["markov_1", "incremental_conversions"] == pytest.approx(1.0)
    assert rho.loc["markov_1", "channels"] == 3
    assert math.isnan(rho.loc["markov_1", "true_effect_per_exposed"])
    assert math.isnan(rank_correlations(FRAME, TRUTH, exclude=["b", "c"]).loc["last", "true_effect"])


def test_read_truth_needs_incremental_conversions(tmp_path):
    f = tmp_path / "channel_effects.csv"
    TRUTH.drop(columns=["incremental_conversions"]).to_csv(f, index=False)
    with pytest.raises(InputError, match="incremental_conversions"):
        read_truth(f)
    TRUTH.to_csv(f, index=False)
    assert list(read_truth(f)["channel"]) == list("abcd")


def test_exposed_customers_counts_every_journey(tmp_path):
    engine = journeys_for(tmp_path, {
        "ann": [("page_view", "2024-01-01 10:00", {"channel": "a"}),
                ("page_view", "2024-01-03 10:00", {"channel": "a"}),
                ("purchase", "2024-01-04 10:00", {"channel": "Direct", "revenue": 5.0})],
        "ben": [("page_view", "2024-01-02 10:00", {"channel": "a"}),
                ("page_view", "2024-01-02 18:00", {"channel": "b"})],  # no conversion: still exposed
    })
    touches = AttributionRunner(engine, AttributionQuery()).touches()
    assert exposed_customers(engine, touches).to_dict() == {"a": 2.0, "b": 1.0}
    engine.close()
