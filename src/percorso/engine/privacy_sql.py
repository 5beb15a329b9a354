"""DuckDB statements of the privacy room: consent history, suppression, erasure, retention.

Why here: only :mod:`percorso.engine` writes SQL. One function per construct; values are
bound with ``?``; the few identifiers (table and column names) come from allowlists in
:mod:`percorso.privacy` and go through :func:`quote_ident`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from percorso.engine import event_store as ES
from percorso.engine.backend import is_text_type
from percorso.engine.backend import quote_ident as qi

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine

CONSENT_COLUMNS = (
    ("consent_id", "VARCHAR"),       # sha256(origin event | purpose) or of the manual record
    ("subject_type", "VARCHAR"),     # an identity id_type (email_key, loyalty_card, ...) or customer_id
    ("subject_value", "VARCHAR"),    # its value (PII only as keyed hashes)
    ("purpose", "VARCHAR"),          # analytics, profiling, email, sms, phone, ads
    ("granted", "BOOLEAN"),
    ("occurred_at", "TIMESTAMP"),    # when the person said it (UTC)
    ("source", "VARCHAR"),           # source name, or manual / api
    ("text_version", "VARCHAR"),     # version of the notice / form text shown
    ("origin_event_id", "VARCHAR"),  # the event it was read from (NULL when set by hand)
    ("recorded_at", "TIMESTAMP"),    # when percorso stored it
)

#: Identifier that names the subject of a consent read from a row, most specific first: a
#: card or CRM id names a person; a cookie only a browser (Segment's consent is the cookie's).
SUBJECT_ORDER = ("loyalty_card", "crm_id", "user_id", "email_key", "phone_key", "tax_code_key",
                 "device_id", "anonymous_id")
COOKIE_SUBJECT_ORDER = ("anonymous_id", "device_id", "user_id", "email_key", "phone_key")

#: Segment consent categories (lower case) → purpose; anything else (necessary, functional) is no purpose here.
SEGMENT_CATEGORIES = {
    "analytics": "analytics", "analytical": "analytics", "statistics": "analytics", "statistiche": "analytics",
    "performance": "analytics", "measurement": "analytics",
    "advertising": "ads", "ads": "ads", "marketing": "ads", "targeting": "ads", "pubblicita": "ads",
    "personalization": "profiling", "personalisation": "profiling", "profiling": "profiling",
    "profilazione": "profiling", "email": "email", "sms": "sms", "phone": "phone",
}


def ensure_tables(engine: Engine) -> None:
    """Create the privacy tables once (consent history, suppression list, erasure log)."""
    cols = ", ".join(f"{c} {t}" for c, t in CONSENT_COLUMNS)
    engine.run(f"CREATE TABLE IF NOT EXISTS consent_history ({cols})")
    engine.run("""CREATE TABLE IF NOT EXISTS privacy_suppression (
        key VARCHAR, kind VARCHAR, erasure_id VARCHAR, suppressed_at TIMESTAMP)""")
    engine.run("""CREATE TABLE IF NOT EXISTS privacy_log (
        action_id VARCHAR, action VARCHAR, done_at TIMESTAMP, actor VARCHAR, customers BIGINT,
        identifiers BIGINT, rows_removed BIGINT, detail VARCHAR)""")


def _subject(cols: tuple[str, ...], alias: str) -> tuple[str, str]:
    typ = "CASE " + " ".join(f"WHEN {alias}.{c} IS NOT NULL THEN '{c}'" for c in cols) + " END"
    val = f"coalesce({', '.join(f'{alias}.{c}' for c in cols)})"
    return typ, val


#: The events :func:`derive_consent` reads, each a filter of its own (one equality each: see there):
#: newsletter opt-in and opt-out, and Segment's consent kept in the properties. One definition for
#: the statement and for :func:`_consent_sources_after`, which asks whether any is new.
_OPT_IN, _OPT_OUT = "event_type = 'newsletter_signup'", "event_type = 'unsubscribe'"
_SEGMENT_CONSENT = """properties LIKE '%"consent"%'"""


def derive_consent(engine: Engine, recorded_at: Any) -> int:  # noqa: PLR0915 - one statement
    """Append the consent records the sources hold that are not stored yet; returns how many.

    Read from: the loyalty form's and the CRM's flags (``contact_profiles``:
    ``consent_marketing`` → email, sms, phone; ``consent_profiling`` → profiling), newsletter
    opt-in (``newsletter_signup`` → email granted) and opt-out (``unsubscribe`` → email denied)
    events, and Segment's ``context.consent`` (kept by ingest as ``properties.consent``;
    ``categoryPreferences`` or a flat object of category → true/false). Idempotent: a record's
    id is the hash of its origin event and purpose. Only rows appended since the last call are
    read (``consent_state``: the last rowid of ``events`` and ``contact_profiles`` seen; a
    rewrite of the file resets it, and the ids keep a full re-read from adding anything twice).
    """
    engine.run("CREATE TABLE IF NOT EXISTS consent_state (events_rowid BIGINT, profiles_rowid BIGINT)")
    # a plain fetch, not Arrow: a build that loads nothing else of pyarrow need not (~0.1 s)
    ev_last, cp_last = engine.con.execute("SELECT max(events_rowid), max(profiles_rowid) FROM consent_state").fetchall()[0]
    ev_after = -1 if ev_last is None else int(ev_last)
    cp_after = -1 if cp_last is None else int(cp_last)
    if ev_last is not None and not _consent_sources_after(engine, ev_after, cp_after):
        _mark_consent_read(engine)
        return 0
    ptyp, pval = _subject(SUBJECT_ORDER[:5], "c")
    etyp, eval_ = _subject(SUBJECT_ORDER, "e")
    ktyp, kval = _subject(COOKIE_SUBJECT_ORDER, "e")
    cats = ", ".join(f"('{k}', '{v}')" for k, v in SEGMENT_CATEGORIES.items())
    added = engine.written(f"""INSERT INTO consent_history
        WITH prof AS (
            SELECT c.event_id, c.occurred_at, c.source_name, {ptyp} AS subject_type, {pval} AS subject_value,
                   c.consent_marketing, c.consent_profiling FROM contact_profiles c WHERE c.rowid > $cp),
        rows AS (
            SELECT event_id, subject_type, subject_value, p.purpose,
                   CASE WHEN p.purpose = 'profiling' THEN consent_profiling ELSE consent_marketing END AS granted,
                   occurred_at, source_name AS source, NULL::VARCHAR AS text_version
            FROM prof CROSS JOIN (VALUES ('profiling'), ('email'), ('sms'), ('phone')) p(purpose)
            UNION ALL
            SELECT e.event_id, {etyp}, {eval_}, 'email', e.{_OPT_IN} AS granted, e.occurred_at,
                   e.source_name, json_extract_string(e.properties, '$.consent_text_version')
            -- one equality each: DuckDB 2.0 scans an IN list as an optional filter and emits every
            -- row of the range (0.2 s of a 10M-event build, 0.015 s as two equalities)
            FROM (SELECT * FROM {ES.WITH_ROWID} WHERE rowid > $ev AND {_OPT_IN}
                  UNION ALL SELECT * FROM {ES.WITH_ROWID} WHERE rowid > $ev AND {_OPT_OUT}) e
            UNION ALL
            SELECT s.event_id, s.subject_type, s.subject_value, m.purpose,
                   bool_and(s.v IN ('true', '1', 'yes', 'granted')), any_value(s.occurred_at), any_value(s.source),
                   any_value(s.text_version)
            FROM (SELECT x.*, lower(json_extract_string(x.j, '$."' || replace(x.k, '"', '') || '"')) AS v
                  FROM (SELECT e.event_id, {ktyp} AS subject_type, {kval} AS subject_value, e.occurred_at AS occurred_at,
                               e.source_name AS source,
                               json_extract_string(e.properties, '$.consent.version') AS text_version,
                               e.j, unnest(json_keys(e.j)) AS k
                        FROM (SELECT *, coalesce(json_extract(properties, '$.consent.categoryPreferences'),
                                                 json_extract(properties, '$.consent')) AS j
                              FROM {ES.WITH_ROWID} WHERE rowid > $ev AND {_SEGMENT_CONSENT}) e
                        WHERE json_type(e.j) = 'OBJECT') x) s
            JOIN (VALUES {cats}) m(category, purpose) ON m.category = lower(strip_accents(s.k))
            WHERE s.v IN ('true', 'false', '1', '0', 'yes', 'no', 'granted', 'denied')
            GROUP BY s.event_id, s.subject_type, s.subject_value, m.purpose)
        SELECT substr(sha256(event_id || '|' || purpose), 1, 32), subject_type, subject_value, purpose, granted,
               occurred_at, source, text_version, event_id, $at::TIMESTAMP
        FROM rows r
        WHERE granted IS NOT NULL AND subject_value IS NOT NULL AND occurred_at IS NOT NULL
          AND substr(sha256(event_id || '|' || purpose), 1, 32) NOT IN (SELECT consent_id FROM consent_history)""",
               {"at": recorded_at, "ev": ev_after, "cp": cp_after})  # type: ignore[arg-type]
    _mark_consent_read(engine)
    return added


def _consent_sources_after(engine: Engine, ev_after: int, cp_after: int) -> bool:
    """Whether :func:`derive_consent`'s statement has a row to read: a profile after ``cp_after``,
    or an event after ``ev_after`` that is a newsletter opt-in or opt-out or carries ``"consent"``
    in its properties (the filters of its three sources). Asked only when consent was read
    before (the events after it are those of the builds since): an incremental build's 1,000
    clickstream events hold none, and the statement, planned and run on nothing, cost 12-16 ms
    of a 10M-event build against ~1 ms for this count (ADR 0093); a first read would scan every
    event twice."""
    return bool(engine.con.execute(f"""SELECT (SELECT count(*) FROM contact_profiles WHERE rowid > $cp)
        + (SELECT count(*) FROM {ES.WITH_ROWID} WHERE rowid > $ev
           AND ({_OPT_IN} OR {_OPT_OUT} OR {_SEGMENT_CONSENT}))""",
        {"ev": ev_after, "cp": cp_after}).fetchall()[0][0])


def _mark_consent_read(engine: Engine) -> None:
    """``consent_state``: the last rowids of the events and the profiles, read by now."""
    engine.run("DELETE FROM consent_state")
    engine.run(f"""INSERT INTO consent_state SELECT {ES.LAST_ROWID},
        (SELECT coalesce(max(rowid), -1) FROM contact_profiles)""")


def insert_consent(engine: Engine, rows: pa.Table) -> int:
    """Append manual records (``percorso consent set``, the API), skipping ids already stored."""
    engine.register_arrow("_consent_new", rows)
    try:
        cols = ", ".join(c for c, _ in CONSENT_COLUMNS)
        before = engine.count("consent_history")
        engine.run(f"""INSERT INTO consent_history SELECT {cols} FROM _consent_new
            WHERE consent_id NOT IN (SELECT consent_id FROM consent_history)""")
        return engine.count("consent_history") - before
    finally:
        engine.unregister("_consent_new")


def delete_where_in(engine: Engine, table: str, column: str, values_table: str, values_column: str) -> int:
    """Delete the rows of ``table`` whose ``column`` is among ``values_table.values_column``; returns how many."""
    if not engine.has_table(table) or column not in engine.columns(table):
        return 0
    n = engine.query(f"SELECT count(*) AS n FROM {qi(table)} WHERE {qi(column)} IN "
                     f"(SELECT {qi(values_column)} FROM {qi(values_table)})").column(0)[0].as_py()
    if n:
        engine.run(f"DELETE FROM {qi(table)} WHERE {qi(column)} IN (SELECT {qi(values_column)} FROM {qi(values_table)})")
    return int(n)


#: identifiers that name a browser or a device, not a person: what analytics consent guards
COOKIE_KINDS = ("anonymous_id", "device_id")


def _analytics_records_by_hash() -> str:
    """Analytics records keyed the way identity keys identifiers (``hash(kind rank, value)``)."""
    from percorso.engine.identity_sql import _KIND_NAMES

    return f"""SELECT hash((list_position({_KIND_NAMES}, subject_type) - 1)::UTINYINT, subject_value) AS h,
                      occurred_at AS at, granted
               FROM consent_history
               WHERE purpose = 'analytics' AND list_position({_KIND_NAMES}, subject_type) > 0"""


def unstitch_cookies(engine: Engine, *, opt_in: bool) -> int:
    """Drop from identity's ``_id_occ`` the cookie/device occurrences of events without analytics consent.

    An event's consent is the latest analytics record at or before the event over the
    identifiers the event carries (the cookie's own Segment consent, the user's CRM record);
    a denial wins a tie. ``opt_in`` (basis ``consent``): only events whose latest record is a
    grant keep their cookie; otherwise (``legitimate_interest``) only a denial removes it.
    Without its cookie occurrence the event links no cookie to the person. Returns how many
    occurrences were removed.
    """
    if not engine.has_table("consent_history"):
        if not opt_in:
            return 0
        ensure_tables(engine)
    from percorso.engine.identity_sql import _K

    cookie_k = ", ".join(str(_K[k]) for k in COOKIE_KINDS)
    latest = f"""SELECT o.ev, arg_max(r.granted, (r.at, NOT r.granted)) AS granted
                 FROM _id_occ o JOIN ({_analytics_records_by_hash()}) r ON r.h = o.h AND r.at <= o.ts
                 GROUP BY o.ev"""
    refused = (f"SELECT ev FROM _id_occ EXCEPT SELECT ev FROM ({latest}) WHERE granted" if opt_in
               else f"SELECT ev FROM ({latest}) WHERE NOT granted")
    return engine.written(f"DELETE FROM _id_occ WHERE k IN ({cookie_k}) AND ev IN ({refused})")


def cookie_analytics_state(engine: Engine) -> pa.Table:
    """(h, granted): each cookie/device identifier's latest analytics record (any time), keyed as identity keys it."""
    import pyarrow as pa

    if not engine.has_table("consent_history"):
        return pa.table({"h": pa.array([], pa.uint64()), "granted": pa.array([], pa.bool_())})
    from percorso.engine.identity_sql import _KIND_NAMES

    kinds = ", ".join(f"'{k}'" for k in COOKIE_KINDS)
    return engine.query(f"""SELECT hash((list_position({_KIND_NAMES}, subject_type) - 1)::UTINYINT, subject_value) AS h,
               arg_max(granted, (occurred_at, NOT granted)) AS granted
        FROM consent_history WHERE purpose = 'analytics' AND subject_type IN ({kinds})
        GROUP BY 1""")


