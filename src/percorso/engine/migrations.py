"""Numbered DDL migrations for the tables the ingest stage owns.

Each migration runs once and is recorded in ``schema_migrations``; later stages create
their own tables with ``CREATE OR REPLACE`` when they build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from percorso.engine.event_store import STORED_UNCOMPRESSED, migrate_to_store, narrow_ddl

if TYPE_CHECKING:
    from percorso.engine.backend import Engine


def _create_events(engine: Engine) -> None:
    """``events`` as a new project makes it: the columns every event has (the sparse ones are added
    by the first write that fills them, ADR 0075); migration 7 renames it to the store.

    A step, not DDL made when this module is imported: the DDL's enumerations list the import's
    kinds (:func:`percorso.events.schema.enumerated_columns`), whose package (~10 ms of imports)
    every command opening a database loaded for a migration only a new project runs."""
    engine.con.execute(narrow_ddl("events", STORED_UNCOMPRESSED))


def _clickstream_channels_sql() -> str:
    """A clickstream's channel column, kept only in ``properties`` by the ingest before ADR 0055,
    as the event's channel: its label translated as the ingest now does (the built-in labels;
    a source's own ``channel.<label>`` entries are not known here), else as written."""
    from percorso.engine.ingest_sql import channel_name_sql

    keys = ", ".join(f"'$.{k}'" for k in ("channel", "Channel", "CHANNEL", "canale", "Canale", "CANALE"))
    label = f"list_filter(json_extract_string(properties, [{keys}]), lambda x: nullif(trim(x), '') IS NOT NULL)[1]"
    return (f"UPDATE events SET channel = {channel_name_sql(_label_case(label), label)} "
            f"WHERE source_kind IN ('clickstream', 'generic') AND channel IS NULL AND properties IS NOT NULL "
            f"AND json_valid(properties) AND {label} IS NOT NULL")


def _clickstream_channels(engine: Engine) -> None:
    """Migration 4 where there are events to fix: binding its ``CASE`` of every label took ~0.1 s
    of opening each new (empty) database, the import that creates it included (ADR 0086)."""
    if engine.con.execute("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)").fetchall()[0][0]:
        engine.con.execute(_clickstream_channels_sql())


def _label_case(label: str) -> str:
    """SQL of the built-in channel name of a label: its entry in ``CHANNEL_LABELS`` (NULL when
    the table does not know it, ``''`` for a word that names no channel)."""
    from percorso.engine.backend import name_key_sql
    from percorso.events.channel_labels import CHANNEL_LABELS

    cases = " ".join(f"WHEN '{k.replace(chr(39), chr(39) * 2)}' THEN '{v.replace(chr(39), chr(39) * 2)}'"
                     for k, v in CHANNEL_LABELS.items())
    return f"CASE {name_key_sql(label)} {cases} END"


