"""Journeys run by hand-worked examples: triggers with 'unless … within', waits, branches, exits, holdout."""

from __future__ import annotations

from datetime import datetime

import pytest

from percorso.activation import holdout
from percorso.activation.model import flatten, journey_from_dict, parse_duration
from percorso.activation.runner import run_journeys
from percorso.activation.store import EXAMPLES, example
from percorso.errors import InputError
from percorso.testing import journeys_for

ZONE = "Europe/Rome"


def _rows(engine, table):
    return engine.execute(engine.table(table)).sort_values(list(engine.table(table).columns)[:1]).reset_index(drop=True)


def test_durations_and_shipped_examples_validate() -> None:
    assert parse_duration("2h") == 7200 and parse_duration("30d") == 2_592_000 and parse_duration("1.5m") == 90
    for raw in EXAMPLES.values():
        assert journey_from_dict(raw).name == raw["name"]
    with pytest.raises(InputError, match="steps"):
        journey_from_dict({**EXAMPLES["cart_abandonment"], "steps": [{"kind": "wait", "duration": "1h"}]})
    with pytest.raises(InputError, match="duration"):
        journey_from_dict({**EXAMPLES["cart_abandonment"], "steps": [{"kind": "wait", "duration": "2 hours"}]})


def test_flatten_rejoins_branch_arms() -> None:
    j = journey_from_dict({
        "name": "b", "trigger": {"kind": "event", "event_type": "add_to_cart"},
        "steps": [{"kind": "branch", "condition": {"kind": "profile", "field": "n_orders", "op": ">", "value": 0},
                   "then": [{"kind": "act", "action": {"kind": "email", "template": "cart"}}],
                   "otherwise": [{"kind": "wait", "duration": "1d"},
                                 {"kind": "act", "action": {"kind": "email", "template": "browse"}}]},
                  {"kind": "act", "action": {"kind": "task"}}]})
    nodes = {n.id: n for n in flatten(j.steps)}
    assert nodes["s0"].then == "s0.then.0" and nodes["s0"].otherwise == "s0.else.0"
    assert nodes["s0.then.0"].next == "s1" and nodes["s0.else.1"].next == "s1" and nodes["s1"].next is None


def test_cart_abandonment_by_hand(tmp_path) -> None:
    # C1 abandons; C2 buys within 2 h (never enters); C3 buys 2.5 h later (enters at 12:00 UTC,
    # due to act at 13:00, exits because the purchase at 12:30 came first); C4 abandons twice
    # (enters once: no re-entry).
    engine = journeys_for(tmp_path, {
        "C1": [("add_to_cart", "2024-03-01 10:00")],
        "C2": [("add_to_cart", "2024-03-01 10:00"), ("purchase", "2024-03-01 11:00", {"revenue": 50})],
        "C3": [("add_to_cart", "2024-03-01 10:00"), ("purchase", "2024-03-01 12:30", {"revenue": 50})],
        "C4": [("add_to_cart", "2024-03-01 09:00"), ("add_to_cart", "2024-03-01 15:00")],
    }, time_zone=ZONE)
    j = example("cart_abandonment").model_copy(update={"enabled": True, "holdout": 0.0})
    report = run_journeys(engine, b"k", [j], now=datetime(2024, 3, 1, 12, 59), zone=ZONE)
    # C1, C3 ready at 12:00, C4 at 11:00; C4's wait of 1 h ends at 12:00: its e-mail is queued
    assert report.counts["cart_abandonment"] == {"entered": 3, "queued": 1}
    report = run_journeys(engine, b"k", [j], now=datetime(2024, 3, 2), zone=ZONE)
    assert report.counts["cart_abandonment"] == {"exited": 1, "queued": 1}
    e = _rows(engine, "activation_enrolments").set_index("customer_id")
    assert e.loc["C3", "status"] == "exited" and e.loc["C1", "status"] == "done"
    assert e.loc["C4", "triggered_at"] == datetime(2024, 3, 1, 9)
    o = _rows(engine, "activation_outbox")
    assert sorted(o["customer_id"]) == ["C1", "C4"]
    assert set(o["status"]) == {"pending"}
    assert o.set_index("customer_id").loc["C1", "due_at"] == datetime(2024, 3, 1, 13)
    # a second evaluation enrols and queues nothing again
    again = run_journeys(engine, b"k", [j], now=datetime(2024, 3, 5), zone=ZONE)
    assert again.counts == {}
    assert len(_rows(engine, "activation_outbox")) == 2


