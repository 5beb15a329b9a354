"""``events``: a view over ``event_store``, which holds a sparse column only once something fills it.

Why (ADR 0075): DuckDB 2.0.1 writes a column at a cost per row whatever its values, an all-NULL
one too (a 10M-event clickstream leaves 24 of the 42 columns empty: ~3.5 s of its ~18 s insert;
leaving them out of the ``INSERT`` column list does not help, the table still writes them). So
the stored table has the columns every event has, and a column of
:data:`percorso.events.schema.SPARSE_COLUMNS` is added (``ALTER TABLE … ADD COLUMN``, ~0.1 s at
10M rows, no rewrite) by the first write that fills it, in that write's transaction.

Readers see what they always saw: ``events`` lists the 42 columns of
:data:`percorso.events.schema.EVENT_COLUMNS`, in order, a column the store lacks as a typed NULL
constant (the planner folds it). A view has no ``rowid``, and exposing it as a column would put
it in every ``SELECT *`` (exports, ``events_identified``, the build's staged events), so the
readers that find events by rowid (identity's and the build's incremental marks) read
:data:`WITH_ROWID`, the same view plus the store's ``rowid``. Writers write :data:`STORE`
(:func:`writable`, :func:`append_arrow`); the privacy statements skip the columns it lacks.
This module owns both views' definition.

A new project's store keeps ``event_type``, ``source_kind`` and ``source_system`` as enumerations
of the values the code writes (:func:`percorso.events.schema.enumerated_columns`, ADR 0082): the
views read them as text, so readers see the contract's ``VARCHAR``; a write that brings a value
outside one turns that column to text first, for good. An older project's store keeps text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from percorso.engine.backend import enum_type
from percorso.engine.backend import quote_ident as qi
from percorso.events.schema import EVENT_COLUMNS, SPARSE_COLUMNS, enumerated_columns

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import duckdb
    import pyarrow as pa

    from percorso.engine.backend import Engine
    from percorso.events.schema import Column

STORE = "event_store"
"""The stored table of events (the columns every event has, and the sparse ones filled so far)."""
VIEW = "events"
"""What every reader reads: the 42 columns of the contract."""
WITH_ROWID = "events_with_rowid"
"""``events`` plus ``rowid`` (the store's): for the readers that mark or find events by rowid."""
LAST_ROWID = f"(SELECT coalesce(max(rowid), -1) FROM {STORE} WHERE rowid >= (SELECT count(*) - 1 FROM {STORE}))"
"""SQL: the store's last rowid (-1 when it is empty), the mark of every incremental step. Its ``n``
rowids are distinct and non-negative, so the largest is at least ``n - 1``: only the rows from there
on are read (the last row group, by the rowid filter), not a rowid for each of the 10M events
(~1 against ~6 ms, three times in an incremental build)."""
STORED_UNCOMPRESSED = ("event_id", "source_key")
"""Columns of the store the engine keeps as plain text: one distinct value per row (a hash, a
natural key), which its default string compression (dictionary + FSST) shrinks to about half but
costs ~0.4 CPU s per column and million rows to write (−3.4 of 15.3 CPU s in a 10M-event import,
ADR 0052). The database file is larger (480 → 845 MB at 10M events); readers see the same values,
and reading them is cheaper (no decoding). A new store holds ``source_key`` only once a write
fills it (a natural key; a row keyed by its content has none, ADR 0074 and 0086), declared so
then too. Only a table created by this module is stored so: an older project's ``events`` keeps
its compression (the same rows to every reader)."""


def narrow_ddl(name: str, uncompressed: tuple[str, ...]) -> str:
    """``CREATE TABLE IF NOT EXISTS name`` with the columns every event has (a new project's store),
    the enumerated ones as the ``ENUM`` of their values (ADR 0082)."""
    enums = enumerated_columns()

    def declared(c: Column) -> str:
        typed = f"{c.name} {enum_type(enums[c.name]) if c.name in enums else c.sql_type}"
        return typed + (" USING COMPRESSION uncompressed" if c.name in uncompressed else "")

    cols = ",\n  ".join(declared(c) for c in EVENT_COLUMNS if c.name not in SPARSE_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {qi(name)} (\n  {cols}\n)"


def _stored(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The store's columns and their types, as the catalog names them."""
    return dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                            "AND NOT internal AND schema_name = current_schema()", [STORE]).fetchall())


def refresh_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create :data:`VIEW` and :data:`WITH_ROWID` over the store's columns: one it lacks as a
    typed NULL, one stored as another type than the contract's (an enumeration) cast to it."""
    have = _stored(con)

    def read(c: Column) -> str:
        if c.name not in have:
            return f"NULL::{c.sql_type} AS {qi(c.name)}"
        return qi(c.name) if have[c.name] == c.sql_type else f"CAST({qi(c.name)} AS {c.sql_type}) AS {qi(c.name)}"

    cols = ", ".join(read(c) for c in EVENT_COLUMNS)
    con.execute(f"CREATE OR REPLACE VIEW {VIEW} AS SELECT {cols} FROM {STORE}")
    con.execute(f"CREATE OR REPLACE VIEW {WITH_ROWID} AS SELECT {cols}, rowid AS rowid FROM {STORE}")


def migrate_to_store(engine: Engine) -> None:
    """The migration: ``events`` (a table) becomes :data:`STORE` under the views, rows untouched.

    A project made by this version was created narrow (``migrations``); an older one keeps its
    42 columns stored. Identity's views kept in the database (``events_identified``,
    ``event_customers``) read ``events.rowid``: they are made again as identity makes them now
    (over :data:`WITH_ROWID`), so the erasure and the build read them as before.
    """
    con = engine.con
    con.execute(f"ALTER TABLE events RENAME TO {STORE}")
    refresh_views(con)
    if con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'events_identified' "
                   "AND schema_name = current_schema()").fetchall()[0][0]:
        from percorso.engine.identity_keys_sql import create_event_views
        from percorso.identity.kinds import PRIORITY

        create_event_views(engine, PRIORITY)