# -- erasure (art. 17) -------------------------------------------------------------------

#: identifier columns of ``events`` (the person's keys there)
_ID_COLS = ("anonymous_id", "device_id", "user_id", "email_key", "phone_key", "loyalty_card", "crm_id",
            "tax_code_key", "order_id")
#: columns a detached event (an order kept for tax) loses besides its identifiers (order_id stays)
_DETACH_COLS = ("anonymous_id", "device_id", "user_id", "email_key", "phone_key", "loyalty_card", "crm_id",
                "tax_code_key", "page_url", "referrer", "user_agent", "ip_key", "region")
#: tables erasure handles on their own, never by the generic sweep
SWEEP_SKIP = ("events", ES.STORE, "privacy_suppression", "privacy_log", "schema_migrations", "ingest_runs",
              "quarantine",
              "pii_vault", "contact_profiles", "consent_history", "campaign_costs", "campaign_costs_history")


def erasure_scope(engine: Engine, customer_ids: list[str], *, detach_kinds: list[str]) -> dict[str, int]:
    """Temp tables of what one erasure removes; returns their sizes.

    ``_er_cust``: the customers and every customer id a merge retired into them (any depth;
    an id retired once but alive again after a split is someone's now, and stays out);
    ``_er_ids``: every identifier (id_type, id_value) of theirs; ``_er_events``: every event
    that is theirs (assigned to them, or carrying one of their identifiers), with ``detach``
    true for order events of ``detach_kinds`` sources (kept for tax, person removed).
    """
    engine.run("CREATE OR REPLACE TEMP TABLE _er_cust AS SELECT DISTINCT unnest(?::VARCHAR[]) AS customer_id",
               [customer_ids])
    if engine.has_table("identity_merges"):
        for _ in range(32):   # retired ids of retired ids ... (merges form short chains)
            before = engine.count("_er_cust")
            engine.run("""INSERT INTO _er_cust SELECT DISTINCT m.retired_id FROM identity_merges m
                WHERE m.kept_id IN (SELECT customer_id FROM _er_cust)
                  AND m.retired_id NOT IN (SELECT customer_id FROM _er_cust)
                  AND m.retired_id NOT IN (SELECT customer_id FROM identity_map)""")
            if engine.count("_er_cust") == before:
                break
    parts = []
    for t in ("identity_map", "event_customers"):
        if engine.has_table(t):
            parts.append(f"SELECT id_type, id_value FROM {t} WHERE customer_id IN (SELECT customer_id FROM _er_cust)")
    body = " UNION ".join(parts) if parts else "SELECT NULL::VARCHAR AS id_type, NULL::VARCHAR AS id_value LIMIT 0"
    engine.run(f"CREATE OR REPLACE TEMP TABLE _er_ids AS SELECT DISTINCT * FROM ({body}) WHERE id_value IS NOT NULL")
    has_ec = engine.has_table("event_customers")
    own = ("SELECT event_id FROM event_customers WHERE customer_id IN (SELECT customer_id FROM _er_cust)"
           if has_ec else "SELECT NULL AS event_id LIMIT 0")
    # an event of nobody (not assigned) carrying their identifier is theirs too; one assigned to
    # someone else (a shared, flagged identifier) stays that person's and only loses the identifier
    nobody = "e.event_id NOT IN (SELECT event_id FROM event_customers)" if has_ec else "TRUE"
    carried = " OR ".join(f"e.{c} IN (SELECT id_value FROM _er_ids WHERE id_type = '{c}')" for c in _ID_COLS)
    engine.run(f"""CREATE OR REPLACE TEMP TABLE _er_events AS
        SELECT e.event_id, (list_contains(?::VARCHAR[], e.source_kind)
                            AND e.event_type IN ('purchase', 'receipt', 'return')) AS detach
        FROM events e WHERE e.event_id IN ({own}) OR (({carried}) AND {nobody})""", [detach_kinds or ["\x00"]])
    return {"customers": engine.count("_er_cust"), "identifiers": engine.count("_er_ids"),
            "events": engine.count("_er_events")}


