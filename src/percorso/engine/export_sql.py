"""Stored tables to files with DuckDB's COPY: streaming, never through pandas.

Why in the engine: ``touchpoints`` can hold tens of millions of rows; COPY writes them in
bounded memory. Text cells that a spreadsheet would run as a formula get a leading ``'``
in CSV output (tracking data is attacker-controlled). Every UTC time column gets its
local twin (``<col>_local``, the project's time zone).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from percorso.engine.backend import is_text_type
from percorso.engine.backend import quote_ident as qi
from percorso.engine.backend import quote_literal as ql

if TYPE_CHECKING:
    from percorso.engine.backend import Engine

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BOM = b"\xef\xbb\xbf"


def _select(engine: Engine, table: str, rows: Any, *, escape: bool, decimal_comma: bool = False) -> str:
    table = _with_local_times(engine, table, rows)
    rows = engine.con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    starts = ", ".join(ql(s) for s in _FORMULA_START)
    cols = []
    for name, dtype in rows:
        if escape and is_text_type(dtype):
            cols.append(f"CASE WHEN left({qi(name)}, 1) IN ({starts}) THEN '''' || {qi(name)} "
                        f"ELSE {qi(name)} END AS {qi(name)}")
        elif decimal_comma and (dtype in ("DOUBLE", "FLOAT", "REAL") or dtype.startswith("DECIMAL")):
            # COPY cannot write a decimal comma; Italian Excel reads "1299,5" as a number
            cols.append(f"replace(CAST({qi(name)} AS VARCHAR), '.', ',') AS {qi(name)}")
        else:
            cols.append(qi(name))
    return f"SELECT {', '.join(cols)} FROM {qi(table)}"


def _with_local_times(engine: Engine, table: str, rows: Any = None) -> str:
    """A temporary view of ``table`` (or of its exported ``rows``, an Ibis expression) with
    ``<col>_local`` (project time) next to each UTC time.

    Why: people open exports in spreadsheets and read local hours; the UTC column stays for
    machines. The conversion is :func:`percorso.engine.localtime.with_local_columns`, the
    project's one definition of local time.
    """
    from percorso.engine.localtime import with_local_columns

    t = engine.table(table)
    expr = with_local_columns(t if rows is None else rows, engine.time_zone)
    if rows is None and expr.columns == t.columns:
        return table
    view = f"_export_{table}"
    engine.con.execute(f"CREATE OR REPLACE TEMP VIEW {qi(view)} AS {engine.compile(expr)}")
    return view


def copy_table(engine: Engine, table: str, path: Path, fmt: str, *, csv_profile: str = "it", rows: Any = None) -> None:
    """Write ``table`` (its ``rows``, an Ibis expression over it, when given) to ``path`` as
    parquet, csv (``it``/``standard``) or json lines."""
    if fmt == "parquet":
        engine.con.execute(f"COPY ({_select(engine, table, rows, escape=False)}) TO {ql(str(path))} (FORMAT parquet)")
        return
    if fmt == "json":
        engine.con.execute(f"COPY ({_select(engine, table, rows, escape=False)}) TO {ql(str(path))} (FORMAT json)")
        return
    # formulas are escaped for spreadsheets (it profile); machine CSV keeps values verbatim
    sql = _select(engine, table, rows, escape=csv_profile == "it", decimal_comma=csv_profile == "it")
    if csv_profile != "it":
        engine.con.execute(f"COPY ({sql}) TO {ql(str(path))} (FORMAT csv, HEADER true)")
        return
    fd, tmp = tempfile.mkstemp(suffix=".csv", dir=str(path.parent))
    os.close(fd)
    try:
        engine.con.execute(
            f"COPY ({sql}) TO {ql(tmp)} (FORMAT csv, HEADER true, DELIMITER ';', "
            f"TIMESTAMPFORMAT '%d/%m/%Y %H:%M:%S', DATEFORMAT '%d/%m/%Y')"
        )
        with open(path, "wb") as out, open(tmp, "rb") as src:
            out.write(_BOM)
            shutil.copyfileobj(src, out, 1 << 20)
    finally:
        Path(tmp).unlink(missing_ok=True)
