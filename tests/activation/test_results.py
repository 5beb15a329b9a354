"""Holdout results by hand: rates, uplift, intervals, test, incremental revenue, sentences."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from percorso.activation.results import journey_results, revenue_stats, sentence, uplift_stats
from percorso.activation.runner import run_journeys
from percorso.activation.store import example
from percorso.testing import journeys_for


def test_uplift_by_hand() -> None:
    s = uplift_stats(400, 60, 100, 10)  # 15 % vs 10 %
    assert s["uplift"] == pytest.approx(0.05)
    se = math.sqrt(0.15 * 0.85 / 400 + 0.1 * 0.9 / 100)  # 0.03619
    assert s["uplift_low"] == pytest.approx(0.05 - 1.959964 * se, abs=1e-6)
    assert s["relative_uplift"] == pytest.approx(0.5)
    se_log = math.sqrt(0.85 / 60 + 0.9 / 10)
    assert s["relative_high"] == pytest.approx(1.5 * math.exp(1.959964 * se_log) - 1, abs=1e-6)
    pooled = 70 / 500
    z = 0.05 / math.sqrt(pooled * (1 - pooled) * (1 / 400 + 1 / 100))  # 1.2857
    assert s["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-9)  # 0.199: not significant


def test_revenue_by_hand() -> None:
    # treated revenues 0, 0, 30 (mean 10, variance 300); control 0, 0, 0, 12 (mean 3, variance 36)
    s = revenue_stats(3, 30, 900, 4, 12, 144)
    assert s["incremental_revenue"] == pytest.approx(21.0)  # (10 - 3) * 3 treated
    se = math.sqrt(300 / 3 + 36 / 4)
    assert s["incremental_revenue_high"] == pytest.approx((7 + 1.959964 * se) * 3, abs=1e-4)


def test_results_from_enrolments_and_orders(tmp_path) -> None:
    # 40 abandoners; holdout 0.5 on their stable hash. Conversions within 7 days counted, later not.
    people = {}
    for i in range(40):
        steps = [("add_to_cart", "2024-03-01 10:00")]
        if i % 4 == 0:
            steps.append(("purchase", "2024-03-03 10:00", {"revenue": 100.0}))
        if i % 4 == 1:
            steps.append(("receipt", "2024-03-04 10:00", {"revenue": 40.0, "channel": "Store / POS"}))
        if i % 4 == 2:
            steps.append(("purchase", "2024-03-20 10:00", {"revenue": 999.0}))  # after the goal window
        people[f"C{i:02d}"] = steps
    engine = journeys_for(tmp_path, people, time_zone="UTC")
    j = example("cart_abandonment").model_copy(update={"enabled": True, "holdout": 0.5, "exit": ()})
    run_journeys(engine, b"k", [j], now=datetime(2024, 4, 1), zone="UTC")
    e = engine.execute(engine.table("activation_enrolments")).set_index("customer_id")
    frame = journey_results(engine, j)
    row = frame.iloc[0]
    for arm in ("treated", "control"):
        ids = [c for c in people if e.loc[c, "variant"] == arm]
        conv = [c for c in ids if int(c[1:]) % 4 in (0, 1)]
        assert row[f"n_{arm}"] == len(ids) and row[f"conversions_{arm}"] == len(conv)
    nt, nc = row["n_treated"], row["n_control"]
    ids_t = [c for c in people if e.loc[c, "variant"] == "treated"]
    ids_c = [c for c in people if e.loc[c, "variant"] == "control"]
    online_t = sum(100.0 for c in ids_t if int(c[1:]) % 4 == 0)
    online_c = sum(100.0 for c in ids_c if int(c[1:]) % 4 == 0)
    assert row["incremental_revenue_online"] == pytest.approx((online_t / nt - online_c / nc) * nt)
    store_t = sum(40.0 for c in ids_t if int(c[1:]) % 4 == 1)
    store_c = sum(40.0 for c in ids_c if int(c[1:]) % 4 == 1)
    assert row["incremental_revenue_store"] == pytest.approx((store_t / nt - store_c / nc) * nt)
    assert list(frame["step"]) == ["journey", "cart_email"]  # the act step, control reaching it as held_out
    assert frame.iloc[1]["n_treated"] == nt and frame.iloc[1]["n_control"] == nc


def test_sentences() -> None:
    works = {"n_treated": 900, "n_control": 100, **uplift_stats(900, 180, 100, 8), "incremental_revenue": 12_345.0}
    works["significant"] = works["p_value"] < 0.05
    assert sentence(works, "it").startswith("Il percorso funziona: la conversione sale di +12,0 punti")
    assert "12.345 €" in sentence(works, "it") and "€12,345" in sentence(works, "en")
    flat = {"n_treated": 900, "n_control": 100, **uplift_stats(900, 90, 100, 10), "incremental_revenue": 0.0}
    flat["significant"] = flat["p_value"] < 0.05
    assert sentence(flat, "en").startswith("No evidence that the journey works")
    few = {**flat, "n_control": 5}
    assert sentence(few, "it").startswith("Troppo presto")
