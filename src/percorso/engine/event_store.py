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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from percorso.engine.backend import quote_ident as qi
from percorso.events.schema import EVENT_COLUMNS, SPARSE_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Iterable

    import duckdb
    import pyarrow as pa

    from percorso.engine.backend import Engine

STORE = "event_store"
"""The stored table of events (the columns every event has, and the sparse ones filled so far)."""
VIEW = "events"
"""What every reader reads: the 42 columns of the contract."""
WITH_ROWID = "events_with_rowid"
"""``events`` plus ``rowid`` (the store's): for the readers that mark or find events by rowid."""


def narrow_ddl(name: str, uncompressed: tuple[str, ...]) -> str:
    """``CREATE TABLE IF NOT EXISTS name`` with the columns every event has (a new project's store)."""
    cols = ",\n  ".join(f"{c.name} {c.sql_type}" + (" USING COMPRESSION uncompressed" if c.name in uncompressed
                                                      else "") for c in EVENT_COLUMNS if c.name not in SPARSE_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {qi(name)} (\n  {cols}\n)"


def _stored(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                                      "AND NOT internal AND schema_name = current_schema()", [STORE]).fetchall()}


def refresh_views(con: duckdb.DuckDBPyConnection, stored: Iterable[str] | None = None) -> None:
    """(Re)create :data:`VIEW` and :data:`WITH_ROWID` over the store's columns ``stored``."""
    have = _stored(con) if stored is None else set(stored)
    cols = ", ".join(qi(c.name) if c.name in have else f"NULL::{c.sql_type} AS {qi(c.name)}" for c in EVENT_COLUMNS)
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


def writable(engine: Engine, columns: Iterable[str]) -> str:
    """The table to write events with ``columns`` to (:data:`STORE`), after adding the sparse ones
    it lacks and re-creating the views; call it inside the write's transaction (a failed write
    takes the columns back with it).

    ``columns``: those the write fills, as its caller decides from what it writes (an import's
    typed expressions, a batch's non-null columns), never from a scan of the rows.
    """
    ensure_store(engine)
    wanted = set(columns)
    have = set(engine.columns(STORE))
    missing = [c for c in EVENT_COLUMNS if c.name in wanted and c.name not in have]
    for c in missing:
        engine.con.execute(f"ALTER TABLE {STORE} ADD COLUMN {qi(c.name)} {c.sql_type}")
    if missing:
        refresh_views(engine.con, have | {c.name for c in missing})
    return STORE


def append_arrow(engine: Engine, data: pa.Table) -> int:
    """Append events (an Arrow table of event columns) to the store; a column wholly null is left out."""
    filled = [c for c in data.column_names if data.column(c).null_count < data.num_rows]
    return engine.append_arrow(writable(engine, filled), data.select(filled)) if data.num_rows else 0


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

