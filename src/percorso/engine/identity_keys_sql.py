"""Which customer each event belongs to, as views over ``events`` (DuckDB dialect).

An event belongs to the customer of its highest-priority *usable* identifier (flagged hubs
and blocked values are not usable). Writing that answer for every event into a table cost
more than the whole rest of identity resolution at 10M events (two 10M-row string writes),
and it had to be rewritten whenever a merge or a flag moved identifiers. Here the answer
is a view instead: per event, the first non-empty identifier in priority order, hashed the
way ``_id_occ`` hashes it, looked up in ``identity_map`` (a hash join on a 64-bit key).
Only the events whose first identifier is *unusable* need a different key; they are few and
are stored in ``identity_event_keys`` by :func:`write_event_key_exceptions`.

``events_identified`` is ``events`` plus ``event_row`` (the events rowid: the build joins its
narrow session rows back to the event on it), ``customer_id``, ``id_type``, ``id_value`` and
``id_hash`` of the key identifier (the build reads it instead of joining events to events)
and ``customer_no``, the customer id's number (:func:`customer_no_sql`, computed on the map's
rows before the join, not per event); ``event_customers`` is its (event_id, customer_id,
id_type, id_value, id_hash) projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from percorso.engine import event_store as ES
from percorso.events.schema import IDENTIFIER_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine

#: the kind number ``k`` of ``_id_occ`` (alphabetical rank of the identifier column)
_K = {c: i for i, c in enumerate(sorted(IDENTIFIER_COLUMNS))}


def _hash(col: str, alias: str = "e") -> str:
    return f"hash({_K[col]}::UTINYINT, {alias}.{col})"


def identifier_hash_sql(col: str, alias: str = "e") -> str:
    """SQL: the ``id_hash`` of identifier column ``col`` of the event (as ``_id_occ`` hashes it)."""
    return _hash(col, alias)


def customer_no_sql(col: str) -> str:
    """SQL: the number of customer id ``col`` (a BIGINT), the integer key the build and the
    journeys partition, group and probe by (``touchpoints.customer_no``, ADR 0062).

    Every customer id percorso makes is ``'C'`` and 12 lowercase hex digits of a SHA-256
    (:func:`percorso.engine.identity_sql.assign_customer_ids`; clashes are renamed, so ids are
    unique): the digits read as a 48-bit number are as unique as the id, and sorting or hashing
    one integer costs a fraction of a string's (10M touchpoints: the journeys' window over the
    customers 2.0-2.5 s by the id, 1.3 s by its number). Its inverse is ``printf('C%012x', no)``.
    An id of another shape is an error here, never a silent NULL (every NULL would be one customer).
    """
    return f"CAST('0x' || substr({col}, 2) AS BIGINT)"


def first_key_sql(priority: tuple[str, ...], alias: str = "e") -> str:
    """SQL: the hash of the event's first non-empty identifier in ``priority`` order."""
    return "coalesce(" + ", ".join(
        f"CASE WHEN {alias}.{c} <> '' THEN {_hash(c, alias)} END" for c in priority) + ")"


def _listed_key_sql(priority: tuple[str, ...], table: str, *, listed: bool) -> str:
    op = "IN" if listed else "NOT IN"
    return "coalesce(" + ", ".join(
        f"CASE WHEN e.{c} <> '' AND {_hash(c)} {op} (SELECT id_hash FROM {table}) THEN {_hash(c)} END"
        for c in priority) + ")"


def _usable_key_sql(priority: tuple[str, ...], unusable: str) -> str:
    return _listed_key_sql(priority, unusable, listed=False)


def write_event_key_exceptions(engine: Engine, priority: tuple[str, ...], unusable: pa.Table) -> int:
    """``identity_event_keys`` (event_id, id_hash): events whose first identifier is unusable.

    ``id_hash`` is their first *usable* identifier (NULL when none is). ``unusable`` holds
    the id_hash of every flagged or blocked identifier. Returns the number of such events.
    """
    stage_unusable(engine, unusable)
    return rewrite_event_key_exceptions(engine, priority)


def stage_unusable(engine: Engine, unusable: pa.Table) -> None:
    """Temp ``_id_unusable(id_hash)`` from an Arrow table of flagged or blocked identifiers."""
    engine.con.register("_id_unusable_in", unusable)
    try:
        engine.run("CREATE OR REPLACE TEMP TABLE _id_unusable AS SELECT DISTINCT id_hash FROM _id_unusable_in")
    finally:
        engine.con.unregister("_id_unusable_in")


def stage_unusable_from_map(engine: Engine) -> None:
    """Temp ``_id_unusable``: every identifier not in ``identity_map`` (flagged or blocked)."""
    engine.run("""CREATE OR REPLACE TEMP TABLE _id_unusable AS
        SELECT id_hash FROM identity_identifiers WHERE id_hash NOT IN (SELECT id_hash FROM identity_map)""")


def rewrite_event_key_exceptions(engine: Engine, priority: tuple[str, ...]) -> int:
    """``identity_event_keys`` over every event, with the unusable identifiers of ``_id_unusable``."""
    return engine.written(f"""CREATE OR REPLACE TABLE identity_event_keys AS
        SELECT e.event_id, {_usable_key_sql(priority, '_id_unusable')} AS id_hash FROM events e
        WHERE {first_key_sql(priority)} IN (SELECT id_hash FROM _id_unusable)""")


