"""Which customer each event gets: the ``events_identified`` / ``event_customers`` views.

An event belongs to the customer of its highest-priority usable identifier; blocked values
and flagged hubs are skipped, also when they become hubs in a later, incremental run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.identity import resolve
from tests.identity.helpers import add_events, customer_of, new_project


@pytest.fixture
def proj(tmp_path: Path):
    p = new_project(tmp_path, max_customers_per_identifier=2)
    yield p
    p.close()


def _customers(proj) -> dict[str, tuple[str | None, str | None]]:
    rows = proj.engine.query("SELECT event_id, customer_id, id_type FROM event_customers").to_pylist()
    return {r["event_id"]: (r["customer_id"], r["id_type"]) for r in rows}


def test_blocked_first_identifier_falls_back_to_the_next_usable_one(proj) -> None:
    t = add_events(proj, [
        {"source_name": "web", "user_id": "guest", "anonymous_id": "a1"},      # guest is blocklisted
        {"source_name": "web", "user_id": "guest"},                          # nothing usable
        {"source_name": "web", "anonymous_id": "a2"},
    ])
    report = resolve(proj)
    ids = t["event_id"].to_pylist()
    got = _customers(proj)
    assert got[ids[0]] == (customer_of(proj, "anonymous_id", "a1"), "anonymous_id")
    assert got[ids[1]] == (None, None)
    assert got[ids[2]] == (customer_of(proj, "anonymous_id", "a2"), "anonymous_id")
    assert report.events_rekeyed == 2 and report.events_assigned == 2


def test_identifier_flagged_in_a_later_run_rekeys_earlier_events(proj) -> None:
    first = add_events(proj, [{"source_name": "web", "anonymous_id": "kiosk", "device_id": "d1"}])
    resolve(proj)
    e0 = first["event_id"][0].as_py()
    assert _customers(proj)[e0][1] == "device_id"  # device ranks above anonymous id
    # the device turns out to be a shop's tablet: three people log in on it, past the cap of 2
    add_events(proj, [{"source_name": "web", "user_id": f"u{i}", "device_id": "d1"} for i in range(3)])
    report = resolve(proj)
    assert report.mode == "incremental"
    assert customer_of(proj, "device_id", "d1") is None
    assert _customers(proj)[e0] == (customer_of(proj, "anonymous_id", "kiosk"), "anonymous_id")


def test_incremental_reads_only_new_events_and_deletes_force_a_full_run(proj) -> None:
    add_events(proj, [{"source_name": "crm", "crm_id": "c1", "email_key": "e1"}])
    assert resolve(proj).mode == "full"
    add_events(proj, [{"source_name": "pos", "loyalty_card": "L1", "email_key": "e1"}])
    second = resolve(proj)
    assert (second.mode, second.events_read) == ("incremental", 1)
    assert customer_of(proj, "loyalty_card", "L1") == customer_of(proj, "crm_id", "c1")
    proj.engine.run("DELETE FROM event_store WHERE loyalty_card = 'L1'")
    third = resolve(proj)
    assert third.mode == "full" and third.events_read == 1
    assert customer_of(proj, "loyalty_card", "L1") is None


def test_views_replace_a_table_written_by_an_earlier_version(proj) -> None:
    add_events(proj, [{"source_name": "crm", "crm_id": "c1"}])
    proj.engine.run("CREATE TABLE event_customers AS SELECT event_id, NULL::VARCHAR AS customer_id FROM events")
    resolve(proj, full=True)
    kind = proj.engine.query("SELECT table_type FROM information_schema.tables WHERE table_name = 'event_customers'")
    assert kind["table_type"].to_pylist() == ["VIEW"]
    assert list(_customers(proj).values()) == [(customer_of(proj, "crm_id", "c1"), "crm_id")]


def test_a_later_run_without_unusable_identifiers_adds_no_exception(proj) -> None:
    """An incremental run whose region holds no blocked or flagged identifier appends no event key
    (its events key by their first identifier); one that brings a blocked value again does."""
    add_events(proj, [{"source_name": "web", "user_id": "guest", "anonymous_id": "a1"}])
    assert resolve(proj).events_rekeyed == 1
    later = add_events(proj, [{"source_name": "web", "user_id": "u7", "anonymous_id": "a7"}])
    report = resolve(proj)
    assert (report.mode, report.events_rekeyed) == ("incremental", 1)
    assert _customers(proj)[later["event_id"][0].as_py()] == (customer_of(proj, "user_id", "u7"), "user_id")
    again = add_events(proj, [{"source_name": "web", "user_id": "guest", "anonymous_id": "a8"}])
    report = resolve(proj)
    assert (report.mode, report.events_rekeyed) == ("incremental", 2)
    assert _customers(proj)[again["event_id"][0].as_py()] == (customer_of(proj, "anonymous_id", "a8"), "anonymous_id")