def _cost_channels_sql() -> list[str]:
    """Stored cost rows (and their history) get the channel name the ingest now gives their label
    (ADR 0056: the built-in labels; a source's own ``channel.<label>`` entries are not known here,
    the next import of that source restates them, ``ingest_sql.restate_costs``), and the id of
    the key that name gives (``date:channel:campaign`` hashed with the source's name, as
    ``percorso.ingest.plan.key_plan`` does under id scheme 1: rows this finds predate migration
    6, so they are keyed by scheme 1, ADR 0063; a test holds them together). Two stored rows
    that now share a key (``paid_search`` imported, then ``Paid Search`` for the same day and
    campaign: the cost counted twice) are one: the later run's row stays (its first line, as an
    import keeps it) and the other goes to the history, replaced by that run.

    Why the labels as a joined table, not a ``CASE`` as migration 4: binding the ``CASE`` of every
    label where the key repeats it took 0.43 s of opening each new (empty) database.
    """
    from percorso.engine.backend import name_key_sql
    from percorso.engine.ingest_sql import channel_name_sql, id_part_sql
    from percorso.events.channel_labels import CHANNEL_LABELS

    def q(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    labels = ", ".join(f"({q(k)}, {q(v)})" for k, v in CHANNEL_LABELS.items())
    key = (f"concat_ws(':', coalesce(CAST(date AS VARCHAR), ''), coalesce({id_part_sql('n.name')}, ''), "
           f"coalesce({id_part_sql('campaign')}, ''))")
    name = channel_name_sql("l.channel_name", "c.channel", unnamed_kept=True)
    relabel = [f"UPDATE {t} SET channel = n.name, cost_id = substr(sha256(source_name || '|' || {key}), 1, 32) "
               f"FROM (SELECT c.rowid AS r, {name} AS name FROM {t} c JOIN _m5_labels l "
               f"ON l.k = {name_key_sql('c.channel')}) n WHERE {t}.rowid = n.r AND n.name <> {t}.channel"
               for t in ("campaign_costs_history", "campaign_costs")]
    cols = ("cost_id, date, channel, campaign, utm_source, utm_medium, cost, currency, impressions, clicks, "
            "source_name, source_file, source_line, ingest_run_id")
    ranked = ("SELECT c.rowid AS r, first_value(c.ingest_run_id) OVER w AS keeper, row_number() OVER w AS n "
              "FROM campaign_costs c LEFT JOIN (SELECT ingest_run_id AS run, max(started_at) AS started "
              "FROM ingest_runs GROUP BY ALL) s ON s.run = c.ingest_run_id "
              "WHERE cost_id IN (SELECT cost_id FROM campaign_costs GROUP BY cost_id HAVING count(*) > 1) "
              "WINDOW w AS (PARTITION BY cost_id ORDER BY s.started DESC NULLS LAST, c.ingest_run_id DESC, "
              "c.source_file, c.source_line)")
    return [f"CREATE OR REPLACE TEMP TABLE _m5_labels AS SELECT * FROM (VALUES {labels}) t(k, channel_name)",
            *relabel,
            f"CREATE OR REPLACE TEMP TABLE _m5_twice AS SELECT r, keeper FROM ({ranked}) WHERE n > 1",
            f"INSERT INTO campaign_costs_history SELECT {cols}, now()::TIMESTAMP, t.keeper FROM campaign_costs "
            f"JOIN _m5_twice t ON t.r = campaign_costs.rowid",
            "DELETE FROM campaign_costs WHERE rowid IN (SELECT r FROM _m5_twice)",
            "DROP TABLE _m5_twice", "DROP TABLE _m5_labels"]


def _id_scheme_sql() -> list[str]:
    """``project_meta`` and the project's event id scheme (``percorso.ingest.plan.ID_SCHEMES``).

    Why decided here, once: stored ids are found again by recomputing them from a re-imported
    row, so a project keeps the scheme its rows were keyed by. A database this migration finds
    with anything imported (events, costs, runs: an erased event leaves its run, and its
    suppression key is a hash of its id) keeps scheme 1; a new one, or one where nothing was
    imported yet, takes the lighter scheme 2. A database without the record reads as scheme 1
    (``ingest_sql.id_scheme``).
    """
    stored = " OR ".join(f"EXISTS (SELECT 1 FROM {t})" for t in
                         ("events", "campaign_costs", "campaign_costs_history", "ingest_runs"))
    return ["CREATE TABLE IF NOT EXISTS project_meta (key VARCHAR, value VARCHAR)",
            f"INSERT INTO project_meta SELECT 'id_scheme', CASE WHEN {stored} THEN '1' ELSE '2' END "
            "WHERE NOT EXISTS (SELECT 1 FROM project_meta WHERE key = 'id_scheme')"]


MIGRATIONS: list[tuple[int, str, list[Any]]] = [
    (
        1,
        "events, quarantine, ingest runs, PII vault, campaign costs",
        [
            _create_events,
            """CREATE TABLE IF NOT EXISTS quarantine (
                source_name VARCHAR, source_kind VARCHAR, source_file VARCHAR, source_line BIGINT,
                reason_code VARCHAR, message VARCHAR, raw_text VARCHAR,
                ingest_run_id VARCHAR, quarantined_at TIMESTAMP)""",
            """CREATE TABLE IF NOT EXISTS ingest_runs (
                ingest_run_id VARCHAR, source_name VARCHAR, source_kind VARCHAR, source_file VARCHAR,
                file_sha256 VARCHAR, rows_read BIGINT, accepted BIGINT, quarantined BIGINT,
                duplicates BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP)""",
            """CREATE TABLE IF NOT EXISTS pii_vault (
                key VARCHAR, kind VARCHAR, value VARCHAR, first_event_id VARCHAR)""",
            """CREATE TABLE IF NOT EXISTS campaign_costs (
                cost_id VARCHAR, date DATE, channel VARCHAR, campaign VARCHAR, utm_source VARCHAR,
                utm_medium VARCHAR, cost DOUBLE, currency VARCHAR, impressions BIGINT, clicks BIGINT,
                source_name VARCHAR, source_file VARCHAR, source_line BIGINT, ingest_run_id VARCHAR)""",
            """CREATE TABLE IF NOT EXISTS contact_profiles (
                event_id VARCHAR, occurred_at TIMESTAMP, source_name VARCHAR, first_name VARCHAR,
                last_name VARCHAR, city VARCHAR, province VARCHAR, birth_date DATE, gender VARCHAR,
                consent_profiling BOOLEAN, consent_marketing BOOLEAN, email_key VARCHAR,
                phone_key VARCHAR, loyalty_card VARCHAR, crm_id VARCHAR, user_id VARCHAR)""",
        ],
    ),
    (
        2,
        "ingest runs: file path and size (with file_sha256, to recognise a file already imported)",
        [
            "ALTER TABLE ingest_runs ADD COLUMN IF NOT EXISTS file_path VARCHAR",
            "ALTER TABLE ingest_runs ADD COLUMN IF NOT EXISTS file_size BIGINT",
        ],
    ),
    (
        3,
        "record keys from typed values (ADR 0013); restated campaign costs keep their history",
        [
            """CREATE TABLE IF NOT EXISTS campaign_costs_history (
                cost_id VARCHAR, date DATE, channel VARCHAR, campaign VARCHAR, utm_source VARCHAR,
                utm_medium VARCHAR, cost DOUBLE, currency VARCHAR, impressions BIGINT, clicks BIGINT,
                source_name VARCHAR, source_file VARCHAR, source_line BIGINT, ingest_run_id VARCHAR,
                replaced_at TIMESTAMP, replaced_by_run VARCHAR)""",
        ],
    ),
    (
        4,
        "a clickstream's channel column is the events' channel (ADR 0055)",
        [_clickstream_channels],
    ),
    (
        5,
        "a cost row's channel is the reports' name of its label, and its key too (ADR 0056)",
        _cost_channels_sql(),
    ),
    (
        6,
        "the project's event id scheme (ADR 0063): 2 for a project with nothing imported, else 1",
        _id_scheme_sql(),
    ),
    (
        7,
        "events: a view over event_store, which stores a sparse column once a write fills it (ADR 0075)",
        [migrate_to_store],
    ),
]
REQUIRED_TABLES = ("events", "event_store", "quarantine", "ingest_runs", "pii_vault", "campaign_costs",
                   "contact_profiles",
                   "campaign_costs_history", "project_meta", "schema_migrations")
"""Tables every project database holds once migrated (``percorso check`` looks for them)."""

SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(engine: Engine) -> int:
    """Apply pending migrations; returns the schema version now in force."""
    con = engine.con
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER, description VARCHAR, applied_at TIMESTAMP)"
    )
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    for version, description, statements in MIGRATIONS:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        for stmt in statements:
            if callable(stmt):   # a step that reads what it changes (the columns a table has)
                stmt(engine)
            else:
                con.execute(stmt)
        con.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [version, description]
        )
        con.execute("COMMIT")
    return SCHEMA_VERSION


def applied_version(engine: Engine) -> int:
    """The highest migration recorded in the database (0 when none), for readiness checks."""
    if not engine.has_table("schema_migrations"):
        return 0
    return int(engine.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0])