def erasure_pii(engine: Engine) -> pa.Table:
    """(key, kind, value) the vault holds for ``_er_ids`` (sealed; opened by the caller to find it in free text)."""
    return engine.query("""SELECT key, kind, value FROM pii_vault WHERE key IN
        (SELECT id_value FROM _er_ids WHERE id_type IN ('email_key', 'phone_key', 'tax_code_key'))""")


def suppress_scope(engine: Engine, secret: str, erasure_id: str, at: Any) -> int:
    """Add the keyed hashes of ``_er_ids`` and of the deleted events' ids to ``privacy_suppression``.

    The key is ``sha256(secret:kind:value)``: computable again at import from what a source
    row carries, never the value itself (nor the identifier's own keyed hash).
    """
    before = engine.count("privacy_suppression")
    engine.run("""INSERT INTO privacy_suppression
        SELECT DISTINCT sha256(? || ':' || kind || ':' || value), kind, ?, ?::TIMESTAMP FROM (
            SELECT id_type AS kind, id_value AS value FROM _er_ids
            UNION ALL SELECT 'event_id', event_id FROM _er_events WHERE NOT detach) s
        WHERE sha256(? || ':' || kind || ':' || value) NOT IN (SELECT key FROM privacy_suppression)""",
               [secret, erasure_id, at, secret])
    return engine.count("privacy_suppression") - before


