"""Hypothesis: a web cookie is stitched to a known person only with analytics consent at that time."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.engine import privacy_sql as S
from percorso.identity.resolver import resolve
from tests.identity.helpers import add_events, customer_of, new_project

T0 = dt.datetime(2025, 3, 1, 9, 0)
COOKIES = ["a0", "a1", "a2"]
USERS = ["u0", "u1"]

login = st.tuples(st.integers(0, 2), st.integers(0, 10))          # cookie, day (cookie i is user i % 2's browser)
choice = st.tuples(st.integers(0, 2), st.booleans(), st.integers(0, 10))             # cookie, analytics, day


def oracle(logins, choices, opt_in):
    """cookie → the users in its person: its own user when one of its logins had consent, else none."""
    out = {c: set() for c in COOKIES}
    for c, day in logins:
        recs = [(d, g) for cc, g, d in choices if cc == c and d <= day]
        if recs:
            last = max(d for d, _ in recs)
            ok = all(g for d, g in recs if d == last)   # a denial wins a tie
        else:
            ok = not opt_in
        if ok:
            out[COOKIES[c]].add(USERS[c % 2])
    return out


def test_no_stitching_against_consent(tmp_path):
    p = new_project(tmp_path)
    S.ensure_tables(p.engine)

    @settings(max_examples=20, deadline=None)
    @given(st.lists(login, min_size=1, max_size=6), st.lists(choice, max_size=6), st.booleans())
    def check(logins, choices, opt_in):
        p.engine.run("DELETE FROM event_store")
        p.engine.run("DELETE FROM consent_history")
        p.settings.privacy = {"legal_basis": {"analytics": "consent" if opt_in else "legitimate_interest"}}
        # every cookie browses first (so each exists), then the logins, at noon of their day
        rows = [{"source_name": "web", "event_type": "page_view", "anonymous_id": c,
                 "occurred_at": T0 - dt.timedelta(days=1)} for c in COOKIES]
        rows += [{"source_name": "web", "event_type": "identify", "anonymous_id": COOKIES[c], "user_id": USERS[c % 2],
                  "occurred_at": T0 + dt.timedelta(days=day, hours=3)} for c, day in logins]
        add_events(p, rows)
        recs = [{"consent_id": str(i), "subject_type": "anonymous_id", "subject_value": COOKIES[c],
                 "purpose": "analytics", "granted": g, "occurred_at": T0 + dt.timedelta(days=d), "source": "web",
                 "text_version": None, "origin_event_id": None, "recorded_at": T0} for i, (c, g, d) in enumerate(choices)]
        if recs:
            types = {"BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR": pa.string()}
            S.insert_consent(p.engine, pa.table({c: pa.array([r[c] for r in recs], type=types[t])
                                                 for c, t in S.CONSENT_COLUMNS}))
        resolve(p, full=True)
        want = oracle(logins, choices, opt_in)
        for c in COOKIES:
            cust = customer_of(p, "anonymous_id", c)
            users = {u for u in USERS if customer_of(p, "user_id", u) == cust}
            assert users == want[c], (c, logins, choices, opt_in)

    try:
        check()
    finally:
        p.close()
