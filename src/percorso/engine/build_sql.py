"""SQL of the build stage that Ibis cannot express (JSON list arithmetic, in-place updates).

Identifiers come from code, never from users; values are bound.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import duckdb

from percorso.engine import event_store as ES
from percorso.engine import build_tail_sql as T
from percorso.engine.backend import ENUM_MAX_VALUES, enum_type, is_text_type
from percorso.engine.backend import quote_ident as qi
from percorso.engine.backend import quote_literal as ql
from percorso.engine.identity_keys_sql import customer_no_sql, first_key_sql
from percorso.engine.identity_region_sql import (REGION_IDS, REGION_MAP, REGION_PREV, TOUCHED, clear_touched,
                                                 touched_is_partial)
from percorso.engine.identity_sql import PLAIN_TEXT

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from percorso.engine.backend import Engine


def fill_order_item_counts(engine: Engine, table: str = "orders") -> None:
    """Lines and pieces of each order from its ``items`` JSON array (``qty`` per line)."""
    engine.run(
        f"""UPDATE {qi(table)} SET
            n_lines = coalesce(json_array_length(items), 0)::INTEGER,
            n_items = coalesce(list_sum(list_transform(
                CAST(json_extract(items, '$[*].qty') AS VARCHAR[]), lambda x: TRY_CAST(x AS DOUBLE))), 0)
        WHERE n_lines IS NULL"""
    )


def set_tied_positions(engine: Engine, numbers: str, ties_sql: str) -> None:
    """Give the rows of temp table ``numbers`` that ``ties_sql`` lists (by ``_r``) its ``_sno`` and
    ``_seq`` (:func:`percorso.build.touchpoints._tied_positions`: rows of one customer and one time)."""
    engine.con.execute(f"""UPDATE {qi(numbers)} AS n SET _sno = f._sno, _seq = f._seq
        FROM ({ties_sql}) AS f WHERE n._r = f._r""")


def stage_gone(engine: Engine, table: str, scope_table: str) -> None:
    """Temp ``_build_gone(r)``: the rowids of the rows of ``table`` whose customer is in ``scope_table``.

    A delete in two steps: the rowids (a probe of the customer column, the only full-length
    read), then :func:`delete_gone` by rowid; in between, :func:`digests_of` reads the rows
    going without a second probe. (``DELETE ... RETURNING`` cost ten times the
    delete at 10M touchpoints; reading the digest's columns in the probe itself cost twice the
    probe and the read by rowid together: the scan decompressed them for every row.)
    """
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_gone AS SELECT rowid AS r FROM {qi(table)}
        WHERE customer_id IN (SELECT customer_id FROM {qi(scope_table)})""")


#: Temporary tables of the incremental build's steps here, dropped with the tail's at its end
#: (``build_tail_sql.drop_tail``, one call): each is replaced by its next use, and a drop of its
#: own after each use cost a call (~0.3-0.5 ms) for nothing.
INCREMENTAL_TEMPS = ("_build_gone", "_build_rekeyed_ids", "_build_cand", "_build_picked")


def delete_gone(engine: Engine, table: str) -> None:
    """Delete the rows of ``table`` listed in ``_build_gone`` (same transaction as :func:`stage_gone`)."""
    engine.con.execute(f"DELETE FROM {qi(table)} WHERE rowid IN (SELECT r FROM _build_gone)")


def digest_sql(source: str, columns: tuple[str, ...], *, revenue: bool) -> str:
    """SQL of a table digest: (rows, sum of row-key hashes mod a prime, revenue in cents).

    The text Ibis writes for :func:`percorso.build.digest.table_digest` (kept equal: a digest
    is updated by difference, so every part must be computed the same way; a test compares).
    """
    key = "{" + ", ".join(f"{ql(c)}: {qi(c)}" for c in columns) + "}"
    cents = "SUM(CAST(ROUND(COALESCE(revenue, 0) * 100, 0) AS BIGINT))" if revenue else "0"
    return (f"SELECT COUNT(*) AS n, SUM(CAST(CAST(HASH({key}) AS BIT) AS BIGINT) % 1000000007) AS h, "
            f"{cents} AS c FROM {source}")


def _digest(row: tuple) -> tuple[int, int, int]:
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def digest_of(engine: Engine, table: str, columns: tuple[str, ...], *, revenue: bool) -> tuple[int, int, int]:
    """The digest (see :func:`digest_sql`) of stored table ``table``."""
    return _digest(engine.con.execute(digest_sql(qi(table), columns, revenue=revenue)).fetchall()[0])


