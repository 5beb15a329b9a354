"""Readings that point the right way, on a generated demo (issue 14, Deliver 5).

One small demo (1,200 customers, a real DuckDB file), then each reading a marketer would
take at face value: churn levels ordered by risk, cumulative revenue that never falls, paths
that end at a store purchase all converting, friction that ranks only the customer's steps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.analysis.base import run
from percorso.demo.run import run_demo
from percorso.events.types import OUTBOUND_EVENT_TYPES
from percorso.journeys.friction import FrictionQuery
from percorso.journeys.paths import PathsQuery
from percorso.project import open_project
from percorso.value.churn import ChurnQuery
from percorso.value.clv.analysis import CLVQuery
from percorso.value.cohorts import CohortQuery


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("readings") / "demo"
    run_demo(root, customers=1200, seed=42)
    with open_project(root) as p:
        run(p.engine, CLVQuery(), p.settings)
        yield p


def test_churn_mean_p_alive_decreases_from_low_to_high_risk(demo):
    f = run(demo.engine, ChurnQuery(), demo.settings).to_frame().set_index("risk_level")
    assert list(f.index) == ["high", "medium", "low"] and (f["customers"] > 0).all()
    low, medium, high = (float(f.loc[x, "avg_p_alive"]) for x in ("low", "medium", "high"))
    assert low > medium > high
    # the one-time buyers (model P(alive) = 1) are spread by their silence, not all "safe"
    assert f.loc["high", "one_time_buyers"] > 0


def test_cumulative_revenue_never_decreases(demo):
    for by in ("month", "channel"):
        f = run(demo.engine, CohortQuery(by=by), demo.settings).to_frame()
        for cohort, g in f.sort_values("period").groupby("cohort"):
            steps = g["cum_revenue_per_customer"].diff().dropna()
            assert (steps >= -1e-9).all(), (by, cohort)


def test_paths_ending_at_a_store_purchase_all_convert(demo):
    for end, node in (("purchase:store", "channel"), ("purchase:store", "event_type"), ("receipt", "event_type")):
        f = run(demo.engine, PathsQuery(end=end, node=node, max_steps=4), demo.settings).to_frame()
        assert f["journeys"].sum() > 0 and f["converting"].sum() == f["journeys"].sum(), (end, node)


def test_friction_ranks_the_customers_own_steps(demo):
    r = run(demo.engine, FrictionQuery(min_journeys=5, top=500), demo.settings)
    ranked = " ".join(r.to_frame()["item"])
    assert not any(t in ranked for t in OUTBOUND_EVENT_TYPES)
    assert set(r.outbound["action"]) <= set(OUTBOUND_EVENT_TYPES) and len(r.outbound) > 0