def pin_flags(engine: Engine, at: Any) -> int:
    """Keep flagged the identifiers of *other* people that the scope's events made hubs; returns how many.

    An identifier shared with an erased person (a family browser's cookie, a shop's phone) was
    flagged because it touched several people; once the erased person's events are gone the
    same evidence would un-flag it and join the people left through it (a merge, a cookie
    moving to someone), changing their results. ``identity_pins`` keeps the decision: the
    ``id_hash`` of an identifier that is not the erased person's (they keep using it), nothing
    about the erased person. Read by the identity solver (``kept_flagged``, ADR 0028).
    """
    if not (engine.has_table("identity_flags") and engine.has_table("identity_identifiers")):
        return 0
    engine.run("CREATE TABLE IF NOT EXISTS identity_pins (id_hash UBIGINT, reason VARCHAR, pinned_at TIMESTAMP)")
    carried = " UNION ".join(f"SELECT '{c}' AS id_type, e.{c} AS id_value FROM events e "
                             f"WHERE e.{c} IS NOT NULL AND e.event_id IN (SELECT event_id FROM _er_events)"
                             for c in _ID_COLS)
    before = engine.count("identity_pins")
    engine.run(f"""INSERT INTO identity_pins
        SELECT DISTINCT n.id_hash, 'kept_flagged', ?::TIMESTAMP FROM ({carried}) c
        JOIN identity_flags f USING (id_type, id_value)
        JOIN identity_identifiers n USING (id_type, id_value)
        WHERE (c.id_type, c.id_value) NOT IN (SELECT (id_type, id_value) FROM _er_ids)
          AND n.id_hash NOT IN (SELECT id_hash FROM identity_pins)""", [at])
    return engine.count("identity_pins") - before


def unpin_gone(engine: Engine) -> int:
    """Drop the pins of identifiers no event carries any more, or that an erasure took (``_er_ids``)."""
    if not engine.has_table("identity_pins"):
        return 0
    gone = "id_hash NOT IN (SELECT id_hash FROM identity_identifiers)"
    if engine.has_table("_er_ids"):
        gone += """ OR id_hash IN (SELECT n.id_hash FROM identity_identifiers n
                                  JOIN _er_ids USING (id_type, id_value))"""
    return _delete(engine, "identity_pins", gone)