def digests_of(engine: Engine, table: str, staged: str, columns: tuple[str, ...], *,
               revenue: bool) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The digests (see :func:`digest_sql`) of stored ``table``'s rows listed in ``_build_gone``
    (read by rowid) and of table ``staged``, in one statement: one call less per built table."""
    gone = f"(SELECT * FROM {qi(table)} WHERE rowid IN (SELECT r FROM _build_gone))"
    parts = " UNION ALL ".join(f"SELECT {i} AS part, * FROM ({digest_sql(source, columns, revenue=revenue)})"
                               for i, source in enumerate((gone, qi(staged))))
    rows = {r[0]: r[1:] for r in engine.con.execute(parts).fetchall()}
    return _digest(rows[0]), _digest(rows[1])


def read_digest_rows(engine: Engine, table: str) -> list[tuple]:
    """The rows (table_name, n, h, c) of the digest table (:mod:`percorso.build.digest`)."""
    return engine.con.execute(f"SELECT table_name, n, h, c FROM {qi(table)}").fetchall()


def write_digest_rows(engine: Engine, table: str, rows: list[tuple[str, int, int, int]]) -> None:
    """Replace the digest table by ``rows`` (table_name, n, h, c)."""
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    engine.con.execute(f"""CREATE OR REPLACE TABLE {qi(table)} AS SELECT unnest(?::VARCHAR[]) AS table_name,
        unnest(?::BIGINT[]) AS n, unnest(?::BIGINT[]) AS h, unnest(?::BIGINT[]) AS c""", [list(c) for c in cols])


def latest_data_version(engine: Engine, table: str) -> str | None:
    """The ``data_version`` of the latest row of ``table`` (the value refresh's log), or None."""
    rows = engine.con.execute(f"SELECT data_version FROM {qi(table)} ORDER BY refreshed_at DESC LIMIT 1").fetchall()
    return None if not rows else str(rows[0][0])


def replace_table(engine: Engine, table: str, staged: str) -> None:
    """``table`` becomes ``staged`` (inside the caller's transaction).

    A rename, not a copy: ``CREATE TABLE AS SELECT *`` wrote every row of a full build twice.
    """
    engine.con.execute(f"DROP TABLE IF EXISTS {qi(table)}")
    engine.con.execute(f"ALTER TABLE {qi(staged)} RENAME TO {qi(table)}")


#: ``touchpoints`` columns DuckDB computes when read (ADR 0073,
#: :data:`percorso.build.schema.TOUCHPOINT_COMPUTED`), for :meth:`Engine.create_table`'s
#: ``generated``: the stored column each follows → (name, type, expression). The expression
#: gives the text the build wrote before (an integer's shortest decimal, as Ibis's cast did).
TOUCHPOINTS_GENERATED: dict[str, tuple[str, str, str]] = {
    "session_no": ("session_id", "VARCHAR", "customer_id || ':' || CAST(session_no AS VARCHAR)")}


def append_table(engine: Engine, table: str, staged: str,
                 columns: list[tuple[str, str, bool]] | None = None) -> None:
    """Append the rows of ``staged`` to ``table`` by column name (its columns the rows fill made
    stored first, :func:`store_filled_nulls`, and its enumerations widened to the values the rows
    bring, :func:`widen_enums`); a generated column (ADR 0073) is computed, not written.
    ``columns``: ``table``'s in the catalog (:func:`stored_catalog`), when the caller read them
    with those of its other tables."""
    columns = columns if columns is not None else stored_catalog(engine, (table,))[table]
    if store_filled_nulls(engine, table, staged, columns):
        columns = stored_catalog(engine, (table,))[table]
    widen_enums(engine, table, staged, columns)
    cols = ", ".join(qi(c) for c, _, generated in columns if not generated)
    engine.con.execute(f"INSERT INTO {qi(table)} ({cols}) SELECT {cols} FROM {qi(staged)}")


def store_filled_nulls(engine: Engine, table: str, staged: str, columns: list[tuple[str, str, bool]]) -> bool:
    """Make stored each column of ``table`` that a full build declared NULL in every row (a generated
    ``NULL``, ADR 0076: the events had nothing to fill it) and that rows of ``staged`` fill; whether
    one was. ``columns``: ``table``'s (:func:`stored_catalog`).

    The column is dropped and added again as a stored one (no rewrite of the other columns; the
    old rows read NULL, as they did); it then comes last in the table, whose next build is a full
    one (:func:`percorso.build.runner.run_build` rebuilds a table of other columns whole). Left
    generated, the insert of the stored columns would leave the rows' values out."""
    computed = {g[0] for g in TOUCHPOINTS_GENERATED.values()}
    nulls = [(c, t) for c, t, generated in columns if generated and c not in computed]
    has = set(engine.columns(staged)) if nulls else set()
    nulls = [(c, t) for c, t in nulls if c in has]
    if not nulls:
        return False
    counts = ", ".join(f"count({qi(c)})" for c, _ in nulls)
    row = engine.con.execute(f"SELECT {counts} FROM {qi(staged)}").fetchone()
    filled = [(c, t) for (c, t), n in zip(nulls, row, strict=True) if n]
    for c, t in filled:
        engine.con.execute(f"ALTER TABLE {qi(table)} DROP COLUMN {qi(c)}")
        engine.con.execute(f"ALTER TABLE {qi(table)} ADD COLUMN {qi(c)} {t}")
    return bool(filled)


def stored_catalog(engine: Engine, tables: tuple[str, ...]) -> dict[str, list[tuple[str, str, bool]]]:
    """(column, type as the catalog names it, generated) of each stored table of ``tables``, in
    column order: one catalog query for the appends of every build table (two per table, one
    of them through ``information_schema``, were ~5 ms of an incremental build's write)."""
    out: dict[str, list[tuple[str, str, bool]]] = {t: [] for t in tables}
    for t, c, d, g in engine.con.execute(
            """SELECT table_name, column_name, data_type, is_generated FROM duckdb_columns()
               WHERE database_name = current_database() AND schema_name = 'main' AND list_contains(?, table_name)
               ORDER BY table_name, column_index""", [list(tables)]).fetchall():
        out[t].append((c, d, bool(g)))
    return out


def widen_enums(engine: Engine, table: str, staged: str, columns: list[tuple[str, str, bool]]) -> None:
    """Give each enumeration column of ``table`` (a full build's, ADR 0071) the values of
    ``staged`` it lacks: an incremental build's new events can bring an event name or a
    channel the full build did not see, which the insert would refuse. ``columns``: ``table``'s
    (:func:`stored_catalog`).

    One scan of the staged rows (a rebuild's, small) finds them; a column that needs them is
    altered to the enumeration of its values and theirs, in text order (a rewrite of that
    column, once per new value), or to text past :data:`ENUM_MAX_VALUES`. Each column's
    values are listed, then made distinct (``list_distinct``): seven ``list(DISTINCT ...)
    FILTER`` aggregates in one statement took DuckDB ~9 ms to plan (the whole statement ~10 ms
    on an incremental build's 9,000 touchpoints, against ~2 ms this way)."""
    enums = {c: t for c, t, _ in columns if t.startswith("ENUM(")}
    if not enums:
        return
    missing = ", ".join(f"list_distinct(list({qi(c)}::VARCHAR) FILTER (WHERE {qi(c)} IS NOT NULL AND "
                        f"TRY_CAST({qi(c)} AS {t}) IS NULL)) AS {qi(c)}" for c, t in enums.items())
    row = engine.con.execute(f"SELECT {missing} FROM {qi(staged)}").fetchone()
    for (c, t), new in zip(enums.items(), row, strict=True):
        if new:
            old = engine.con.execute(f"SELECT enum_range(NULL::{t})").fetchone()[0]
            wider = enum_type([*old, *new]) if len(old) + len(new) <= ENUM_MAX_VALUES else "VARCHAR"
            engine.con.execute(f"ALTER TABLE {qi(table)} ALTER COLUMN {qi(c)} TYPE {wider}")


def drop(engine: Engine, table: str) -> None:
    engine.con.execute(f"DROP TABLE IF EXISTS {qi(table)}")


#: Tables an incremental build compares with (written at the end of every build).
BUILD_STATE_TABLES: tuple[str, ...] = ("built_identity", "built_event_keys", "build_state")
#: Each event's key identifier (``id_hash`` of ``events_identified``) by events rowid, as of the
#: last build: the index that finds a customer's events without hashing every event.
EVENT_ROWS = "build_event_rows"


def snapshot_build_state(engine: Engine, priority: tuple[str, ...], *, incremental: bool = False,
                         touched_only: bool = False) -> None:
    """Remember what this build was made from: each identifier's customer (integer key), the
    events keyed by a lower-priority identifier, and the last event read.

    Why not each event's customer (10M rows, the largest write of an incremental build): an
    event's customer follows from its key identifier, so the identifiers and the few
    exceptions say everything (see :func:`stage_scope`). ``touched_only``: rewrite only the
    identifiers identity listed in ``identity_touched`` (an incremental resolution changed
    no other), so the snapshot costs what changed. ``incremental``: ``build_event_rows``
    takes the rows staged by :func:`stage_event_rows` instead of being computed again from
    every event.
    Either way ``identity_touched`` is emptied: this build has consumed it.
    """
    if touched_only:   # the touched rows, as :func:`stage_scope` read them (neither table changed since)
        engine.con.execute("DELETE FROM built_identity WHERE rowid IN (SELECT _r FROM _build_bi_t)")
        engine.con.execute("""INSERT INTO built_identity SELECT id_hash, customer_id, first_seen_at
            FROM _build_im_t WHERE t""")
        engine.con.execute("DROP TABLE IF EXISTS _build_im_t")
        engine.con.execute("DROP TABLE IF EXISTS _build_bi_t")
    else:
        engine.create_table("built_identity", "SELECT id_hash, customer_id, first_seen_at FROM identity_map",
                            uncompressed=PLAIN_TEXT)
    engine.con.execute("CREATE OR REPLACE TABLE built_event_keys AS SELECT event_id, id_hash FROM identity_event_keys")
    if incremental:
        write_event_rows(engine)
    else:
        create_event_rows(engine, priority)
    engine.con.execute(
        f"""CREATE OR REPLACE TABLE build_state AS
        SELECT {ES.LAST_ROWID}::BIGINT AS max_rowid, count(*)::BIGINT AS n_events FROM {ES.STORE}"""
    )
    engine.con.execute("DROP TABLE IF EXISTS built_events")   # written by earlier versions
    clear_touched(engine)


def build_watermark(engine: Engine) -> int | None:
    """The last ``events`` rowid of the previous build, or None when a full build is needed
    (no state yet, an older layout, or events removed since: the mark is trusted only while
    the count of events up to it is unchanged, as for identity)."""
    if not all(engine.has_table(t) for t in BUILD_STATE_TABLES) or "id_hash" not in engine.columns("built_identity"):
        return None
    row = engine.con.execute("SELECT max_rowid, n_events FROM build_state").fetchall()
    if not row:
        return None
    max_rowid, n_events = row[0]
    now = engine.con.execute(f"SELECT count(*) FROM {ES.STORE} WHERE rowid <= ?", [max_rowid]).fetchall()[0][0]
    return int(max_rowid) if now == n_events else None


def _event_key(priority: tuple[str, ...]) -> str:
    return f"CASE WHEN x.event_id IS NULL THEN {first_key_sql(priority)} ELSE x.id_hash END"


#: Temp: the ``identity_map`` rows of the scope's customers (:func:`stage_scope_events`), every
#: column: the compiled customers query reads it in place of the map (:mod:`percorso.build.plan`).
SCOPE_MAP = "_build_m"
#: The identifiers an incremental identity run re-solved since the last build.
_TOUCHED = f"(SELECT id_hash FROM {TOUCHED})"


def _map_of(engine: Engine, keys: str, key: str) -> str:
    """SQL (a subquery): the ``identity_map`` rows whose ``key`` (``id_hash`` or ``customer_id``)
    is one of ``keys`` (a subquery), taken from the region identity has just written
    (:data:`REGION_MAP`) where it holds them, the map probed only for the others.

    The region holds its identifiers' rows (``id_hash`` in :data:`REGION_IDS`) and every
    row of its customers (a customer lies in one component, and its id is no other's:
    :func:`percorso.engine.identity_sql.assign_customer_ids`), as the map does until the
    build (the same connection, right after identity); a customer it had before
    (:data:`REGION_PREV`, whole in it too) and has no more has no row left anywhere. The
    probe of the others is of an empty set, usually: DuckDB reads nothing then, where each
    probe of the map's 1M rows cost 7-17 ms at 10M events (ADR 0097). Without a region (a full
    or whole-graph resolution, or none): the map alone.
    """
    cols = "id_type, id_value, customer_id, first_seen_at, id_hash"
    if not engine.has_table(REGION_MAP):
        return f"(SELECT {cols} FROM identity_map WHERE {key} IN {keys})"
    held = (f"SELECT id_hash FROM {REGION_IDS}" if key == "id_hash"
            else f"SELECT customer_id FROM {REGION_MAP} UNION ALL SELECT customer_id FROM {REGION_PREV}")
    return f"""(SELECT {cols} FROM {REGION_MAP} WHERE {key} IN {keys}
        UNION ALL SELECT {cols} FROM identity_map
        WHERE {key} IN (SELECT k.{key} FROM {keys} k ANTI JOIN ({held}) h ON h.{key} = k.{key}))"""


def stage_scope(engine: Engine, *, touched_only: bool = False) -> int:
    """Temp ``_build_scope(customer_id)``: every customer whose rows may differ from the last build.

    An event belongs to the customer of its key identifier (``identity_map``), or of the key
    stored in ``identity_event_keys`` when its first identifier is unusable. So a customer's
    rows change only when (a) an event was appended to it, (b) an identifier joined, left or
    changed first time (a merge, a split, a flag: old *and* new customer), or (c) an event's
    stored key changed (old customer through the previous map, new through the current one).
    ``touched_only``: (b) compares only the identifiers identity re-solved since the last
    build (``identity_touched``), not the whole map. Everything is integer joins over
    identifiers and the appended events (``_build_new_rows``, staged by :func:`stage_event_rows`
    first; no scan of the history). Returns the number of customers.

    Temp ``_build_nk(r, customer_id)``: the customer of each appended (or re-keyed) event.
    With ``touched_only``, the rows of the map that (a) and (b) read, now and as of the last
    build, are probed once each (``_build_im_t``, with ``t`` for a touched identifier, and
    ``_build_bi_t`` with the rowids): the statement read each table two or three times
    (five probes of 1M identifiers at 10M events), and :func:`snapshot_build_state` writes
    ``built_identity`` from them.
    """
    con = engine.con
    if touched_only:
        want = f"(SELECT id_hash FROM {TOUCHED} UNION ALL SELECT k FROM _build_new_rows)"
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_im_t AS
            SELECT id_hash, customer_id, first_seen_at, id_hash IN {_TOUCHED} AS t
            FROM {_map_of(engine, want, "id_hash")}""")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_bi_t AS
            SELECT id_hash, customer_id, first_seen_at, rowid AS _r FROM built_identity WHERE id_hash IN {_TOUCHED}""")
        now, now_t, was = "_build_im_t", "(SELECT * FROM _build_im_t WHERE t)", "_build_bi_t"
    else:
        now = now_t = "identity_map"
        was = "built_identity"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_nk AS
        SELECT n.r, m.customer_id FROM _build_new_rows n JOIN {now} m ON m.id_hash = n.k""")
    # ``moved``: some old event of the customer may now belong to another one, or another's to
    # them (an identifier seen before changed customer, or an event's key changed): their whole
    # history is rebuilt; a customer only appended to may be rebuilt from a cut (ADR 0040)
    return engine.written(f"""CREATE OR REPLACE TEMP TABLE _build_scope AS
        SELECT customer_id, bool_or(moved) AS moved FROM (
            SELECT customer_id, false AS moved FROM _build_nk
            UNION ALL SELECT a.customer_id, b.id_hash IS NOT NULL AND b.customer_id IS DISTINCT FROM a.customer_id FROM (
                SELECT id_hash, customer_id, first_seen_at FROM {now_t}
                EXCEPT SELECT id_hash, customer_id, first_seen_at FROM {was}) a
                LEFT JOIN {was} b ON b.id_hash = a.id_hash
            UNION ALL SELECT b.customer_id, m.id_hash IS NULL OR m.customer_id IS DISTINCT FROM b.customer_id FROM (
                SELECT id_hash, customer_id, first_seen_at FROM {was}
                EXCEPT SELECT id_hash, customer_id, first_seen_at FROM {now_t}) b
                LEFT JOIN {now} m ON m.id_hash = b.id_hash
            UNION ALL SELECT m.customer_id, true FROM (
                SELECT event_id, id_hash FROM identity_event_keys EXCEPT SELECT event_id, id_hash FROM built_event_keys) d
                JOIN identity_map m USING (id_hash)
            UNION ALL SELECT b.customer_id, true FROM (
                SELECT event_id, id_hash FROM built_event_keys EXCEPT SELECT event_id, id_hash FROM identity_event_keys) d
                JOIN built_identity b USING (id_hash)
        ) WHERE customer_id IS NOT NULL GROUP BY ALL""")


def create_event_rows(engine: Engine, priority: tuple[str, ...], *, upto_rowid: int | None = None,
                      keys: str = "identity_event_keys") -> None:
    """``build_event_rows(k, r)``: every event's key identifier ``k`` by events rowid ``r``.

    ``k`` is the ``id_hash`` that ``events_identified`` gives the event (its first identifier,
    or the key stored in ``keys`` when that one is unusable); events with no key are left
    out. A full build writes it from every event (one pass over the identifier columns);
    ``upto_rowid`` and ``keys = 'built_event_keys'`` give the table as of the last build, for
    a project built before the table existed.
    """
    cond = "" if upto_rowid is None else f"WHERE e.rowid <= {int(upto_rowid)}"
    if engine.count(keys):
        key, source = _event_key(priority), f"{ES.WITH_ROWID} e LEFT JOIN {qi(keys)} x ON x.event_id = e.event_id"
    else:   # no stored key (the usual case): no join, whose probe reads every event id (0.41 against 0.27 s at 10M)
        key, source = first_key_sql(priority), f"{ES.WITH_ROWID} e"
    engine.con.execute(f"""CREATE OR REPLACE TABLE {EVENT_ROWS} AS
        SELECT k, r FROM (SELECT {key} AS k, e.rowid AS r FROM {source} {cond}) WHERE k IS NOT NULL""")


def stage_event_rows(engine: Engine, after_rowid: int, priority: tuple[str, ...]) -> None:
    """Temp ``_build_new_rows(k, r)``: the keys of the events appended after ``after_rowid`` and
    of the older events whose stored key changed since the last build; ``_build_rekeyed(r)``
    lists the latter (their rows of ``build_event_rows`` are stale until the write).

    A stored key changes only when identity re-keys older events (an identifier seen before
    became usable or unusable): then, and only then, the events are looked up by id (a scan of
    the event ids). Without ``build_event_rows`` (a project built by an earlier version) it is
    first written as of the last build.
    """
    if not engine.has_table(EVENT_ROWS):
        create_event_rows(engine, priority, upto_rowid=after_rowid, keys="built_event_keys")
    rekeyed = engine.written("""CREATE OR REPLACE TEMP TABLE _build_rekeyed_ids AS SELECT DISTINCT event_id FROM (
        (SELECT event_id, id_hash FROM identity_event_keys EXCEPT SELECT event_id, id_hash FROM built_event_keys)
        UNION ALL
        (SELECT event_id, id_hash FROM built_event_keys EXCEPT SELECT event_id, id_hash FROM identity_event_keys))""")
    if rekeyed:
        rekeyed = engine.written(f"""CREATE OR REPLACE TEMP TABLE _build_rekeyed AS SELECT rowid AS r FROM {ES.STORE}
            WHERE rowid <= ? AND event_id IN (SELECT event_id FROM _build_rekeyed_ids)""", [after_rowid])
    else:
        engine.con.execute("CREATE OR REPLACE TEMP TABLE _build_rekeyed (r BIGINT)")
    key = _event_key(priority)
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_new_rows AS
        SELECT {key} AS k, e._r AS r FROM (SELECT *, rowid AS _r FROM {ES.WITH_ROWID} WHERE rowid > ?) e
            LEFT JOIN identity_event_keys x ON x.event_id = e.event_id""", [after_rowid])
    if rekeyed:
        engine.con.execute(f"""INSERT INTO _build_new_rows SELECT {key}, e._r
            FROM (SELECT *, rowid AS _r FROM {ES.WITH_ROWID} WHERE rowid IN (SELECT r FROM _build_rekeyed)) e
            LEFT JOIN identity_event_keys x ON x.event_id = e.event_id""")


