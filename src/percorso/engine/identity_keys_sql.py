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
``id_hash`` of the key identifier (the build reads it instead of joining events to events);
``event_customers`` is its (event_id, customer_id, id_type, id_value, id_hash) projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from percorso.events.schema import IDENTIFIER_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine

#: the kind number ``k`` of ``_id_occ`` (alphabetical rank of the identifier column)
_K = {c: i for i, c in enumerate(sorted(IDENTIFIER_COLUMNS))}


def _hash(col: str, alias: str = "e") -> str:
    return f"hash({_K[col]}::UTINYINT, {alias}.{col})"


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


def first_listed_key_sql(priority: tuple[str, ...], table: str) -> str:
    """SQL: the hash of the event's first identifier (``priority`` order) whose id_hash is in
    ``table``; with the usable identifiers there, a flagged cookie falls back to the user id."""
    return _listed_key_sql(priority, table, listed=True)


def write_event_key_exceptions(engine: Engine, priority: tuple[str, ...], unusable: pa.Table) -> int:
    """``identity_event_keys`` (event_id, id_hash): events whose first identifier is unusable.

    ``id_hash`` is their first *usable* identifier (NULL when none is). ``unusable`` holds
    the id_hash of every flagged or blocked identifier. Returns the number of such events.
    """
    engine.con.register("_id_unusable_in", unusable)
    try:
        engine.run("CREATE OR REPLACE TEMP TABLE _id_unusable AS SELECT DISTINCT id_hash FROM _id_unusable_in")
    finally:
        engine.con.unregister("_id_unusable_in")
    engine.run(f"""CREATE OR REPLACE TABLE identity_event_keys AS
        SELECT e.event_id, {_usable_key_sql(priority, '_id_unusable')} AS id_hash FROM events e
        WHERE {first_key_sql(priority)} IN (SELECT id_hash FROM _id_unusable)""")
    return engine.count("identity_event_keys")


def create_event_views(engine: Engine, priority: tuple[str, ...]) -> None:
    """(Re)create the views ``events_identified`` and ``event_customers`` (see the module doc)."""
    for name in ("event_customers", "events_identified"):
        kind = engine.con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?",
                                  [name]).fetchall()
        if kind and kind[0][0] != "VIEW":     # a table written by an earlier version
            engine.run(f"DROP TABLE {name}")
    engine.run(f"""CREATE OR REPLACE VIEW events_identified AS
        WITH k AS (SELECT e.*, e.rowid AS event_row, CASE WHEN x.event_id IS NULL THEN {first_key_sql(priority)} ELSE x.id_hash END
                              AS id_hash
                   FROM events e LEFT JOIN identity_event_keys x ON x.event_id = e.event_id)
        SELECT k.*, m.customer_id, m.id_type, m.id_value FROM k LEFT JOIN identity_map m USING (id_hash)""")
    engine.run("""CREATE OR REPLACE VIEW event_customers AS
        SELECT event_id, customer_id, id_type, id_value, id_hash FROM events_identified""")


def resolved_watermark(engine: Engine) -> int | None:
    """The highest ``events`` rowid resolved so far, or None when a full run is needed.

    DuckDB gives appended rows higher rowids; a delete may renumber rows at a checkpoint,
    so the mark is trusted only while the count of events up to it is unchanged.
    """
    if not engine.has_table("identity_state"):
        return None
    row = engine.con.execute("SELECT max_rowid, n_events FROM identity_state").fetchall()
    if not row:
        return None
    max_rowid, n_events = row[0]
    now = engine.con.execute("SELECT count(*) FROM events WHERE rowid <= ?", [max_rowid]).fetchall()[0][0]
    return int(max_rowid) if now == n_events else None


def write_watermark(engine: Engine) -> None:
    """Remember every current event as resolved (see :func:`resolved_watermark`)."""
    engine.run("""CREATE OR REPLACE TABLE identity_state AS
        SELECT coalesce(max(rowid), -1)::BIGINT AS max_rowid, count(*)::BIGINT AS n_events FROM events""")


def count_assigned_events(engine: Engine) -> int:
    """Events that have a customer, without reading the view.

    Every usable identifier is in ``identity_map``, so an event has a customer exactly when
    it carries some identifier and is not an exception left with no usable one.
    """
    any_id = " OR ".join(f"{c} <> ''" for c in IDENTIFIER_COLUMNS)
    return int(engine.con.execute(f"""SELECT (SELECT count(*) FROM events WHERE {any_id})
        - (SELECT count(*) FROM identity_event_keys WHERE id_hash IS NULL)""").fetchall()[0][0])