def erase_scope_rows(engine: Engine) -> dict[str, int]:
    """Delete or detach the scope's rows in the tables erasure owns; returns rows per table."""
    out: dict[str, int] = {}
    n = engine.query("SELECT count(*) FILTER (WHERE detach), count(*) FILTER (WHERE NOT detach) FROM _er_events")
    out["events_detached"], out["events_deleted"] = (int(n.column(0)[0].as_py()), int(n.column(1)[0].as_py()))
    engine.run(f"DELETE FROM {ES.STORE} WHERE event_id IN (SELECT event_id FROM _er_events WHERE NOT detach)")
    stored = ES.stored(engine)   # a column the store lacks holds nothing to clear (ADR 0075)
    sets = ", ".join(f"{c} = NULL" for c in _DETACH_COLS if c in stored)
    if sets:
        engine.run(f"UPDATE {ES.STORE} SET {sets} WHERE event_id IN (SELECT event_id FROM _er_events WHERE detach)")
    for c in _ID_COLS:   # their identifier on someone else's event (a shared, flagged one) goes
        if c != "order_id" and c in stored:
            engine.run(f"UPDATE {ES.STORE} SET {c} = NULL "
                       f"WHERE {c} IN (SELECT id_value FROM _er_ids WHERE id_type = '{c}')")
    ids = " OR ".join(f"{c} IN (SELECT id_value FROM _er_ids WHERE id_type = '{c}')"
                      for c in ("email_key", "phone_key", "loyalty_card", "crm_id", "user_id"))
    out["contact_profiles"] = _delete(engine, "contact_profiles",
                                      f"event_id IN (SELECT event_id FROM _er_events) OR {ids}")
    out["pii_vault"] = _delete(engine, "pii_vault", """key IN (SELECT id_value FROM _er_ids
        WHERE id_type IN ('email_key', 'phone_key', 'tax_code_key'))""")
    out["consent_history"] = _delete(engine, "consent_history", """(subject_type, subject_value) IN
        (SELECT (id_type, id_value) FROM _er_ids) OR (subject_type = 'customer_id' AND subject_value IN
        (SELECT customer_id FROM _er_cust)) OR origin_event_id IN (SELECT event_id FROM _er_events)""")
    return out


def _delete(engine: Engine, table: str, where: str, params: list[Any] | None = None) -> int:
    if not engine.has_table(table):
        return 0
    n = int(engine.query(f"SELECT count(*) FROM {qi(table)} WHERE {where}", params).column(0)[0].as_py())
    if n:
        engine.run(f"DELETE FROM {qi(table)} WHERE {where}", params)
    return n


def quarantine_texts(engine: Engine) -> list[str]:
    """Distinct raw texts of the quarantine (free text that may name a person), to match in Python."""
    if not engine.has_table("quarantine"):
        return []
    return [r for r in engine.query("SELECT DISTINCT raw_text FROM quarantine WHERE raw_text IS NOT NULL")
            .column(0).to_pylist()]


def delete_quarantine_texts(engine: Engine, texts: list[str], run_ids: list[str] | None = None) -> int:
    """Delete the quarantine rows whose raw text is one of ``texts`` (only of ``run_ids`` when given)."""
    if not texts:
        return 0
    where = "raw_text IN (SELECT unnest(?::VARCHAR[]))"
    params: list[Any] = [texts]
    if run_ids is not None:
        where += " AND ingest_run_id IN (SELECT unnest(?::VARCHAR[]))"
        params.append(run_ids)
    return _delete(engine, "quarantine", where, params)


def sweep_tables(engine: Engine, raw_values: list[str]) -> dict[str, int]:
    """Every other table: delete rows naming a scope customer, identifier or event, or a raw value.

    By column name: ``customer_id``, ``retired_id``, ``kept_id`` (customers), ``id_value``,
    ``id_value_a``, ``id_value_b`` (identifiers), ``event_id`` (events); and any text column
    equal (case-insensitively) to one of ``raw_values`` (an activation log's recipient). Tables
    of other rooms (activation logs, segment memberships, value artefacts) are covered
    without knowing them.
    """
    out: dict[str, int] = {}
    tables = engine.query("""SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE c.table_schema = 'main' AND c.table_catalog = current_database() AND t.table_type = 'BASE TABLE'
        ORDER BY c.table_name, c.ordinal_position""")
    cols: dict[str, list[tuple[str, str]]] = {}
    for t, c, d in zip(*(tables.column(i).to_pylist() for i in range(3)), strict=True):
        cols.setdefault(t, []).append((c, d))
    checks = {"customer_id": "SELECT customer_id FROM _er_cust", "retired_id": "SELECT customer_id FROM _er_cust",
              "kept_id": "SELECT customer_id FROM _er_cust", "id_value": "SELECT id_value FROM _er_ids",
              "id_value_a": "SELECT id_value FROM _er_ids", "id_value_b": "SELECT id_value FROM _er_ids",
              "event_id": "SELECT event_id FROM _er_events"}
    raw = [v.lower() for v in raw_values if v]
    for table, cs in cols.items():
        if table in SWEEP_SKIP or table.startswith("_"):
            continue
        conds = [f"{qi(c)} IN ({checks[c]})" for c, _ in cs if c in checks]
        params: list[Any] = []
        if raw:
            for c, d in cs:
                if is_text_type(d) and c not in checks:
                    conds.append(f"lower({qi(c)}) IN (SELECT unnest(?::VARCHAR[]))")
                    params.append(raw)
        if conds:
            n = _delete(engine, table, " OR ".join(conds), params)
            if n:
                out[table] = n
    return out


def log_action(engine: Engine, row: dict[str, Any]) -> None:
    """One ``privacy_log`` row (counts only: the log holds no personal data)."""
    engine.run("INSERT INTO privacy_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [row["action_id"], row["action"], row["done_at"], row["actor"], row.get("customers"),
                row.get("identifiers"), row.get("rows_removed"), row.get("detail")])