def write_event_rows(engine: Engine) -> None:
    """Bring ``build_event_rows`` up to this build: the re-keyed rows replaced, the new appended."""
    if engine.count("_build_rekeyed"):
        engine.con.execute(f"DELETE FROM {EVENT_ROWS} WHERE r IN (SELECT r FROM _build_rekeyed)")
    engine.con.execute(f"INSERT INTO {EVENT_ROWS} SELECT k, r FROM _build_new_rows WHERE k IS NOT NULL")
    engine.con.execute("DROP TABLE IF EXISTS _build_new_rows")
    engine.con.execute("DROP TABLE IF EXISTS _build_rekeyed")


def stage_scope_events(engine: Engine, columns: list[str] | None = None, *, tail: bool = False) -> int:
    """Temp ``_build_events``: the ``events_identified`` rows of the customers in ``_build_scope``.

    The events are found in ``build_event_rows`` (an integer probe per event: the key of
    every event was hashed once, when it was first built) and in ``_build_new_rows``, and only
    the rows found are read from ``events``, by rowid (DuckDB skips the vectors holding none).
    Hashing the identifiers of every event here cost 0.3 CPU s at 10M events, and the join
    on the rowid read every column of every event (1M events: 0.19 -> 0.05 CPU s; 10M: 0.86
    -> 0.15). ``columns``: the only event columns the build's queries read
    (:func:`read_columns`); the others are left NULL, unread (each column read by rowid
    decompresses every vector holding a wanted row: half the columns, half the cost).
    ``tail``: customers with a cut (``_build_cut``) get only their events from the cut on
    (:mod:`percorso.engine.build_tail_sql`); the fast ones' old events are not listed at all. ``_build_m`` (the scope's keys) is kept until the
    write, for the customers that fall back to a whole rebuild.
    """
    stale = " AND r NOT IN (SELECT r FROM _build_rekeyed)" if engine.count("_build_rekeyed") else ""
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE {SCOPE_MAP} AS SELECT id_hash, customer_id, id_type, id_value,
        first_seen_at, {customer_no_sql("customer_id")} AS customer_no
        FROM {_map_of(engine, "(SELECT customer_id FROM _build_scope)", "customer_id")}""")
    # a fast tail customer's old events are not even listed: their state stands for them (ADR 0040)
    old = " WHERE customer_id NOT IN (SELECT customer_id FROM _build_cut WHERE t0 IS NOT NULL AND fast)" if tail else ""
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_picked AS
        SELECT k, r FROM {EVENT_ROWS} WHERE k IN (SELECT id_hash FROM _build_m{old}){stale}
        UNION ALL SELECT k, r FROM _build_new_rows WHERE k IN (SELECT id_hash FROM _build_m)""")
    if tail:   # a tail customer's events before their cut are not read (ADR 0040)
        T.split_picked(engine)
    engine.con.execute("""CREATE OR REPLACE TEMP TABLE _build_events AS
        SELECT e.*, 0::UBIGINT AS id_hash, m.customer_id, m.id_type, m.id_value, m.customer_no
        FROM events e, _build_m m LIMIT 0""")
    return read_picked(engine, columns)