def test_branch_wait_until_window_and_control(tmp_path) -> None:
    engine = journeys_for(tmp_path, {
        "A": [("purchase", "2024-01-10 10:00", {"revenue": 10}), ("return", "2024-03-01 20:30", {"revenue": -10})],
        "B": [("return", "2024-03-02 10:00", {"revenue": -10})],
    }, time_zone=ZONE)
    raw = {"name": "ret", "trigger": {"kind": "event", "event_type": "return"}, "enabled": True, "holdout": 0.0,
           "steps": [{"kind": "wait_until", "window": {"days": [0, 1, 2, 3, 4], "start_hour": 9, "end_hour": 18}},
                     {"kind": "branch", "condition": {"kind": "profile", "field": "n_orders", "op": ">", "value": 0},
                      "then": [{"kind": "act", "name": "call", "action": {"kind": "task"}}],
                      "otherwise": [{"kind": "act", "name": "mail", "action": {"kind": "email", "template": "cart"}}]}]}
    run_journeys(engine, b"k", [journey_from_dict(raw)], now=datetime(2024, 3, 10), zone=ZONE)
    o = _rows(engine, "activation_outbox").set_index("customer_id")
    # A returned on Friday 1 March 21:30 local: the window opens Monday 4 March 09:00 local = 08:00 UTC
    assert o.loc["A", "step"] == "call" and o.loc["A", "due_at"] == datetime(2024, 3, 4, 8)
    # B returned on Saturday: also Monday 08:00 UTC; no purchase → the e-mail arm
    assert o.loc["B", "step"] == "mail" and o.loc["B", "due_at"] == datetime(2024, 3, 4, 8)


def test_holdout_is_stable_keyed_and_about_ten_percent() -> None:
    ids = [f"C{i:06d}" for i in range(20_000)]
    a = holdout.variants(b"secret", "j", ids, 0.1)
    assert a == holdout.variants(b"secret", "j", ids, 0.1)
    share = a.count("control") / len(ids)
    assert 0.09 < share < 0.11  # binomial sd 0.002
    other = holdout.variants(b"secret", "k", ids, 0.1)
    both = sum(x == y == "control" for x, y in zip(a, other)) / len(ids)
    assert 0.005 < both < 0.015  # independent across journeys: about 1 %
    assert holdout.variants(b"other", "j", ids, 0.1) != a


def test_control_is_tracked_but_held_out(tmp_path) -> None:
    people = {f"C{i:03d}": [("add_to_cart", "2024-03-01 10:00")] for i in range(200)}
    engine = journeys_for(tmp_path, people, time_zone=ZONE)
    j = example("cart_abandonment").model_copy(update={"enabled": True, "holdout": 0.3})
    run_journeys(engine, b"k", [j], now=datetime(2024, 3, 2), zone=ZONE)
    o = _rows(engine, "activation_outbox")
    expected = dict(zip(people, holdout.variants(b"k", "cart_abandonment", list(people), 0.3)))
    assert {c: v for c, v in zip(o["customer_id"], o["variant"])} == expected
    assert (o["status"] == "held_out").sum() == list(expected.values()).count("control") > 0
    assert set(o.loc[o["variant"] == "treated", "status"]) == {"pending"}


def test_wait_until_an_event_or_the_timeout(tmp_path) -> None:
    engine = journeys_for(tmp_path, {
        "X": [("add_to_cart", "2024-03-01 10:00"), ("product_view", "2024-03-01 15:30")],
        "Y": [("add_to_cart", "2024-03-01 10:00")],
        "W": [("add_to_cart", "2024-03-01 10:00"), ("product_view", "2024-03-03 10:00")],  # after the timeout
    }, time_zone=ZONE)
    j = journey_from_dict({
        "name": "w", "enabled": True, "holdout": 0.0, "trigger": {"kind": "event", "event_type": "add_to_cart"},
        "steps": [{"kind": "wait_until", "event": "product_view", "timeout": "1d"},
                  {"kind": "act", "action": {"kind": "email", "template": "browse"}}]})
    run_journeys(engine, b"k", [j], now=datetime(2024, 3, 1, 12), zone=ZONE)
    assert len(_rows(engine, "activation_outbox")) == 0  # everybody waits
    run_journeys(engine, b"k", [j], now=datetime(2024, 3, 5), zone=ZONE)
    o = _rows(engine, "activation_outbox").set_index("customer_id")
    assert list(o.index) == ["X"] and o.loc["X", "due_at"] == datetime(2024, 3, 1, 15, 30)  # acts at the event
    e = _rows(engine, "activation_enrolments").set_index("customer_id")
    assert e.loc["Y", "status"] == "timeout" and e.loc["W", "status"] == "timeout" and e.loc["X", "status"] == "done"