def rewrite_database(engine: Engine) -> int:
    """Rewrite the database file so deleted rows leave its bytes; returns the new size in bytes.

    DuckDB marks the blocks of deleted rows free but does not clear them, and a checkpoint
    keeps the file's free blocks; a copy of the live tables (``COPY FROM DATABASE``) into a new
    file, swapped in place of the old one (and its WAL), leaves nothing behind.
    """
    import os
    from pathlib import Path

    from percorso.engine.backend import quote_literal

    # row ids are renumbered by the copy: the consent reader's watermark starts over
    engine.run("DROP TABLE IF EXISTS consent_state")
    path = Path(engine.path)
    new = path.with_name(path.name + ".rewrite")
    new.unlink(missing_ok=True)
    current = engine.con.execute("SELECT current_database()").fetchall()[0][0]
    engine.con.execute(f"ATTACH {quote_literal(str(new))} AS percorso_rewrite")
    try:
        engine.con.execute(f"COPY FROM DATABASE {qi(current)} TO percorso_rewrite")
    finally:
        engine.con.execute("DETACH percorso_rewrite")
    engine.close()
    os.replace(new, path)
    for leftover in (path.with_name(path.name + ".wal"), path.with_name(path.name + ".rewrite.wal")):
        leftover.unlink(missing_ok=True)
    return path.stat().st_size


def has_suppression(engine: Engine) -> bool:
    """Whether any erasure left a suppression entry (imports check nothing otherwise)."""
    return engine.has_table("privacy_suppression") and engine.count("privacy_suppression") > 0


def suppression_keys(engine: Engine) -> set[str]:
    """Every suppression key (to match free text in Python: a quarantined row, a spool line)."""
    return set(engine.query("SELECT key FROM privacy_suppression").column(0).to_pylist())


def suppress_runs(engine: Engine, secret: str, run_ids: list[str]) -> dict[str, int]:
    """Remove what the import runs ``run_ids`` brought back of erased people; returns rows per table.

    An event is suppressed when its id or any of its identifiers hashes (``sha256(secret:kind:
    value)``) to a suppression key; its contact profile and the vault values it added go too.
    """
    keys = "(SELECT key FROM privacy_suppression)"
    hit = " OR ".join([f"sha256(s.secret || ':event_id:' || e.event_id) IN {keys}"]
                      + [f"sha256(s.secret || ':{c}:' || e.{c}) IN {keys}" for c in _ID_COLS])
    engine.run(f"""CREATE OR REPLACE TEMP TABLE _sup_ev AS
        SELECT e.event_id FROM events e, (SELECT ?::VARCHAR AS secret) s
        WHERE e.ingest_run_id IN (SELECT unnest(?::VARCHAR[])) AND ({hit})""", [secret, run_ids])
    out = {"events": _delete(engine, ES.STORE, "event_id IN (SELECT event_id FROM _sup_ev)")}
    prof = " OR ".join([f"sha256(?::VARCHAR || ':{c}:' || {c}) IN {keys}" for c in
                        ("email_key", "phone_key", "loyalty_card", "crm_id", "user_id")])
    out["contact_profiles"] = _delete(engine, "contact_profiles", f"event_id IN (SELECT event_id FROM _sup_ev) OR {prof}",
                                      [secret] * 5)
    out["pii_vault"] = _delete(engine, "pii_vault", f"""first_event_id IN (SELECT event_id FROM _sup_ev)
        OR sha256(?::VARCHAR || ':' || kind || '_key:' || key) IN {keys}""", [secret])
    engine.run("DROP TABLE IF EXISTS _sup_ev")
    return {k: v for k, v in out.items() if v}


def quarantine_texts_of_runs(engine: Engine, run_ids: list[str]) -> list[str]:
    """Distinct raw texts quarantined by ``run_ids``."""
    return engine.query("""SELECT DISTINCT raw_text FROM quarantine WHERE raw_text IS NOT NULL
        AND ingest_run_id IN (SELECT unnest(?::VARCHAR[]))""", [run_ids]).column(0).to_pylist()


# -- retention -------------------------------------------------------------------------

#: tables a retention rule may name, with the time column their age is read from
RETENTION_TABLES = {"events": "occurred_at", "quarantine": "quarantined_at", "consent_history": "occurred_at"}


def _retention_where(table: str, source: str | None, event_types: list[str] | None) -> tuple[str, list[Any]]:
    col = RETENTION_TABLES[table]
    where, params = [f"{qi(col)} < ?::TIMESTAMP"], []
    if source is not None:
        where.append("source_name = ?" if table != "consent_history" else "source = ?")
        params.append(source)
    if event_types and table == "events":
        where.append("event_type IN (SELECT unnest(?::VARCHAR[]))")
        params.append(event_types)
    return " AND ".join(where), params


def retention_apply(engine: Engine, table: str, cutoff: Any, *, source: str | None, event_types: list[str] | None,
                    detach: bool, dry_run: bool = False) -> int:
    """Delete (or detach the person from) the rows of ``table`` older than ``cutoff``; returns how many.

    ``detach`` (events only) keeps the row and clears its identifiers, URL, user agent and IP key
    (a receipt kept for the tax law after the marketing period); rows already detached are not
    counted again.
    """
    if not engine.has_table(table):
        return 0
    where, params = _retention_where(table, source, event_types)
    detached = _DETACH_COLS
    if table == ES.VIEW:   # rows are written in the store; a column it lacks is NULL (ADR 0075)
        table = ES.STORE
        detached = tuple(c for c in _DETACH_COLS if c in ES.stored(engine))
    if detach:
        if table != ES.STORE:
            raise ValueError("detach applies to events")
        if not detached:   # nothing of a person stored: no row to detach
            return 0
        where += " AND coalesce(" + ", ".join(c for c in detached) + ") IS NOT NULL"
    n = int(engine.query(f"SELECT count(*) FROM {qi(table)} WHERE {where}", [cutoff, *params]).column(0)[0].as_py())
    if n and not dry_run:
        if detach:
            sets = ", ".join(f"{c} = NULL" for c in detached)
            engine.run(f"UPDATE {qi(table)} SET {sets} WHERE {where}", [cutoff, *params])
        else:
            engine.run(f"DELETE FROM {qi(table)} WHERE {where}", [cutoff, *params])
    return n