def read_picked(engine: Engine, columns: list[str] | None) -> int:
    """Append to ``_build_events`` the events listed in ``_build_picked(k, r)``, read
    by rowid (``columns`` only; see :func:`stage_scope_events`), with the key and its customer;
    returns how many were appended."""
    wanted = None if columns is None else set(columns)
    read = [c for c in engine.columns("events") if wanted is None or c in wanted]
    cols = ", ".join(qi(c) for c in read)
    # the read by rowid alone first: joined in the same statement, DuckDB read every column of
    # every event (0.24 against 0.11 CPU s at 10M events)
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_cand AS
        SELECT {cols}, e.rowid AS _row FROM {ES.WITH_ROWID} e WHERE e.rowid IN (SELECT r FROM _build_picked)""")
    # every column of events, in its order (the unread ones NULL), then the key and its customer
    n = engine.written(f"""INSERT INTO _build_events ({cols}, id_hash, customer_id, id_type, id_value, customer_no)
        SELECT {", ".join(f"c.{qi(c)}" for c in read)}, p.k, m.customer_id, m.id_type, m.id_value, m.customer_no
        FROM _build_cand c JOIN _build_picked p ON p.r = c._row JOIN _build_m m ON m.id_hash = p.k""")
    return n


def read_columns(engine: Engine, plan: dict[str, str], steps: tuple[str, ...], staged: str,
                 sources: tuple[str, ...], extra: tuple[str, ...] = ()) -> list[str] | None:
    """The columns of table ``staged`` that the queries ``plan[step]`` (run in ``steps`` order,
    each written as table ``step``) read, or None when that cannot be told.

    Found by DuckDB itself: each query is planned (``EXPLAIN``) over empty tables shaped as the
    project's ``sources`` and ``staged`` (``events`` with the key identifier and customer), in
    a private in-memory database, and the scans of ``staged`` list the columns they project.
    Filter pushdown is switched off there, so a column used only by a filter is projected too;
    a scan that still shows a filter, or no scan found, answers None (every column is read).
    ``extra``: DDL of the other inputs the queries read (made there empty too).
    """
    import duckdb

    mem = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        mem.execute("SET disabled_optimizers = 'filter_pushdown'")
        for name in sources:
            ddl = engine.con.execute("""SELECT sql FROM duckdb_tables() WHERE database_name = current_database()
                AND schema_name = 'main' AND table_name = ?""", [name]).fetchall()
            if ddl:
                mem.execute(ddl[0][0])
            elif name == ES.VIEW:   # a view over a table not made here: a table of its columns
                cols = engine.con.execute(f"DESCRIBE {qi(name)}").fetchall()
                mem.execute(f"CREATE TABLE {qi(name)} ({', '.join(f'{qi(c[0])} {c[1]}' for c in cols)})")
        mem.execute(f"""CREATE TABLE {qi(staged)} AS SELECT e.*, 0::UBIGINT AS id_hash, m.customer_id, m.id_type,
            m.id_value, 0::BIGINT AS customer_no FROM events e, identity_map m LIMIT 0""")
        for ddl in extra:
            mem.execute(ddl)
        used: set[str] = set()
        for step in steps:
            tree = json.loads(mem.execute("EXPLAIN (FORMAT json) " + plan[step]).fetchall()[0][1])
            scans = [x for x in _explain_nodes(tree) if str(x.get("Table", "")).split(".")[-1] == staged]
            if any("Filters" in x for x in scans):
                return None
            for x in scans:
                shown = x.get("Projections", [])
                used.update([shown] if isinstance(shown, str) else shown)
            mem.execute(f"CREATE TABLE {qi(step)} AS SELECT * FROM ({plan[step]}) LIMIT 0")
        return sorted(used) if used else None
    except duckdb.Error:
        return None
    finally:
        mem.close()


def _explain_nodes(tree: object) -> list[dict]:
    """The ``extra_info`` of every operator of a JSON ``EXPLAIN`` tree."""
    out: list[dict] = []
    if isinstance(tree, dict):
        if isinstance(tree.get("extra_info"), dict):
            out.append(tree["extra_info"])
        for v in tree.values():
            out += _explain_nodes(v)
    elif isinstance(tree, list):
        for v in tree:
            out += _explain_nodes(v)
    return out


#: The compiled incremental build (:mod:`percorso.build.plan`): one row, the latest key.
PLAN = "build_plan"


def source_columns(engine: Engine, tables: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(table, column, type) of the stored ``tables``, in column order (absent tables: no rows); a
    text column's type is ``VARCHAR`` whether it is stored as text or as an enumeration (ADR 0071):
    the SQL compiled for the tables (:mod:`percorso.build.plan`) is the same for both."""
    catalog = stored_catalog(engine, tables)
    return [(t, c, "VARCHAR" if is_text_type(d) else d) for t in sorted(tables) for c, d, _ in catalog[t]]


