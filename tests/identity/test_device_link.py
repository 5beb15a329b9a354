"""The guarded device link (ADR 0009): hand-computed cases and a pure-Python oracle.

Each case is small enough to check by reading it: web events with a cookie, maybe a user id,
an ``ip_key`` and a user agent, at times chosen to fall inside or outside the window.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.identity import explain, resolve
from tests.identity.helpers import T0, add_events, customer_of, new_project, partition

UA1 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Safari/604.1"
UA2 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36"


def web(anon: str, day: float, ip: str = "ip1", ua: str = UA1, user: str | None = None, **kw) -> dict:
    return {"source_name": "web", "anonymous_id": anon, "user_id": user, "ip_key": ip, "user_agent": ua,
            "occurred_at": T0 + timedelta(days=day), "source_key": f"{anon}-{day}-{ip}-{user}", **kw}


@pytest.fixture
def proj(tmp_path: Path):
    p = new_project(tmp_path)
    yield p
    p.close()


def test_anonymous_cookie_joins_the_one_known_customer_of_its_ip_and_user_agent(proj) -> None:
    add_events(proj, [web("k1", 0, user="u1"), web("k1", 1), web("a1", 5), web("a1", 6)])
    report = resolve(proj)
    assert customer_of(proj, "anonymous_id", "a1") == customer_of(proj, "user_id", "u1") is not None
    assert report.device_links == 1
    link = proj.engine.query("SELECT anon_type, anon_value, known_value, ip_key, days FROM identity_device_links")
    # the anonymous events of days 5 and 6 meet the known ones of days 0 and 1 within 7 days
    assert link.to_pylist() == [{"anon_type": "anonymous_id", "anon_value": "a1", "known_value": "k1",
                                 "ip_key": "ip1", "days": 2}]
    ex = explain(proj, "u1")
    dl = [x for x in ex.chain if x.get("rule") == "device link (ip + user agent)"]
    assert len(dl) == 1 and dl[0]["id_value_b"] == "a1" and dl[0]["event_id"] and dl[0]["known_event_id"]


def test_off_by_setting(tmp_path: Path) -> None:
    p = new_project(tmp_path, device_link=False)
    add_events(p, [web("k1", 0, user="u1"), web("a1", 3)])
    resolve(p)
    assert customer_of(p, "anonymous_id", "a1") != customer_of(p, "user_id", "u1")
    p.close()


def test_not_attached_when_two_known_customers_share_the_pair(tmp_path: Path) -> None:
    # max_known=2: the pair is no hub, but it points to two known customers: ambiguous
    p = new_project(tmp_path, device_link_max_known=2)
    add_events(p, [web("k1", 0, user="u1"), web("k2", 2, user="u2"), web("a1", 5)])
    resolve(p)
    c = customer_of(p, "anonymous_id", "a1")
    assert c not in (customer_of(p, "user_id", "u1"), customer_of(p, "user_id", "u2"))
    p.close()


def test_never_merges_two_known_customers(proj) -> None:
    # both cookies are known (each signed in): the shared pair must not join u1 and u2
    add_events(proj, [web("k1", 0, user="u1"), web("k1", 5), web("k2", 10, user="u2"), web("k2", 12)])
    resolve(proj)
    assert customer_of(proj, "user_id", "u1") != customer_of(proj, "user_id", "u2")
    assert proj.engine.count("identity_device_links") == 0


def test_hub_pair_is_not_evidence(tmp_path: Path) -> None:
    # three known customers on one carrier address with one user agent; the cap is 2
    p = new_project(tmp_path, device_link_max_known=2)
    add_events(p, [web("k1", 0, user="u1"), web("k2", 100, user="u2"), web("k3", 200, user="u3"),
                   web("a1", 1)])
    resolve(p)
    known = {customer_of(p, "user_id", u) for u in ("u1", "u2", "u3")}
    assert customer_of(p, "anonymous_id", "a1") not in known
    p.close()


def test_address_of_many_known_customers_is_a_hub(tmp_path: Path) -> None:
    # a carrier CGNAT address: five known customers with five user agents; the IP cap is 4, so
    # even the pair (cgnat, UA1) that only u0 used is no evidence
    p = new_project(tmp_path, device_link_max_known_per_ip=4)
    add_events(p, [web(f"k{i}", i, ip="cgnat", ua=f"UA{i}", user=f"u{i}") for i in range(5)]
               + [web("a1", 5, ip="cgnat", ua="UA0")])
    resolve(p)
    assert customer_of(p, "anonymous_id", "a1") != customer_of(p, "user_id", "u0")
    p.close()
    q = new_project(tmp_path / "q", device_link_max_known_per_ip=5)
    add_events(q, [web(f"k{i}", i, ip="cgnat", ua=f"UA{i}", user=f"u{i}") for i in range(5)]
               + [web("a1", 5, ip="cgnat", ua="UA0")])
    resolve(q)
    assert customer_of(q, "anonymous_id", "a1") == customer_of(q, "user_id", "u0")
    q.close()


def test_window_and_user_agent_must_match(proj) -> None:
    add_events(proj, [web("k1", 0, user="u1"), web("a1", 9), web("a2", 3, ua=UA2), web("a3", 3, ip="ip2")])
    resolve(proj)
    u1 = customer_of(proj, "user_id", "u1")
    assert all(customer_of(proj, "anonymous_id", a) != u1 for a in ("a1", "a2", "a3"))


def test_known_browser_active_meanwhile_is_another_device(proj) -> None:
    # u1's cookie is used on the pair from day 0 to day 20, and the anonymous cookie on day 6:
    # two browsers with one user agent, not a cookie that replaced another
    add_events(proj, [web("k1", 0, user="u1"), web("k1", 20), web("a1", 6)])
    resolve(proj)
    assert customer_of(proj, "anonymous_id", "a1") != customer_of(proj, "user_id", "u1")


# ---- oracle -------------------------------------------------------------------------------

ev_st = st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(0, 1), st.integers(0, 40),
                  st.booleans())  # cookie, ip, ua, day, signs in (if the cookie has an owner)


def oracle(evs: list[tuple[int, int, int, int, bool]], owner: dict[int, int], window: int,
           max_known: int, per_ip: int) -> set[frozenset[tuple[str, str]]]:
    """The rule, written the slow obvious way over events."""
    comp: dict[int, str] = {}
    for c, _, _, _, s in evs:
        comp.setdefault(c, f"a{c}")
        if s and c in owner:
            comp[c] = f"u{owner[c]}"
    known = {x for x in comp.values() if x.startswith("u")}
    cells: dict[tuple, list[float]] = {}   # (ip, ua, day, component) -> times
    kspan: dict[tuple, list[float]] = {}   # (ip, ua, known cookie) -> times
    for c, ip, ua, day, _ in evs:
        t = day + c / 100  # the time of day: cookies of one day are ordered by number
        cells.setdefault((ip, ua, day, comp[c]), []).append(t)
    per_pair: dict[tuple, set[str]] = {}
    for (ip, ua, _, x) in cells:
        if x in known:
            per_pair.setdefault((ip, ua), set()).add(x)
    per_addr: dict[int, set[str]] = {}
    for (ip, _), xs in per_pair.items():
        per_addr.setdefault(ip, set()).update(xs)
    hub = {p for p, xs in per_pair.items() if len(xs) > max_known}
    hub |= {(ip, ua) for (ip, ua, _, _) in cells if len(per_addr.get(ip, ())) > per_ip}
    for c, ip, ua, day, _ in evs:
        if comp[c] in known and (ip, ua) not in hub:
            kspan.setdefault((ip, ua, c), []).append(day + c / 100)
    live = {k: v for k, v in cells.items() if (k[0], k[1]) not in hub}
    attach: dict[str, set[str]] = {}
    clash = set()
    for (ip, ua, day, x) in live:
        if x in known:
            continue
        span = [t for (i2, u2, _, x2), t2 in live.items() if (i2, u2, x2) == (ip, ua, x) for t in t2]
        t0, t1 = min(span), max(span)
        if any(min(ts) <= t1 and max(ts) >= t0 for (i2, u2, _), ts in kspan.items() if (i2, u2) == (ip, ua)):
            clash.add(x)
        for (i2, u2, d2, y) in live:
            if y in known and (i2, u2) == (ip, ua) and abs(d2 - day) <= window:
                attach.setdefault(x, set()).add(y)
    final = {x: (next(iter(ys)) if len(ys) == 1 and x not in clash else x) for x, ys in attach.items()}
    groups: dict[str, set[tuple[str, str]]] = {}
    for c, x in comp.items():
        g = groups.setdefault(final.get(x, x), set())
        g.add(("anonymous_id", f"c{c}"))
        if x.startswith("u"):
            g.add(("user_id", x))
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=30, deadline=None)
@given(evs=st.lists(ev_st, min_size=1, max_size=18), owners=st.lists(st.integers(0, 2), min_size=6, max_size=6),
       has=st.lists(st.booleans(), min_size=6, max_size=6), window=st.integers(0, 12), max_known=st.integers(1, 2),
       per_ip=st.integers(1, 3))
def test_matches_a_slow_oracle(evs, owners, has, window, max_known, per_ip) -> None:
    owner = {c: owners[c] for c in range(6) if has[c]}
    rows = [{"source_name": "web", "anonymous_id": f"c{c}", "ip_key": f"ip{ip}", "user_agent": f"ua{ua}",
             "user_id": f"u{owner[c]}" if s and c in owner else None,
             "occurred_at": T0 + timedelta(days=day + c / 100), "source_key": f"e{i}"}
            for i, (c, ip, ua, day, s) in enumerate(evs)]
    with tempfile.TemporaryDirectory() as tmp:
        p = new_project(Path(tmp), device_link_window_days=window, device_link_max_known=max_known,
                        device_link_max_known_per_ip=per_ip)
        add_events(p, rows)
        resolve(p)
        got = partition(p)
        p.close()
    assert got == oracle(evs, owner, window, max_known, per_ip)


def test_a_customer_on_a_flagged_cookie_still_counts_for_the_guards(proj) -> None:
    # cookie S is flagged (two user ids sign in on it); u2's event on ip1 / UA1 must still make
    # the pair point to two known customers, so a1 is attached to neither
    add_events(proj, [web("k1", 0, user="u1"), web("S", 1, user="u2"),
                      web("S", 1.1, ip="ip9", ua=UA2, user="u3"), web("a1", 3)])
    report = resolve(proj)
    assert report.flagged_identifiers >= 1 and report.device_links == 0
    a1 = customer_of(proj, "anonymous_id", "a1")
    assert a1 not in (customer_of(proj, "user_id", "u1"), customer_of(proj, "user_id", "u2"))


def test_the_window_counts_utc_calendar_days(tmp_path: Path) -> None:
    """Days are UTC calendar days (floor of epoch / 86400), not days starting at noon: events
    7 days 4 hours apart, on days 7 apart, are within a 7-day window. (DuckDB 2.0's ``//`` on
    a DOUBLE does not floor; rounding put them 8 days apart; the rules on Spark floor, ADR 0044.)"""
    p = new_project(tmp_path)
    # T0 is 09:00 UTC: the known cookie at 09:00 on day 0, the anonymous one at 13:00 on day 7
    add_events(p, [web("k1", 0, user="u1"), web("a1", 7 + 4 / 24)])
    resolve(p)
    assert customer_of(p, "anonymous_id", "a1") == customer_of(p, "user_id", "u1") is not None
    # and a calendar day more is outside it (another address, so the first pair is no hub)
    add_events(p, [web("k2", 20, ip="ip2", user="u2"), web("a2", 28 + 4 / 24, ip="ip2")])
    resolve(p, full=True)
    assert customer_of(p, "anonymous_id", "a1") == customer_of(p, "user_id", "u1")
    assert customer_of(p, "anonymous_id", "a2") != customer_of(p, "user_id", "u2")
    p.close()