def append_event_key_exceptions(engine: Engine, priority: tuple[str, ...], after_rowid: int) -> int:
    """Add the exceptions among the events after ``after_rowid`` (an incremental run).

    ``_id_unusable`` needs to hold only the unusable identifiers those events carry (all of
    them are in the run's region). Returns the number of exceptions after the append.
    """
    engine.run(f"""INSERT INTO identity_event_keys
        SELECT e.event_id, {_usable_key_sql(priority, '_id_unusable')} AS id_hash FROM {ES.WITH_ROWID} e
        WHERE e.rowid > ? AND {first_key_sql(priority)} IN (SELECT id_hash FROM _id_unusable)""", [after_rowid])
    return engine.count("identity_event_keys")


def create_event_views(engine: Engine, priority: tuple[str, ...]) -> None:
    """(Re)create the views ``events_identified`` and ``event_customers`` (see the module doc)."""
    # a table written by an earlier version (one look-up of both names: information_schema,
    # twice, took ~2.5 ms of every incremental build)
    tables = {r[0] for r in engine.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name IN ('event_customers', 'events_identified')").fetchall()}
    for name in ("event_customers", "events_identified"):
        if name in tables:
            engine.run(f"DROP TABLE {name}")
    engine.run(f"""CREATE OR REPLACE VIEW events_identified AS
        WITH k AS (SELECT e.* EXCLUDE (rowid), e.rowid AS event_row, CASE WHEN x.event_id IS NULL THEN {first_key_sql(priority)} ELSE x.id_hash END
                              AS id_hash
                   FROM {ES.WITH_ROWID} e LEFT JOIN identity_event_keys x ON x.event_id = e.event_id)
        SELECT k.*, m.customer_id, m.id_type, m.id_value, m.customer_no FROM k
        LEFT JOIN (SELECT *, {customer_no_sql("customer_id")} AS customer_no FROM identity_map) m USING (id_hash)""")
    engine.run("""CREATE OR REPLACE VIEW event_customers AS
        SELECT event_id, customer_id, id_type, id_value, id_hash FROM events_identified""")


_STATE_COLUMNS = ("max_rowid", "n_events", "settings", "n_components", "n_with_id")


def read_state(engine: Engine) -> dict | None:
    """The last run's state (``identity_state``), or None when a full run is needed.

    ``max_rowid``: the highest ``events`` rowid resolved. DuckDB gives appended rows higher
    rowids; a delete may renumber rows at a checkpoint, so the mark is trusted only while the
    count of events up to it (``n_events``) is unchanged. ``settings``: the fingerprint of
    the identity settings the run used; ``n_components`` and ``n_with_id`` (events carrying
    an identifier) are kept so an incremental run reports totals without a scan.
    """
    if not engine.has_table("identity_state") or tuple(engine.columns("identity_state")) != _STATE_COLUMNS:
        return None
    row = engine.con.execute(f"SELECT {', '.join(_STATE_COLUMNS)} FROM identity_state").fetchall()
    if not row:
        return None
    state = dict(zip(_STATE_COLUMNS, row[0], strict=True))
    now = engine.con.execute(f"SELECT count(*) FROM {ES.STORE} WHERE rowid <= ?", [state["max_rowid"]]).fetchall()[0][0]
    return state if now == state["n_events"] else None


def resolved_watermark(engine: Engine) -> int | None:
    """The highest ``events`` rowid resolved so far, or None when a full run is needed."""
    state = read_state(engine)
    return None if state is None else int(state["max_rowid"])


def write_watermark(engine: Engine, settings: str = "", n_components: int = 0, n_with_id: int = 0) -> None:
    """Remember every current event as resolved, with the run's settings and totals (see :func:`read_state`)."""
    engine.run(f"""CREATE OR REPLACE TABLE identity_state AS
        SELECT {ES.LAST_ROWID}::BIGINT AS max_rowid, count(*)::BIGINT AS n_events,
               ?::VARCHAR AS settings, ?::BIGINT AS n_components, ?::BIGINT AS n_with_id FROM {ES.STORE}""",
               [settings, n_components, n_with_id])


def count_events_after(engine: Engine, after_rowid: int) -> int:
    """Events appended after ``after_rowid``."""
    return int(engine.con.execute(f"SELECT count(*) FROM {ES.STORE} WHERE rowid > ?", [after_rowid]).fetchall()[0][0])


def count_events_with_identifier(engine: Engine, after_rowid: int | None = None) -> int:
    """Events carrying some identifier (those after ``after_rowid`` only, when given)."""
    any_id = " OR ".join(f"{c} <> ''" for c in IDENTIFIER_COLUMNS)
    cond = "" if after_rowid is None else f" AND rowid > {int(after_rowid)}"
    return int(engine.con.execute(f"SELECT count(*) FROM {ES.WITH_ROWID} WHERE ({any_id}){cond}").fetchall()[0][0])


def count_assigned_events(engine: Engine, n_with_id: int | None = None) -> int:
    """Events that have a customer, without reading the view.

    Every usable identifier is in ``identity_map``, so an event has a customer exactly when
    it carries some identifier (``n_with_id``, counted when not given) and is not an
    exception left with no usable one.
    """
    if n_with_id is None:
        n_with_id = count_events_with_identifier(engine)
    keyless = engine.con.execute("SELECT count(*) FROM identity_event_keys WHERE id_hash IS NULL").fetchall()[0][0]
    return int(n_with_id) - int(keyless)
