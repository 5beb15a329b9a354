"""Incremental runs on the device link's path write only the components that changed (ADR 0050).

The device link weighs every event of an address, so such a run still solves the whole graph;
what it writes (customer ids, ``identity_map``, merges) is restricted to the components the
new events' identifiers are in, the ends of every device link that appeared, went or changed,
and the previous customers of those. These tests check that a sequence of incremental runs
leaves identity's tables as one full run over the same events does, including a link that
goes away without a new event on either of its customers (the address became a hub).
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.identity import resolve
from tests.identity.helpers import T0, add_events, customer_of, new_project

UA1 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Safari/604.1"

#: identity's answer, without the columns that only number rows or date the run
TABLES = {
    "identity_map": "id_type, id_value, customer_id, first_seen_at",
    "identity_flags": "*",
    "identity_links": "id_type_a, id_value_a, id_type_b, id_value_b, event_id, occurred_at, n_events, trusted, status",
    "identity_event_keys": "*",
    "identity_device_links": "anon_type, anon_value, known_type, known_value, anon_event_id, known_event_id, ip_key, "
                             "user_agent, occurred_at, days",
}


def _tables(p) -> dict[str, list[tuple]]:
    return {t: p.engine.con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall() for t, cols in TABLES.items()}


def _web(i: int, cookie: int, user: int | None, ip: int, day: float) -> dict:
    return {"source_name": "web", "anonymous_id": f"c{cookie}", "user_id": None if user is None else f"u{user}",
            "ip_key": f"ip{ip}", "user_agent": UA1, "occurred_at": T0 + timedelta(days=day, minutes=cookie),
            "source_key": f"e{i}"}


def _equals_full(p) -> dict[str, list[tuple]]:
    """identity's tables now, after checking that a full run over the same events writes the same."""
    got = _tables(p)
    rep = resolve(p, full=True)
    assert rep.mode == "full"
    assert _tables(p) == got
    return got


ev = st.tuples(st.integers(0, 5), st.sampled_from([None, None, 0, 1, 2]), st.integers(0, 1), st.integers(0, 20),
               st.integers(0, 3))  # cookie, user id, ip, day, batch


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=st.lists(ev, min_size=2, max_size=16), max_known=st.integers(1, 2), per_ip=st.integers(1, 3))
def test_incremental_runs_equal_one_full_run(evs, max_known, per_ip) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = new_project(Path(tmp), device_link_window_days=5, device_link_max_known=max_known,
                        device_link_max_known_per_ip=per_ip)
        try:
            modes = []
            for b in sorted({e[4] for e in evs}):
                add_events(p, [_web(i, c, u, ip, d) for i, (c, u, ip, d, bb) in enumerate(evs) if bb == b])
                modes.append(resolve(p).mode)
            assert modes[0] == "full" and all(m == "incremental" for m in modes[1:])
            _equals_full(p)
        finally:
            p.close()


def test_a_link_that_goes_away_moves_a_cookie_no_new_event_carries(tmp_path: Path) -> None:
    p = new_project(tmp_path, device_link_max_known=1)
    add_events(p, [_web(0, 1, 1, 0, 0), _web(1, 2, None, 0, 1)])
    resolve(p)
    assert customer_of(p, "anonymous_id", "c2") == customer_of(p, "user_id", "u1") is not None
    # a second known customer on the same address and user agent: the pair is a hub, c2 alone again
    add_events(p, [_web(2, 3, 2, 0, 2)])
    assert resolve(p).mode == "incremental"
    got = _equals_full(p)
    assert customer_of(p, "anonymous_id", "c2") not in (customer_of(p, "user_id", "u1"), customer_of(p, "user_id", "u2"))
    assert got["identity_device_links"] == []
    p.close()


def test_a_split_keeps_the_old_id_on_the_larger_part_and_gives_the_rest_a_new_one(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    add_events(p, [_web(0, 1, 1, 0, 0), _web(1, 1, None, 0, 1), _web(2, 4, 1, 1, 1)])
    resolve(p)
    before = customer_of(p, "user_id", "u1")
    assert customer_of(p, "anonymous_id", "c1") == customer_of(p, "anonymous_id", "c4") == before
    # c1 now signs in as u2 too: a cookie of two user ids is flagged, u1 keeps c4 and its id
    add_events(p, [_web(3, 1, 2, 1, 2)])
    assert resolve(p).mode == "incremental"
    _equals_full(p)
    assert customer_of(p, "user_id", "u1") == customer_of(p, "anonymous_id", "c4") == before
    assert customer_of(p, "user_id", "u2") not in (None, before)
    p.close()
