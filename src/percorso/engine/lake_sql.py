"""SQL constructs of the Parquet lake export (DuckDB dialect), one named function each.

:mod:`percorso.lake` decides what to write; these functions read the project database:
one pass that fingerprints every partition of a table, one ``COPY`` that writes the
partitions that changed into a staging folder (values bound, identifiers quoted).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from percorso.engine.backend import is_text_type, quote_ident, quote_literal

if TYPE_CHECKING:
    from percorso.engine.backend import Engine

#: The derived partition column of month-partitioned tables: the UTC month of ``occurred_at``.
MONTH = "month"

#: Lake tables that are not database tables, each as (query, the tables it reads).
#: ``identity_pins``: the database keys a pin by the resolver's ``id_hash`` (DuckDB's hash),
#: which Spark cannot compute; the lake names the identifier (type and value: another
#: person's identifier, already in the lake's events), ADR 0044.
DERIVED: dict[str, tuple[str, tuple[str, ...]]] = {
    "identity_pins": ("SELECT n.id_type, n.id_value, p.reason, p.pinned_at FROM identity_pins p "
                      "JOIN identity_identifiers n USING (id_hash)", ("identity_pins", "identity_identifiers")),
}


def _from(table: str, rows: str | None = None) -> str:
    """The ``FROM`` item of a lake table: its ``rows`` (a query, when the caller gives one), the
    database table, or a derived table's query."""
    if rows is not None:
        return f"({rows})"
    if table in DERIVED:
        return f"({DERIVED[table][0]})"
    return quote_ident(table)


def _source(engine: Engine, table: str, exclude: tuple[str, ...], month: bool, rows: str | None = None) -> str:
    """``SELECT`` of the exported rows: every column but ``exclude``, plus the month key.

    A column stored as an enumeration (ADR 0071) is read as its text: its hash is its value's
    position in the enumeration, which changes with the values a build saw, and a partition's
    fingerprint (:func:`partition_fingerprints`) must change only with its rows."""
    source = _from(table, rows)
    cols = "*" if not exclude else f"* EXCLUDE ({', '.join(quote_ident(c) for c in exclude)})"
    enums = [r["column_name"] for r in engine.query(f"DESCRIBE SELECT * FROM {source}").to_pylist()
             if r["column_type"].startswith("ENUM(") and r["column_name"] not in exclude]
    if enums:
        cols += f" REPLACE ({', '.join(f'CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}' for c in enums)})"
    extra = f", strftime(occurred_at, '%Y-%m') AS {MONTH}" if month else ""
    return f"SELECT {cols}{extra} FROM {source} AS _t"


def partition_fingerprints(engine: Engine, table: str, partition_by: tuple[str, ...], *,
                           exclude: tuple[str, ...] = (), month: bool = False, rows: str | None = None) -> pa.Table:
    """Rows and an order-independent content hash per partition, in one scan.

    Why a hash of every row: a partition must be rewritten when any of its rows changed
    (a rebuilt touchpoint's channel), not only when its row count did; the sum of the rows'
    64-bit hashes (as HUGEINT, so it never overflows) is independent of row order, which the
    engine does not keep between two builds. ``rows``: the SQL of the exported rows, when they
    are not the table's own (``touchpoints`` with its events' details, :mod:`percorso.lake`).
    """
    src = _source(engine, table, exclude, month, rows)
    keys = ", ".join(quote_ident(c) for c in partition_by)
    group = f"GROUP BY {keys}" if partition_by else ""
    sel = f"{keys}, " if partition_by else ""
    sql = (f"SELECT {sel}count(*) AS n_rows, CAST(sum(hash(_r)::HUGEINT) AS VARCHAR) AS row_hash "
           f"FROM ({src}) AS _r {group}")
    return engine.query(sql)


def copy_partitions(engine: Engine, table: str, target: Path, partition_by: tuple[str, ...],
                    wanted: pa.Table | None, *, exclude: tuple[str, ...] = (), month: bool = False,
                    rows: str | None = None) -> None:
    """Write the rows of ``table`` as Parquet under ``target`` (a staging folder).

    With ``partition_by``: hive folders ``col=value/…`` (values %-escaped by the engine), only
    the partitions listed in ``wanted`` (an Arrow table of partition key values). Without: one
    file ``target/data_0.parquet`` holding the whole table. ``rows``: as :func:`partition_fingerprints`.
    """
    src = _source(engine, table, exclude, month, rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not partition_by:
        target.mkdir(parents=True, exist_ok=True)
        engine.run(f"COPY ({src}) TO {quote_literal(str(target / 'data_0.parquet'))} (FORMAT parquet)")
        return
    assert wanted is not None
    keys = ", ".join(quote_ident(c) for c in partition_by)
    on = " AND ".join(f"_r.{quote_ident(c)} IS NOT DISTINCT FROM _w.{quote_ident(c)}" for c in partition_by)
    engine.con.register("_percorso_lake_wanted", wanted)
    try:
        engine.run(f"COPY (SELECT _r.* FROM ({src}) AS _r SEMI JOIN _percorso_lake_wanted AS _w ON {on}) "
                   f"TO {quote_literal(str(target))} (FORMAT parquet, PARTITION_BY ({keys}), OVERWRITE_OR_IGNORE)")
    finally:
        engine.con.unregister("_percorso_lake_wanted")


def table_schema(engine: Engine, table: str, exclude: tuple[str, ...] = (), rows: str | None = None
                 ) -> list[tuple[str, str]]:
    """(column, engine type) of ``table`` (of its ``rows``, a query, when given) in order, without
    ``exclude``; an enumeration's type as the text it is exported as (:func:`_source`)."""
    if rows is not None or table in DERIVED:
        described = engine.query(f"DESCRIBE {rows if rows is not None else DERIVED[table][0]}").to_pylist()
        return [(r["column_name"], _exported(r["column_type"])) for r in described if r["column_name"] not in exclude]
    rows = engine.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position", [table]).to_pylist()
    return [(r["column_name"], _exported(r["data_type"])) for r in rows if r["column_name"] not in exclude]


def _exported(sql_type: str) -> str:
    return "VARCHAR" if is_text_type(sql_type) else sql_type