def ensure_store(engine: Engine) -> None:
    """Create the store and its views where nothing made them (an engine no migration ran on: tests)."""
    if engine.has_table(STORE):
        return
    if engine.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events' "
                          "AND schema_name = current_schema()").fetchall()[0][0]:
        migrate_to_store(engine)   # a table some earlier code made by that name
    else:
        engine.con.execute(narrow_ddl(STORE, ()))
        refresh_views(engine.con)


def _admits(con: duckdb.DuckDBPyConnection, enum: str, values: Iterable[str | None]) -> bool:
    """Whether the enumeration ``enum`` (its type as the catalog names it) has every one of ``values``."""
    members = set(con.execute(f"SELECT enum_range(NULL::{enum})").fetchall()[0][0])
    return {v for v in values if v is not None} <= members


def writable(engine: Engine, columns: Iterable[str], values: Mapping[str, Iterable[str | None]] | None = None) -> str:
    """The table to write events with ``columns`` to (:data:`STORE`), after adding the sparse ones
    it lacks, turning to text an enumerated one whose values the write may not all find in its
    enumeration, and re-creating the views; call it inside the write's transaction (a failed
    write takes the changes back with it).

    ``columns``: those the write fills, as its caller decides from what it writes (an import's
    typed expressions, a batch's non-null columns), never from a scan of the rows. ``values``:
    for an enumerated column it fills, every value it may write (an import's constants and event
    lookup, a batch's distinct values); a column without them is turned to text (safe, once).
    """
    ensure_store(engine)
    wanted = set(columns)
    have = _stored(engine.con)
    missing = [c for c in EVENT_COLUMNS if c.name in wanted and c.name not in have]
    for c in missing:
        plain = " USING COMPRESSION uncompressed" if c.name in STORED_UNCOMPRESSED else ""
        engine.con.execute(f"ALTER TABLE {STORE} ADD COLUMN {qi(c.name)} {c.sql_type}{plain}")
    # a value outside the enumeration would fail the write (and DuckDB the whole transaction):
    # the column becomes text, a rewrite of it once in the store's life (ADR 0082)
    texts = [c for c, t in have.items() if c in wanted and t.startswith("ENUM(")
             and not (values and c in values and _admits(engine.con, t, values[c]))]
    for c in texts:
        engine.con.execute(f"ALTER TABLE {STORE} ALTER COLUMN {qi(c)} TYPE VARCHAR")
    if missing or texts:
        refresh_views(engine.con)
    return STORE


def append_arrow(engine: Engine, data: pa.Table) -> int:
    """Append events (an Arrow table of event columns) to the store; a column wholly null is left out."""
    if not data.num_rows:
        return 0
    import pyarrow.compute as pc

    filled = [c for c in data.column_names if data.column(c).null_count < data.num_rows]
    values = {c: pc.unique(data.column(c)).to_pylist() for c in filled if c in enumerated_columns()}
    return engine.append_arrow(writable(engine, filled, values), data.select(filled))


def stored(engine: Engine) -> list[str]:
    """The event columns the store has (the others read as NULL through :data:`VIEW`)."""
    return engine.columns(STORE)


def replace_events(engine: Engine, data: pa.Table) -> None:
    """Store ``data`` (Arrow, event columns) in place of the events with its ids (tests' journeys)."""
    ensure_store(engine)
    engine.con.register("_percorso_replaced", data.select(["event_id"]))
    try:
        engine.con.execute(f"DELETE FROM {STORE} WHERE event_id IN (SELECT event_id FROM _percorso_replaced)")
    finally:
        engine.con.unregister("_percorso_replaced")
    append_arrow(engine, data)