def read_plan(engine: Engine, key: str) -> dict[str, str] | None:
    """The SQL by step stored under ``key``, or None."""
    if not engine.has_table(PLAN):
        return None
    rows = engine.con.execute(f"SELECT sql FROM {PLAN} WHERE key = ?", [key]).fetchall()
    return json.loads(rows[0][0]) if rows else None


def has_plan(engine: Engine, key: str) -> bool:
    """Whether the project keeps the plan stored under ``key``."""
    return engine.has_table(PLAN) and bool(
        engine.con.execute(f"SELECT count(*) FROM {PLAN} WHERE key = ?", [key]).fetchall()[0][0])


def write_plan(engine: Engine, key: str, plan: dict[str, str]) -> None:
    """Keep ``plan`` under ``key`` (only the latest: an older key can no longer match)."""
    engine.con.execute(f"CREATE OR REPLACE TABLE {PLAN} AS SELECT ?::VARCHAR AS key, ?::VARCHAR AS sql",
                       [key, json.dumps(plan)])


def narrowed(sql: str, tables: Mapping[str, Iterable[str]]) -> str:
    """``sql`` with every nested projection cut to the columns read above it (sqlglot's
    ``qualify`` and ``pushdown_projections``; ``tables``: the columns of each table read).

    Why: Ibis writes each step of an expression as a subquery listing every column of the one
    below (the sessions query: ~20 levels of the ~50 event columns, 61 KB), and DuckDB parses,
    binds and optimizes all of them before dropping the unread ones; on an incremental build's
    ~1,000 rows that is most of the statement (ADR 0096). Same query: only columns nobody reads
    leave. Done once, when the build's plan compiles (:mod:`percorso.build.plan`): SQL text is
    the engine's to rewrite. DuckDB's ``rowid`` is no column of the tables: it passes through as a
    function call of its table's alias. SQL that sqlglot cannot narrow (a star it cannot expand,
    a set operation it cannot line up) is kept as it was.
    """
    import re

    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify

    rowid, back = re.compile(r'"(t\d+)"\."rowid"'), re.compile(r"_PERCORSO_ROWID\('(t\d+)'\)")
    schema = {name: dict.fromkeys(cols, "TEXT") for name, cols in tables.items()}
    try:
        tree = sqlglot.parse_one(rowid.sub(r"_PERCORSO_ROWID('\1')", sql), dialect="duckdb")
        tree = pushdown_projections(qualify(tree, schema=schema, dialect="duckdb"))
    except SqlglotError:
        return sql
    for alias in list(tree.find_all(exp.Alias)):   # qualify's "t"."x" AS "x": the same name, twice the tokens
        if isinstance(alias.this, exp.Column) and alias.this.name == alias.alias:
            alias.replace(alias.this)
    return back.sub(r'"\1"."rowid"', tree.sql(dialect="duckdb"))