def orphan_profiles(engine: Engine) -> int:
    """Delete the contact profiles and vault values whose events are gone (after retention)."""
    n = _delete(engine, "contact_profiles", "event_id NOT IN (SELECT event_id FROM events)")
    keys = " UNION ".join(f"SELECT {c} FROM events WHERE {c} IS NOT NULL" for c in ("email_key", "phone_key",
                                                                                 "tax_code_key"))
    return n + _delete(engine, "pii_vault", f"key NOT IN ({keys})")


# -- subject access (art. 15, 20) --------------------------------------------------------

def person_tables(engine: Engine) -> list[str]:
    """Base tables with a ``customer_id`` column (build tables, value artefacts, memberships, logs)."""
    return engine.query("""SELECT DISTINCT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE c.table_schema = 'main' AND c.table_catalog = current_database() AND t.table_type = 'BASE TABLE'
          AND c.column_name = 'customer_id' AND c.table_name NOT LIKE '\\_%' ESCAPE '\\'
        ORDER BY 1""").column(0).to_pylist()


def rows_of_customer(engine: Engine, table: str, customer_ids: list[str]) -> pa.Table:
    """Every row of ``table`` (from :func:`person_tables`) naming one of ``customer_ids``."""
    return engine.query(f"SELECT * FROM {qi(table)} WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
                        [customer_ids])


def events_of_customer(engine: Engine, customer_ids: list[str]) -> pa.Table:
    """The person's raw events (every source row percorso holds about them), oldest first."""
    return engine.query("""SELECT e.* FROM events e WHERE e.event_id IN
        (SELECT event_id FROM event_customers WHERE customer_id IN (SELECT unnest(?::VARCHAR[])))
        ORDER BY e.occurred_at, e.event_id""", [customer_ids])


def profiles_of_customer(engine: Engine, customer_ids: list[str]) -> pa.Table:
    """Contact profile rows (loyalty form, CRM) of the person's events, and their vault values."""
    return engine.query("""SELECT c.* FROM contact_profiles c WHERE c.event_id IN
        (SELECT event_id FROM event_customers WHERE customer_id IN (SELECT unnest(?::VARCHAR[])))
        ORDER BY c.occurred_at""", [customer_ids])


def vault_of_customer(engine: Engine, customer_ids: list[str]) -> pa.Table:
    """(kind, key, value) the vault holds for the person's identifiers."""
    return engine.query("""SELECT kind, key, value FROM pii_vault WHERE key IN (SELECT id_value FROM identity_map
        WHERE customer_id IN (SELECT unnest(?::VARCHAR[])) AND id_type IN ('email_key', 'phone_key', 'tax_code_key'))
        ORDER BY kind""", [customer_ids])


# -- the encrypted vault ----------------------------------------------------------------

def vault_rows(engine: Engine, *, not_key_id: str | None = None) -> pa.Table:
    """(key, kind, value, first_event_id) of the vault; only values not starting with ``not_key_id`` when given."""
    if not_key_id is None:
        return engine.query("SELECT key, kind, value, first_event_id FROM pii_vault")
    return engine.query("SELECT key, kind, value, first_event_id FROM pii_vault WHERE NOT starts_with(value, ?)",
                        [not_key_id])


def vault_values(engine: Engine, keys: list[str]) -> pa.Table:
    """(key, kind, value) of the vault for ``keys`` (sealed): the values a page of rows names."""
    return engine.query("SELECT key, kind, value FROM pii_vault WHERE key IN (SELECT unnest(?::VARCHAR[]))", [keys])


def add_vault_rows(engine: Engine, rows: pa.Table) -> None:
    """Add sealed (key, kind, value, first_event_id) rows whose key the vault does not hold yet."""
    engine.register_arrow("_vault_add", rows)
    try:
        engine.run("""INSERT INTO pii_vault SELECT a.key, a.kind, a.value, a.first_event_id FROM _vault_add a
            WHERE (a.key, a.kind) NOT IN (SELECT (key, kind) FROM pii_vault)""")
    finally:
        engine.unregister("_vault_add")


def replace_vault_rows(engine: Engine, rows: pa.Table) -> None:
    """Put ``rows`` (re-sealed values) in place of the vault rows with the same (key, kind)."""
    engine.register_arrow("_vault_fresh", rows)
    try:
        engine.run("""UPDATE pii_vault SET value = f.value FROM _vault_fresh f
            WHERE pii_vault.key = f.key AND pii_vault.kind = f.kind""")
    finally:
        engine.unregister("_vault_fresh")


def tables_holding(engine: Engine, values_table: str) -> dict[str, int]:
    """``table.column`` → rows whose text contains one of ``values_table.value`` (case-insensitive).

    A scan for raw contact data left outside the vault (the demo's check, ``percorso check``-style).
    """
    cols = engine.query("""SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE c.table_schema = 'main' AND c.table_catalog = current_database() AND t.table_type = 'BASE TABLE'
          AND (c.data_type = 'VARCHAR' OR c.data_type LIKE 'ENUM(%') AND c.table_name <> 'pii_vault'""").to_pylist()
    out = {}
    for r in cols:
        t, c = r["table_name"], r["column_name"]
        n = engine.query(f"""SELECT count(*) FROM {qi(t)} x WHERE EXISTS (SELECT 1 FROM {qi(values_table)} v
            WHERE strpos(lower(x.{qi(c)}), lower(v.value)) > 0)""").column(0)[0].as_py()
        if n:   # the events' store by the name readers know (ADR 0075)
            out[f"{ES.VIEW if t == ES.STORE else t}.{c}"] = int(n)
    return out


