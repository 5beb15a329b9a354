"""Journey rules in the engine: hand examples and a slow pure-Python oracle on random streams.

The oracle (:func:`attribution_oracle.oracle_paths`) applies the rules of
``attribution/journeys.py`` one customer at a time, with loops, and must give exactly the
engine's path table, under both Direct conventions.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta

import pytest
from attr_helpers import write_streams
from attribution_oracle import oracle_paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.attribution import AttributionQuery, attribution_settings
from percorso.attribution import aggregates as A
from percorso.attribution.analysis import NOT_ATTRIBUTABLE, TOTAL, AttributionRunner
from percorso.engine import Engine
from percorso.testing import journeys_for

T0 = datetime(2024, 3, 1, 9, 0)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = Engine(tmp_path_factory.mktemp("rules") / "r.duckdb")
    yield e
    e.close()


def path_counts(engine: Engine, settings_raw: dict | None = None, conversion: str | None = None) -> dict:
    """{(path tuple, 'conv' | 'null'): count} from the engine's path table."""
    runner = AttributionRunner(engine, AttributionQuery(conversion=conversion), settings_raw)
    paths = A.load_path_table(engine, A.journeys_expr(runner.touches()))
    out: Counter = Counter()
    for p, c, n in zip(paths.path_strings(), paths.conversions, paths.nulls, strict=True):
        key = tuple(p.split(" > "))
        if c:
            out[(key, "conv")] += c
        if n:
            out[(key, "null")] += n
    return dict(out)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


DAY = 24 * 60


def test_a_click_seen_by_two_systems_is_one_contact(engine):
    # the ad platform's click and the site's landing 30 s later share a session (the build
    # sessionises across sources): one contact; so are an e-mail open, its click and its visit
    journeys_for(engine, {"ada": [
        ("ad_click", at(0), {"channel": "Paid Search"}),
        ("page_view", at(0.5), {"channel": "Paid Search"}),
        ("email_open", at(3 * DAY), {"channel": "Email"}),
        ("email_click", at(3 * DAY + 2), {"channel": "Email"}),
        ("page_view", at(3 * DAY + 2.5), {"channel": "Email"}),
        ("purchase", at(4 * DAY), {"channel": "Direct", "revenue": 10.0}),
    ]})
    assert path_counts(engine) == {(("Paid Search", "Email"), "conv"): 1}
    off = path_counts(engine, {"one_touch_per_session": False})
    assert off == {(("Paid Search",) * 2 + ("Email",) * 3, "conv"): 1}


def test_uncredited_touchpoints_are_journeys_without_conversion(engine):
    # lookback 30 days: A and B (60 and 50 days before) are too old for the purchase; they are
    # 10 days apart, so one null journey. After the purchase: C, then D 40 days later (split).
    journeys_for(engine, {"bea": [
        ("page_view", at(0), {"channel": "A"}),
        ("page_view", at(10 * DAY), {"channel": "B"}),
        ("page_view", at(55 * DAY), {"channel": "C"}),
        ("purchase", at(60 * DAY), {"channel": "Direct", "revenue": 10.0}),
        ("page_view", at(61 * DAY), {"channel": "C"}),
        ("page_view", at(101 * DAY), {"channel": "D"}),
    ]})
    assert path_counts(engine) == {(("A", "B"), "null"): 1, (("C",), "conv"): 1,
                                   (("C",), "null"): 1, (("D",), "null"): 1}


def test_the_conversion_event_is_never_a_touchpoint(engine):
    # newsletter_signup is an eligible touchpoint for purchases but the conversion itself for leads
    journeys_for(engine, {"cleo": [
        ("page_view", at(0), {"channel": "Paid Social"}),
        ("newsletter_signup", at(DAY), {"channel": "Email", "online": False}),
        ("purchase", at(2 * DAY), {"channel": "Direct", "revenue": 10.0}),
    ]})
    assert path_counts(engine) == {(("Paid Social", "Email"), "conv"): 1}
    assert path_counts(engine, conversion="lead") == {(("Paid Social",), "conv"): 1}
    r = run(engine, AttributionQuery(models=("last",), conversion="purchase_online"))
    assert "Email" in set(r.nodes()["node"]) and r.meta["totals"]["conversions"] == 1.0