#: Above this many staged events an incremental build's steps are planned in full (:func:`light_planning`).
LIGHT_PLANNING_EVENTS = 100_000
#: The optimizer passes a lightly planned step keeps: its expressions folded, its filters pushed
#: to the scans, its unread columns dropped.
_KEPT_PASSES = ("expression_rewriter", "filter_pushdown", "unused_columns", "column_lifetime")


def light_planning(engine: Engine, staged_events: int) -> tuple[str, str] | None:
    """``(SET, restore)`` of ``disabled_optimizers`` around an incremental build's compiled steps
    over ``staged_events`` rows: every optimizer pass but :data:`_KEPT_PASSES` off; None above
    :data:`LIGHT_PLANNING_EVENTS`.

    Why: those steps read only the build's temporary tables, ~1,000-10,000 rows, and DuckDB's
    join ordering, statistics, common subexpressions and projection moves cost more to plan on
    their 10-60 KB of SQL than they save on so few rows (ADR 0096: sessions, touchpoints and
    orders 68 -> 53 ms with :func:`narrowed`). The passes are read from the
    engine (its version's names), the old value kept to be restored."""
    if staged_events > LIGHT_PLANNING_EVENTS:
        return None
    kept = ", ".join(f"'{p}'" for p in _KEPT_PASSES)
    old, off = engine.con.execute(f"""SELECT current_setting('disabled_optimizers'), string_agg(name, ',')
        FROM duckdb_optimizers() WHERE name NOT IN ({kept})""").fetchall()[0]
    return f"SET disabled_optimizers = {ql(off)}", f"SET disabled_optimizers = {ql(str(old or ''))}"


