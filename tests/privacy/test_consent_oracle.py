"""Hypothesis: ``allowed`` equals a slow Python reading of the history, for every basis and time."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.engine import Engine
from percorso.engine import privacy_sql as S
from percorso.privacy.consent import allowed
from percorso.privacy.settings import privacy_settings

T0 = dt.datetime(2025, 1, 1)
PEOPLE = [f"C{i:012x}" for i in range(5)]
# each person has an e-mail key and a cookie; the history may name either, or the customer id
IDS = [(t, f"{t}-{i}", c) for i, c in enumerate(PEOPLE) for t in ("email_key", "anonymous_id")]

record = st.tuples(st.integers(0, len(PEOPLE) - 1), st.sampled_from(["email_key", "anonymous_id", "customer_id"]),
                   st.sampled_from(["email", "ads", "profiling"]), st.booleans(), st.integers(0, 20))


def oracle(records, purpose, t, basis):
    latest: dict[str, tuple[int, bool]] = {}
    for person, _kind, p, granted, day in records:
        if p != purpose or day > t:
            continue
        c = PEOPLE[person]
        prev = latest.get(c)
        if prev is None or day > prev[0] or (day == prev[0] and not granted):
            latest[c] = (day, granted if prev is None or day > prev[0] else prev[1] and granted)
    if basis == "consent":
        return {c for c, (_, g) in latest.items() if g}
    if basis == "legitimate_interest":
        return {c for c in PEOPLE if latest.get(c, (0, True))[1]}
    return set(PEOPLE)


def _load(engine, records):
    engine.create_table("customers", pa.table({"customer_id": PEOPLE}))
    engine.create_table("identity_map", pa.table({"id_type": [i[0] for i in IDS], "id_value": [i[1] for i in IDS],
                                                  "customer_id": [i[2] for i in IDS]}))
    engine.run("DROP TABLE IF EXISTS consent_history")
    S.ensure_tables(engine)
    rows = []
    for n, (person, kind, p, granted, day) in enumerate(records):
        value = PEOPLE[person] if kind == "customer_id" else f"{kind}-{person}"
        rows.append({"consent_id": str(n), "subject_type": kind, "subject_value": value, "purpose": p,
                     "granted": granted, "occurred_at": T0 + dt.timedelta(days=day), "source": "t",
                     "text_version": None, "origin_event_id": None, "recorded_at": T0})
    types = {"BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR": pa.string()}
    if rows:
        S.insert_consent(engine, pa.table({c: pa.array([r[c] for r in rows], type=types[t])
                                           for c, t in S.CONSENT_COLUMNS}))


def test_allowed_matches_oracle(tmp_path):
    engine = Engine(tmp_path / "c.duckdb")

    @settings(max_examples=40, deadline=None)
    @given(st.lists(record, max_size=25), st.sampled_from(["email", "ads", "profiling"]), st.integers(-1, 22),
           st.sampled_from(["consent", "legitimate_interest", "contract"]))
    def check(records, purpose, t, basis):
        _load(engine, records)
        ps = privacy_settings({"legal_basis": {purpose: basis}})
        at = T0 + dt.timedelta(days=t)
        got = set(engine.execute(allowed(engine, purpose, at, settings=ps))["customer_id"])
        assert got == oracle(records, purpose, t, basis)

    try:
        check()
    finally:
        engine.close()