def test_a_web_conversion_that_opens_its_session_is_that_sessions_touch(engine):
    # ADR 0058 (GA4 credits the converting session's source). By hand:
    # ugo: Organic Search visit, 3 days later a purchase opening an Email session: Organic > Email;
    # vera: a purchase opening a Paid Social session, nothing before: Paid Social (was not attributable);
    # walt: a store receipt, nothing before: no session of its own, still not attributable;
    # xena: a Display page view, the purchase 5 minutes later in that session: one touch, Display
    journeys_for(engine, {
        "ugo": [("page_view", at(0), {"channel": "Organic Search"}),
                ("purchase", at(3 * DAY), {"channel": "Email", "revenue": 40.0})],
        "vera": [("purchase", at(DAY), {"channel": "Paid Social", "revenue": 20.0})],
        "walt": [("receipt", at(DAY), {"channel": "Store / POS", "revenue": 30.0})],
        "xena": [("page_view", at(0), {"channel": "Display"}),
                 ("purchase", at(5), {"channel": "Display", "revenue": 10.0})],
    })
    assert path_counts(engine) == {(("Organic Search", "Email"), "conv"): 1, (("Paid Social",), "conv"): 1,
                                   (("Display",), "conv"): 1}
    r = run(engine, AttributionQuery(models=("first", "last", "linear")))
    rows = r.frame.set_index("node")
    expect = {"Organic Search": (1.0, 0.0, 0.5), "Email": (0.0, 1.0, 0.5), "Paid Social": (1.0, 1.0, 1.0),
              "Display": (1.0, 1.0, 1.0), NOT_ATTRIBUTABLE: (1.0, 1.0, 1.0), TOTAL: (4.0, 4.0, 4.0)}
    for node, credits in expect.items():
        assert tuple(rows.loc[node, ["first", "last", "linear"]]) == pytest.approx(credits), node
    assert r.table("value").set_index("node").loc[NOT_ATTRIBUTABLE, "last"] == 30.0  # walt's receipt


def test_a_conversions_own_touch_is_credited_to_it_alone(engine):
    # zeno: a purchase opens an Email session; a page view of that session after it (a new
    # segment: the next purchase's first contact of that session), then a second purchase.
    # Each purchase has one touch; Direct rules apply to the conversion's touch as to any other.
    journeys_for(engine, {"zeno": [
        ("purchase", at(0), {"channel": "Email", "revenue": 10.0}),
        ("page_view", at(5), {"channel": "Affiliates"}),
        ("purchase", at(10), {"channel": "Affiliates", "revenue": 10.0}),
    ]})
    assert path_counts(engine) == {(("Email",), "conv"): 1, (("Affiliates",), "conv"): 1}
    journeys_for(engine, {"yuri": [
        ("page_view", at(0), {"channel": "Email"}),
        ("purchase", at(3 * DAY), {"channel": "Direct", "revenue": 10.0}),
    ]})
    assert path_counts(engine) == {(("Email",), "conv"): 1}  # last non-direct: Email
    assert path_counts(engine, {"direct": "credit"}) == {(("Email", "Direct"), "conv"): 1}
    assert path_counts(engine, {"one_touch_per_session": False}) == {(("Email",), "conv"): 1}


# -- oracle ----------------------------------------------------------------------------------

TYPES = ("page_view", "email_click", "store_visit", "purchase", "add_to_cart", "newsletter_signup")
CHANNELS = ("A", "B", "Store / POS", "Direct")
GAPS = (0, 1, 25, 40, 2 * DAY, 10 * DAY, 31 * DAY)  # minutes: ties, sessions, windows
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

event = st.tuples(st.sampled_from(TYPES), st.sampled_from(CHANNELS), st.sampled_from(GAPS))
people = st.dictionaries(st.sampled_from(["p0", "p1", "p2", "p3"]), st.lists(event, min_size=1, max_size=9),
                         min_size=1, max_size=4)
rules = st.fixed_dictionaries({"one_touch_per_session": st.booleans(), "lookback_days": st.sampled_from([1, 30]),
                               "half_life_days": st.sampled_from([0.5, 7.0]),
                               "direct": st.sampled_from(["ignore_unless_alone", "credit"])})


@SETTINGS
@given(people, rules, st.sampled_from(["purchase", "lead"]))
def test_engine_journeys_equal_the_oracle(engine, spec, raw, conversion_name):
    rows = write_streams(engine, spec, T0)
    cfg = attribution_settings(raw)
    paths, decay = oracle_paths(rows, cfg, cfg.conversion(conversion_name))
    assert path_counts(engine, raw, conversion_name) == paths
    r = run(engine, AttributionQuery(models=("time_decay",), conversion=conversion_name), raw)
    got = dict(zip(r.nodes()["node"], r.nodes()["time_decay"], strict=True))
    assert got == pytest.approx({n: decay.get(n, 0.0) for n in got}, abs=1e-9)
    assert set(decay) <= set(got)
