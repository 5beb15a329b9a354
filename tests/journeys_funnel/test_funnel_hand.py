"""Funnels on hand-written journeys: every mode, the window edge, exclusions, breakdowns, drill-down."""

from __future__ import annotations

from datetime import timedelta

import pytest

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.journeys.funnel import FunnelQuery, parse_window
from percorso.testing import journeys_for

STEPS = ("page_view", "add_to_cart", "purchase")
SHOP = {
    # anna: view, cart 5 min later, purchase 2 days 7 hours after the view (other channel)
    "anna": [("page_view", "2024-01-01 10:00", {"channel": "Paid Search"}),
             ("add_to_cart", "2024-01-01 10:05", {"channel": "Paid Search"}),
             ("purchase", "2024-01-03 17:00", {"channel": "Direct", "revenue": 120.0})],
    # bruno: view, cart, never buys
    "bruno": [("page_view", "2024-01-02 09:00", {"channel": "Email"}),
              ("add_to_cart", "2024-01-02 09:01", {"channel": "Email"})],
    # carla: an error between view and cart, then buys 30 min after the view
    "carla": [("page_view", "2024-01-02 09:00", {"channel": "Email"}), ("checkout_error", "2024-01-02 09:10"),
              ("add_to_cart", "2024-01-02 09:20", {"channel": "Email"}),
              ("purchase", "2024-01-02 09:30", {"channel": "Email", "revenue": 50.0})],
    # dario: cart and purchase before his only view: never past step 1 in order, all 3 in any order? no:
    # any order still needs steps 2..N after the entry
    "dario": [("add_to_cart", "2024-01-05 08:00"), ("purchase", "2024-01-05 08:10", {"revenue": 10.0}),
              ("page_view", "2024-01-05 08:20")],
    # elena: never views
    "elena": [("add_to_cart", "2024-01-06 08:00")],
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return journeys_for(tmp_path_factory.mktemp("shop"), SHOP)


def reached(result) -> list[int]:
    return [int(x) for x in result.to_frame()["reached"]]


def test_ordered_mode_table(shop):
    f = run(shop, FunnelQuery(steps=STEPS, window="7d")).to_frame()
    assert f["step"].tolist() == [1, 2, 3] and f["label"].tolist() == list(STEPS)
    assert f["reached"].tolist() == [4, 3, 2]          # anna bruno carla dario / anna bruno carla / anna carla
    assert f["dropped"].tolist() == [0, 1, 1]
    assert f["conversion_from_previous"].tolist() == pytest.approx([1, 3 / 4, 2 / 3])
    assert f["conversion_overall"].tolist() == pytest.approx([1, 3 / 4, 2 / 4])
    # view → cart: anna 5, bruno 1, carla 20 minutes → median 5; cart → purchase: anna 3295, carla 10
    assert f.loc[1, "median_minutes_from_previous"] == pytest.approx(5.0)
    assert f.loc[2, "median_minutes_from_previous"] == pytest.approx((3295 + 10) / 2)
    # view → purchase: anna 55 h = 3300 min, carla 30 min
    assert f.loc[2, "median_minutes_from_start"] == pytest.approx((3300 + 30) / 2)


def test_strict_and_any_order(shop):
    # strict: carla's error sits between view and cart
    assert reached(run(shop, FunnelQuery(steps=STEPS, window="7d", order="strict"))) == [4, 2, 1]
    # any order, steps 2..3 after the entry: dario's cart and purchase come before his view
    r = run(shop, FunnelQuery(steps=("page_view", "purchase", "add_to_cart"), window="7d", order="any"))
    assert reached(r) == [4, 2, 2]
    assert r.to_frame()["median_minutes_from_previous"].isna().all()  # no "previous" in any order


def test_window_is_inclusive_to_the_second(tmp_path):
    e = journeys_for(tmp_path, {
        "on_time": [("page_view", "2024-03-01 10:00:00"), ("purchase", "2024-03-08 10:00:00", {"revenue": 1.0})],
        "late": [("page_view", "2024-03-01 10:00:00"), ("purchase", "2024-03-08 10:00:01", {"revenue": 1.0})],
    })
    r = run(e, FunnelQuery(steps=("page_view", "purchase"), window="7d"))
    assert reached(r) == [2, 1]
    assert r.customers(step=2)["customer_id"].tolist() == ["on_time"]
    assert r.customers(step=2, dropped=True)["customer_id"].tolist() == ["late"]
    assert reached(run(e, FunnelQuery(steps=("page_view", "purchase"), window=timedelta(days=7, seconds=1)))) == [2, 2]


def test_best_entry_wins(tmp_path):
    # the first view does not lead anywhere within 1 day; the second one (3 days later) does
    e = journeys_for(tmp_path, {"p": [("page_view", "2024-03-01 10:00"), ("page_view", "2024-03-04 10:00"),
                                      ("add_to_cart", "2024-03-04 12:00"), ("purchase", "2024-03-04 13:00",
                                                                           {"revenue": 5.0})]})
    r = run(e, FunnelQuery(steps=STEPS, window="1d"))
    assert reached(r) == [1, 1, 1]
    assert r.to_frame().loc[2, "median_minutes_from_start"] == pytest.approx(180.0)  # from the second view
    assert dict(zip(r.time_to_convert["bucket"], r.time_to_convert["journeys"])) == {"1–6 h": 1}


def test_alternatives(shop):
    r = run(shop, FunnelQuery(steps=("page_view|checkout_error", "purchase"), window="7d"))
    assert reached(r) == [4, 2]


def test_exclusion_between_steps(shop):
    # checkout_error between step 1 and step 2 voids carla's progress past step 1
    r = run(shop, FunnelQuery(steps=STEPS, window="7d", exclusions=(("checkout_error", 1, 2),)))
    assert reached(r) == [4, 2, 1]
    assert r.customers(step=2, dropped=True)["customer_id"].tolist() == ["carla", "dario"]
    # between steps 2 and 3 it is not: carla's error comes before her step 2
    r = run(shop, FunnelQuery(steps=STEPS, window="7d", exclusions=(("checkout_error", 2, 3),)))
    assert reached(r) == [4, 3, 2]
    # between steps 1 and 3: carla reaches step 2 but not 3
    r = run(shop, FunnelQuery(steps=STEPS, window="7d", exclusions=(("checkout_error", 1, 3),)))
    assert reached(r) == [4, 3, 1]


def test_breakdown_first_last_and_step_touch(shop):
    q = {"steps": STEPS, "window": "7d", "breakdown": "channel"}
    f = run(shop, FunnelQuery(**q)).to_frame()
    by = {(r.breakdown, r.step): r.reached for r in f.itertuples()}
    # first touch: anna Paid Search; bruno, carla Email; dario Direct (his cart comes first)
    assert by == {("Email", 1): 2, ("Email", 2): 2, ("Email", 3): 1, ("Paid Search", 1): 1, ("Paid Search", 2): 1,
                  ("Paid Search", 3): 1, ("Direct", 1): 1, ("Direct", 2): 0, ("Direct", 3): 0}
    # last touch = the channel of the last step reached: anna's purchase is Direct
    f = run(shop, FunnelQuery(**q, breakdown_attribution="last_touch")).to_frame()
    by = {(r.breakdown, r.step): r.reached for r in f.itertuples()}
    assert by[("Direct", 1)] == 2 and by[("Direct", 3)] == 1 and by[("Email", 1)] == 2 and ("Paid Search", 1) not in by
    # value at step 2: anna Paid Search, bruno and carla Email, dario has no step 2
    f = run(shop, FunnelQuery(**q, breakdown_attribution="step:2")).to_frame()
    assert {r.breakdown: r.reached for r in f.itertuples() if r.step == 1} == {"Email": 2, "Paid Search": 1,
                                                                             "(none)": 1}
    r = run(shop, FunnelQuery(**q))
    assert r.customers(step=3, dropped=True, breakdown="Email")["customer_id"].tolist() == ["bruno"]
    assert len(r.figure().data) == 3 and r.figure().data[0].type == "funnel"


def test_time_to_convert(shop):
    r = run(shop, FunnelQuery(steps=STEPS, window="7d"))
    # carla 30 minutes, anna 55 hours
    assert dict(zip(r.time_to_convert["bucket"], r.time_to_convert["journeys"])) == {"< 1 h": 1, "1–3 g/d": 1}


def test_session_scope(tmp_path):
    # one customer, two sessions (3 h apart): the purchase is in the second session
    e = journeys_for(tmp_path, {"p": [("page_view", "2024-03-01 10:00"), ("add_to_cart", "2024-03-01 10:05"),
                                      ("page_view", "2024-03-01 13:00"), ("add_to_cart", "2024-03-01 13:02"),
                                      ("purchase", "2024-03-01 13:05", {"revenue": 5.0})]})
    assert reached(run(e, FunnelQuery(steps=STEPS, window="1d", scope="session"))) == [2, 2, 1]
    assert reached(run(e, FunnelQuery(steps=STEPS, window="1d"))) == [1, 1, 1]


def test_bad_input_is_refused():
    assert parse_window("12h") == timedelta(hours=12) and parse_window("30m") == timedelta(minutes=30)
    with pytest.raises(InputError, match="7 days"):
        parse_window("7 days")
    for bad in ({"steps": ("a",)}, {"steps": tuple("abcdefghijk")}, {"steps": ("a", "b"), "exclusions": (("x", 2, 1),)},
                {"steps": ("a", "b"), "order": "random"}, {"steps": ("a", "b"), "breakdown_attribution": "step:3"},
                {"steps": ("a", "b"), "breakdown": "colour"}):
        with pytest.raises(ValueError):
            FunnelQuery(**bad)


def test_drill_down_needs_a_step(shop):
    r = run(shop, FunnelQuery(steps=STEPS, window="7d"))
    with pytest.raises(InputError, match="step=1..3"):
        r.customers(node="x")
