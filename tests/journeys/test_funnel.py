"""Funnels: hand-computed examples for every mode, window edge, exclusion, breakdown; oracle."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journey_oracle import funnel_reached, journeys
from test_paths import _rows

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.journeys.funnel import FunnelQuery, parse_window
from percorso.testing import journeys_for

STEPS = ("page_view", "add_to_cart", "purchase")


@pytest.fixture
def shop(tmp_path):
    return journeys_for(tmp_path, {
        "anna": [("page_view", "2024-01-01 10:00", {"channel": "Paid Search"}),
                 ("add_to_cart", "2024-01-01 10:05", {"channel": "Paid Search"}),
                 ("purchase", "2024-01-03 17:00", {"channel": "Direct", "revenue": 120.0})],
        "bruno": [("page_view", "2024-01-02 09:00", {"channel": "Email"}),
                  ("add_to_cart", "2024-01-02 09:01", {"channel": "Email"})],
        "carla": [("page_view", "2024-01-02 09:00", {"channel": "Email"}), ("checkout_error", "2024-01-02 09:10"),
                  ("add_to_cart", "2024-01-02 09:20", {"channel": "Email"}),
                  ("purchase", "2024-01-02 09:30", {"channel": "Email", "revenue": 50.0})],
    })


def reached(result) -> list[int]:
    return [int(x) for x in result.to_frame()["reached"]]


def test_ordered_strict_any(shop):
    assert reached(run(shop, FunnelQuery(steps=STEPS))) == [3, 3, 2]
    assert reached(run(shop, FunnelQuery(steps=STEPS, order="strict"))) == [3, 2, 1]  # carla's error in between
    assert reached(run(shop, FunnelQuery(steps=("page_view", "purchase", "add_to_cart"), order="any"))) == [3, 2, 2]
    f = run(shop, FunnelQuery(steps=STEPS)).to_frame()
    assert f["dropped"].tolist() == [0, 0, 1]
    assert f["conversion_overall"].tolist() == pytest.approx([1, 1, 2 / 3])
    assert f.loc[1, "median_minutes_from_previous"] == pytest.approx(5.0)  # median of 5, 1 and 20 minutes


def test_window_is_inclusive(shop):
    # anna: page view 1 Jan 10:00, purchase 3 Jan 17:00 = 2 days 7 hours later
    exact = timedelta(days=2, hours=7)
    assert reached(run(shop, FunnelQuery(steps=STEPS, window=exact))) == [3, 3, 2]
    assert reached(run(shop, FunnelQuery(steps=STEPS, window=exact - timedelta(seconds=1)))) == [3, 3, 1]
    assert reached(run(shop, FunnelQuery(steps=STEPS, window="1d"))) == [3, 3, 1]


def test_exclusion_between_steps(shop):
    r = run(shop, FunnelQuery(steps=STEPS, exclusions=(("checkout_error", 1, 2),)))
    assert reached(r) == [3, 2, 1]
    assert sorted(r.customers(step=2, dropped=True)["customer_id"]) == ["carla"]


def test_breakdown_first_and_last_touch(shop):
    f = run(shop, FunnelQuery(steps=STEPS, breakdown="channel")).to_frame()
    by = {(r.breakdown, r.step): r.reached for r in f.itertuples()}
    assert by[("Email", 1)] == 2 and by[("Email", 3)] == 1 and by[("Paid Search", 3)] == 1
    f = run(shop, FunnelQuery(steps=STEPS, breakdown="channel", breakdown_attribution="last_touch")).to_frame()
    assert set(f["breakdown"]) == {"Email", "Direct"}


def test_drop_offs_and_time_to_convert(shop):
    r = run(shop, FunnelQuery(steps=STEPS))
    assert list(r.customers(step=3, dropped=True)["customer_id"]) == ["bruno"]
    assert sorted(r.customers(step=3)["customer_id"]) == ["anna", "carla"]
    assert dict(zip(r.time_to_convert["bucket"], r.time_to_convert["journeys"])) == {"< 1 h": 1, "1–3 g/d": 1}
    assert r.figure().data[0].type == "funnel"


def test_bad_input_is_refused():
    assert parse_window("12h") == timedelta(hours=12)
    with pytest.raises(InputError):
        parse_window("7 days")
    with pytest.raises(ValueError):
        FunnelQuery(steps=("a",))
    with pytest.raises(ValueError):
        FunnelQuery(steps=("a", "b"), exclusions=(("x", 2, 1),))


T0 = datetime(2025, 3, 1, 9, 0)


@st.composite
def random_journeys(draw):
    spec = {}
    for i in range(draw(st.integers(1, 6))):
        steps = [(draw(st.sampled_from(["a", "b", "c", "x"])), T0 + timedelta(minutes=draw(st.integers(0, 60)) * 30))
                 for _ in range(draw(st.integers(1, 8)))]
        spec[f"p{i}"] = steps
    return spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=random_journeys(), order=st.sampled_from(["ordered", "strict", "any"]),
       hours=st.integers(1, 40), steps=st.sampled_from([("a", "b"), ("a", "b", "c"), ("b", "a", "b"), ("c", "a")]),
       exclude=st.booleans())
def test_funnel_equals_the_oracle(tmp_path_factory, spec, order, hours, steps, exclude):
    e = journeys_for(tmp_path_factory.mktemp("f"), spec)
    js = journeys(_rows(e))
    exclusions = (("x", 1, 2),) if exclude else ()
    expect = funnel_reached(js, list(steps), hours * 3600, order, list(exclusions))
    got = run(e, FunnelQuery(steps=steps, window=timedelta(hours=hours), order=order, exclusions=exclusions))
    assert reached(got) == expect if expect[0] else got.to_frame().empty