def run_plan_step(engine: Engine, name: str, sql: str, *, temp: bool = False,
                  settings: tuple[str, str] | None = None) -> None:
    """``CREATE [TEMP] TABLE name AS sql``, ``sql`` compiled by :meth:`Engine.compile` from a build expression;
    ``settings``: statements run before and after it in the same call (:func:`light_planning`), the
    second also when it fails."""
    kind = "TEMP TABLE" if temp else "TABLE"
    statement = f"CREATE OR REPLACE {kind} {qi(name)} AS {sql}"
    if settings is None:
        engine.con.execute(statement)
        return
    try:
        engine.con.execute(f"{settings[0]}; {statement}; {settings[1]}")
    except duckdb.Error:
        try:
            engine.con.execute(settings[1])
        except duckdb.Error:  # the connection ended inside: its own error surfaces
            pass
        raise


def read_fingerprint(engine: Engine) -> str | None:
    """The build settings fingerprint of the last build (None before the first)."""
    if not engine.has_table("build_fingerprint"):
        return None
    rows = engine.con.execute("SELECT value FROM build_fingerprint").fetchall()
    return rows[0][0] if rows else None


def write_fingerprint(engine: Engine, value: str) -> None:
    engine.con.execute("CREATE OR REPLACE TABLE build_fingerprint AS SELECT ?::VARCHAR AS value", [value])