#: contact data in free text, as RE2 patterns (DuckDB): e-mails, Italian tax codes, phones
#: written with an international prefix (``+39``, ``0039``) or as Italian mobiles (3xx …, in
#: one block or split 3-3-4 / 3-7 by spaces, dots, dashes or a slash)
_MASKS = (
    (r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", "[e-mail]"),
    (r"\b[A-Za-z]{6}[0-9]{2}[A-Za-z][0-9]{2}[A-Za-z][0-9]{3}[A-Za-z]\b", "[codice fiscale]"),
    (r"(\+|\b00)[0-9]{1,3}[ ./-]?[0-9]{2,4}[ ./-]?[0-9]{3,4}[ ./-]?[0-9]{0,4}", "[telefono]"),
    (r"\b3[0-9]{2}([ ./-]?[0-9]{6,7}|[ ./-]?[0-9]{3}[ ./-]?[0-9]{3,4})\b", "[telefono]"),
)


def _masked(expr: str) -> str:
    for rx, label in _MASKS:
        pattern = rx.replace("'", "''")
        expr = f"regexp_replace({expr}, '{pattern}', '{label}', 'g')"
    return expr


#: free-text columns of ``events`` where a source may carry contact data (a newsletter link's
#: ``?email=``, a payload property): e-mails (also URL-encoded) and tax codes are masked at import
_EVENT_TEXT = ("page_url", "referrer", "properties")
_EVENT_MASKS = (
    (r"[A-Za-z0-9._%+'-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", "[e-mail]"),
    (r"\b[A-Za-z]{6}[0-9]{2}[A-Za-z][0-9]{2}[A-Za-z][0-9]{3}[A-Za-z]\b", "[codice fiscale]"),
)


def mask_events(engine: Engine, run_ids: list[str]) -> int:
    """Mask e-mails and tax codes in the URLs and properties of the events ``run_ids`` wrote; returns rows changed.

    Why: the identifiers themselves become keyed hashes at import, but a site may also put an
    e-mail in a page address (``/grazie?email=…``) or a property; raw contact data belongs in
    the vault only. Phones are not masked here: a 10-digit number in a URL or a property is
    as often a product or order code. Runs in the import's transaction (nothing raw is committed).
    """
    cols = [c for c in _EVENT_TEXT if c in ES.stored(engine)]   # the others are NULL (ADR 0075)
    if not cols:
        return 0

    def masked(col: str) -> str:
        expr = qi(col)
        for rx, label in _EVENT_MASKS:
            pattern = rx.replace("'", "''")
            expr = f"regexp_replace({expr}, '{pattern}', '{label}', 'g')"
        return expr

    runs = "ingest_run_id IN (SELECT unnest(?::VARCHAR[]))"
    changed = " OR ".join(f"{qi(c)} IS DISTINCT FROM {masked(c)}" for c in cols)
    where = f"{runs} AND ({changed})"
    n = int(engine.con.execute(f"SELECT count(*) FROM {ES.STORE} WHERE {where}", [run_ids]).fetchall()[0][0])  # a row: see above
    if n:
        sets = ", ".join(f"{qi(c)} = {masked(c)}" for c in cols)
        engine.run(f"UPDATE {ES.STORE} SET {sets} WHERE {where}", [run_ids])
    return n


def masked_rows(engine: Engine, rows: pa.Table, columns: tuple[str, ...] = ("raw_text", "message")) -> pa.Table:
    """``rows`` (quarantine rows not stored yet) with contact data masked in ``columns``, as
    :func:`mask_quarantine` masks an import's: the raw text never reaches the database."""
    if rows.num_rows == 0:
        return rows
    engine.register_arrow("_mask_rows", rows)
    try:
        repl = ", ".join(f"{_masked(qi(c))} AS {qi(c)}" for c in columns)
        out = engine.query(f"SELECT * REPLACE ({repl}) FROM _mask_rows")
    finally:
        engine.unregister("_mask_rows")
    return out.select(rows.column_names)


def mask_quarantine(engine: Engine, run_ids: list[str]) -> int:
    """Mask contact data in the raw text and message of the rows ``run_ids`` quarantined; returns rows changed.

    Why: a malformed row keeps its text so the user can find and fix it in the file (file and
    line say where), but raw contact data belongs in the vault only (docs/privacy.md).
    """
    if not engine.has_table("quarantine"):
        return 0
    where = ("ingest_run_id IN (SELECT unnest(?::VARCHAR[])) AND (raw_text IS DISTINCT FROM "
             f"{_masked('raw_text')} OR message IS DISTINCT FROM {_masked('message')})")
    # a row, not Arrow: an import that masks nothing never loads pyarrow (~0.15 s)
    n = int(engine.con.execute(f"SELECT count(*) FROM quarantine WHERE {where}", [run_ids]).fetchall()[0][0])
    if n:
        engine.run(f"UPDATE quarantine SET raw_text = {_masked('raw_text')}, message = {_masked('message')} "
                   f"WHERE {where}", [run_ids])
    return n


def last_action_at(engine: Engine, action: str) -> Any:
    """When ``privacy_log`` last recorded ``action`` (None when never)."""
    if not engine.has_table("privacy_log"):
        return None
    return engine.query("SELECT max(done_at) FROM privacy_log WHERE action = ?", [action]).column(0)[0].as_py()
