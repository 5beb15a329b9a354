"""Journey map on seven hand-made customers (jm_people.py): every number worked out by hand."""

from __future__ import annotations

import math

import pytest
from jm_people import PEOPLE

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.journeys.journey_map import JourneyMapQuery
from percorso.testing import journeys_for

H = 1 / 24  # one hour in days


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    engine = journeys_for(tmp_path_factory.mktemp("jm"), PEOPLE)
    return run(engine, JourneyMapQuery(min_customers=1))


def _cell(result, stage, channel):
    f = result.to_frame().set_index(["stage", "channel"])
    return f.loc[(stage, channel)]


@pytest.mark.parametrize(("stage", "channel", "touchpoints", "customers", "share", "days"), [
    # anna (buys later; next stage 1 day later), carla (never buys; 3 days later)
    ("awareness", "Display", 2, 2, 0.5, 2.0),
    # anna, bruno buy afterwards; carla, elena (two e-mails) do not. Next stage: anna 1 d,
    # bruno 3 d 30 min (receipt), carla 1 d, elena never → median 1
    ("consideration", "Email", 5, 4, 0.5, 1.0),
    # bruno: receipt 30 min later; gina: online purchase 2 days later
    ("consideration", "Store / POS", 2, 2, 1.0, (0.5 * H + 2) / 2),
    # dario buys 5 days later; elena never
    ("consideration", "Organic Search", 2, 2, 0.5, 5.0),
    ("consideration", "Social", 1, 1, 0.0, math.nan),
    # anna buys 1 h after her cart; carla never
    ("decision", "Direct", 2, 2, 0.5, H),
    # anna, dario, gina: no purchase after their first online purchase; anna reviews 7 days later
    ("purchase", "Direct", 3, 3, 0.0, 7.0),
    # dario buys online after his receipt, bruno does not; bruno returns 3 d 23 h 30 min later,
    # dario's later touchpoints are not in a later stage
    ("purchase", "Store / POS", 2, 2, 0.5, 3 + 23.5 * H),
    ("post_purchase", "Store / POS", 1, 1, 0.0, math.nan),
    ("advocacy", "Direct", 1, 1, 0.0, math.nan),
])
def test_cells(result, stage, channel, touchpoints, customers, share, days):
    c = _cell(result, stage, channel)
    assert (c["touchpoints"], c["customers"]) == (touchpoints, customers)
    assert c["purchase_share"] == pytest.approx(share)
    if math.isnan(days):
        assert math.isnan(c["median_days_to_next_stage"])
    else:
        assert c["median_days_to_next_stage"] == pytest.approx(days)


def test_no_other_cells_and_rows_in_stage_order(result):
    f = result.to_frame()
    assert len(f) == 10 and f["touchpoints"].sum() == 21
    order = ["awareness", "consideration", "decision", "purchase", "post_purchase", "advocacy"]
    ranks = [order.index(s) for s in f["stage"]]
    assert ranks == sorted(ranks)
    assert list(result.pivot("customers").index) == order


def test_friction(tmp_path):
    # consideration average: (2 + 2 + 1 + 0) buyers / (4 + 2 + 2 + 1) customers = 5/9; Social 0 < 5/18
    engine = journeys_for(tmp_path, PEOPLE)
    f = run(engine, JourneyMapQuery(min_customers=1)).to_frame()
    assert list(f.loc[f["friction"], "channel"]) == ["Social"]
    # with two customers needed, one Social visitor is not enough evidence
    assert not run(engine, JourneyMapQuery(min_customers=2)).to_frame()["friction"].any()


def test_stage_conversion_and_time_in_stage(result):
    s = result.stages.set_index("stage")
    # awareness: anna → 1 d, carla → 3 d
    assert tuple(s.loc["awareness", ["customers", "moved_on"]]) == (2, 2)
    assert s.loc["awareness", "median_days_in_stage"] == pytest.approx(2.0)
    # consideration: 7 customers; anna 1, bruno 3 d 30 min, carla 1, dario 5, gina 2 moved on
    assert tuple(s.loc["consideration", ["customers", "moved_on"]]) == (7, 5)
    assert s.loc["consideration", "conversion_to_later_stage"] == pytest.approx(5 / 7)
    assert s.loc["consideration", "median_days_in_stage"] == pytest.approx(2.0)
    assert tuple(s.loc["decision", ["customers", "moved_on"]]) == (2, 1)
    assert s.loc["decision", "median_days_in_stage"] == pytest.approx(H)
    # purchase: anna (review 7 d), bruno (return 3 d 23.5 h), dario, gina (nothing later)
    assert tuple(s.loc["purchase", ["customers", "moved_on"]]) == (4, 2)
    assert s.loc["purchase", "median_days_in_stage"] == pytest.approx((7 + 3 + 23.5 * H) / 2)
    assert s.loc["post_purchase", "moved_on"] == 0 and s.loc["advocacy", "conversion_to_later_stage"] == 0


def test_stage_mix_over_time(tmp_path):
    engine = journeys_for(tmp_path, PEOPLE)
    month = run(engine, JourneyMapQuery(period="month")).over_time
    assert len(month) == 1
    # columns in stage order, after the period
    assert list(month.columns) == ["period", "awareness", "consideration", "decision", "purchase",
                                   "post_purchase", "advocacy"]
    row = month.iloc[0]
    assert {k: int(row[k]) for k in ("awareness", "consideration", "decision", "purchase", "post_purchase",
                                     "advocacy")} == {"awareness": 2, "consideration": 10, "decision": 2,
                                                      "purchase": 5, "post_purchase": 1, "advocacy": 1}
    week = run(engine, JourneyMapQuery(period="week")).over_time.set_index("period")
    # ISO weeks start on Monday: Sat 1 and Sun 2 March fall in the week of 24 February
    first = week.iloc[0]
    assert str(week.index[0])[:10] == "2025-02-24"
    assert (int(first["awareness"]), int(first["consideration"])) == (2, 3)
    assert int(week.drop(columns=[]).to_numpy().sum()) == 21


def test_drill_down(result):
    assert list(result.customers(stage="consideration", channel="Email")["customer_id"]) == [
        "anna", "bruno", "carla", "elena"]
    assert list(result.customers(stage="awareness")["customer_id"]) == ["anna", "carla"]
    with pytest.raises(InputError):
        result.customers(channel="Email")


def test_date_range_limits_the_touchpoints(tmp_path):
    engine = journeys_for(tmp_path, PEOPLE)
    f = run(engine, JourneyMapQuery(date_from="2025-03-10", min_customers=1)).to_frame()
    # 10 March on: anna's review, dario's three touchpoints
    assert f["touchpoints"].sum() == 4
    assert set(zip(f["stage"], f["channel"])) == {("advocacy", "Direct"), ("purchase", "Store / POS"),
                                                  ("consideration", "Organic Search"), ("purchase", "Direct")}


def test_figure_is_a_heatmap_in_stage_order(result):
    fig = result.figure()
    heat = fig.data[0]
    assert heat.type == "heatmap"
    assert list(heat.y)[0] == "awareness" and list(heat.y)[-1] == "advocacy"
    social = list(heat.x).index("Social")
    assert "⚠" in heat.text[list(heat.y).index("consideration")][social]
