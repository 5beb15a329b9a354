"""DuckDB statements of the privacy room: consent history, suppression, erasure, retention.

Why here: only :mod:`percorso.engine` writes SQL. One function per construct; values are
bound with ``?``; the few identifiers (table and column names) come from allowlists in
:mod:`percorso.privacy` and go through :func:`quote_ident`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def derive_consent(engine: Engine, recorded_at: Any) -> int:
    """Append the consent records the sources hold that are not stored yet; returns how many.

    Read from: the loyalty form's and the CRM's flags (``contact_profiles``:
    ``consent_marketing`` → email, sms, phone; ``consent_profiling`` → profiling), newsletter
    opt-in (``newsletter_signup`` → email granted) and opt-out (``unsubscribe`` → email denied)
    events, and Segment's ``context.consent`` (kept by ingest as ``properties.consent``;
    ``categoryPreferences`` or a flat object of category → true/false). Idempotent: a record's
    id is the hash of its origin event and purpose.
    """
    ptyp, pval = _subject(SUBJECT_ORDER[:5], "c")
    etyp, eval_ = _subject(SUBJECT_ORDER, "e")
    ktyp, kval = _subject(COOKIE_SUBJECT_ORDER, "e")
    cats = ", ".join(f"('{k}', '{v}')" for k, v in SEGMENT_CATEGORIES.items())
    before = engine.count("consent_history")
    engine.run(f"""INSERT INTO consent_history
        WITH prof AS (
            SELECT c.event_id, c.occurred_at, c.source_name, {ptyp} AS subject_type, {pval} AS subject_value,
                   c.consent_marketing, c.consent_profiling FROM contact_profiles c),
        rows AS (
            SELECT event_id, subject_type, subject_value, p.purpose,
                   CASE WHEN p.purpose = 'profiling' THEN consent_profiling ELSE consent_marketing END AS granted,
                   occurred_at, source_name AS source, NULL::VARCHAR AS text_version
            FROM prof CROSS JOIN (VALUES ('profiling'), ('email'), ('sms'), ('phone')) p(purpose)
            UNION ALL
            SELECT e.event_id, {etyp}, {eval_}, 'email', e.event_type = 'newsletter_signup' AS granted, e.occurred_at,
                   e.source_name, json_extract_string(e.properties, '$.consent_text_version')
            FROM events e WHERE e.event_type IN ('newsletter_signup', 'unsubscribe')
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
                              FROM events WHERE properties LIKE '%"consent"%') e
                        WHERE json_type(e.j) = 'OBJECT') x) s
            JOIN (VALUES {cats}) m(category, purpose) ON m.category = lower(strip_accents(s.k))
            WHERE s.v IN ('true', 'false', '1', '0', 'yes', 'no', 'granted', 'denied')
            GROUP BY s.event_id, s.subject_type, s.subject_value, m.purpose)
        SELECT substr(sha256(event_id || '|' || purpose), 1, 32), subject_type, subject_value, purpose, granted,
               occurred_at, source, text_version, event_id, ?::TIMESTAMP
        FROM rows r
        WHERE granted IS NOT NULL AND subject_value IS NOT NULL AND occurred_at IS NOT NULL
          AND substr(sha256(event_id || '|' || purpose), 1, 32) NOT IN (SELECT consent_id FROM consent_history)""",
               [recorded_at])
    return engine.count("consent_history") - before


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
    before = engine.count("_id_occ")
    engine.run(f"DELETE FROM _id_occ WHERE k IN ({cookie_k}) AND ev IN ({refused})")
    return before - engine.count("_id_occ")


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
