"""Rank correlation against the simulation's true channel effects."""

from __future__ import annotations

import pandas as pd
import pytest

from percorso.attribution.evaluate import rank_correlation


def test_rank_correlation_hand(tmp_path):
    f = tmp_path / "channel_effects.csv"
    pd.DataFrame({"channel": ["a", "b", "c", "d"], "true_effect": [0.4, 0.3, 0.2, 0.1],
                  "description": ["", "", "", ""]}).to_csv(f, index=False)
    frame = pd.DataFrame({"node": ["a", "b", "c", "d", "x"], "last": [1, 2, 3, 4, 9],
                          "markov_1": [9, 5, 2, 1, 0], "spread": [0] * 5})
    rho = rank_correlation(frame, f)
    assert rho == pytest.approx({"last": -1.0, "markov_1": 1.0})  # 'x' has no truth: ignored
