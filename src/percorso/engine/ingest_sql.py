"""SQL constructs of the ingest stage (DuckDB dialect), one named function each.

Ingest describes *what* to read (field → column/JSON path, type, time zone, formats) as
plain Python data; this module turns it into SQL so that the heavy work (CSV parsing,
typing with TRY_CAST/TRY_STRPTIME, splitting good from bad rows, dedup by anti-join,
``INSERT … SELECT``) runs inside the engine, in batches, in bounded memory. Identifiers go
through :func:`quote_ident`, file paths are bound, constants through :func:`quote_literal`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb

from percorso.engine import event_store
from percorso.engine.backend import quote_ident as qi
from percorso.engine.backend import first_line, name_key_sql
from percorso.engine.backend import quote_literal as ql
from percorso.errors import disk_full_text

if TYPE_CHECKING:
    import pyarrow as pa
    from percorso.engine.backend import Engine

TS_FORMATS = ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%d-%m-%Y %H:%M", "%Y-%m-%d %H:%M:%S"]
CLICK_ID_PARAMS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "dclid", "li_fat_id",
                   "twclid", "epik", "sccid", "yclid")
_OFFSET_RE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$"


@contextmanager
def memory_cap(engine: Engine, limit: str) -> Iterator[None]:
    """Run the body with the engine's memory limit lowered to ``limit`` (e.g. ``'1GB'``), then restore it.

    Why: an import stages the file in temporary tables; with a cap the engine spills them to
    its temp directory instead of holding a 1 GB CSV (and its copies) in memory.
    """
    con = engine.con
    old = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute(f"SET memory_limit = {ql(limit)}")
    try:
        yield
    finally:
        try:
            con.execute(f"SET memory_limit = {ql(old)}")
        except Exception:  # noqa: BLE001 - the body failed inside a transaction: let its error surface
            pass


def stage_csv(engine: Engine, name: str, path: str, *, delim: str, encoding: str, columns: list[str],
              skip: int = 1, unnamed: list[str] | None = None) -> list[str]:
    """Read a CSV as all-VARCHAR into temp table ``name`` with ``_line`` (1-based data row).

    The layout is given (``columns`` from the header, ``skip`` lines before the data), so
    the engine's dialect sniffer never runs. Malformed lines go to temp table ``name_rej``
    (``_line``, ``error_type``, ``raw``); the line numbers of good rows skip over them (rows
    keep file order). Rows whose every value is blank (Excel's trailing ``;;;;`` lines) are
    dropped like blank lines; so are ``unnamed`` columns (a blank header cell) that hold
    no value at all.
    """
    con = engine.con
    rej, scan = f"{name}_rejerr", f"{name}_rejscan"
    con.execute(f"DROP TABLE IF EXISTS {qi(rej)}; DROP TABLE IF EXISTS {qi(scan)}")
    spec = "{" + ", ".join(f"{ql(c)}: 'VARCHAR'" for c in columns) + "}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {qi(name + '_raw')} AS SELECT * FROM read_csv(?, auto_detect=false, "
        f"columns={spec}, header=false, skip={int(skip)}, store_rejects=true, rejects_table={ql(rej)}, "
        f"rejects_scan={ql(scan)}, delim=?, encoding=?, quote='\"', escape='\"', compression='auto')",
        [path, delim, encoding],
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {qi(name + '_rej')} AS SELECT line - {int(skip)} AS _line, "
        f"first(error_type ORDER BY column_idx) AS error_type, first(csv_line) AS raw, "
        f"first(error_message) AS error_message FROM {qi(rej)} GROUP BY line"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {qi(name + '_rejj')} AS SELECT _line - row_number() OVER "
        f"(ORDER BY _line) AS gap FROM {qi(name + '_rej')}"
    )
    blank = " AND ".join(f"coalesce(trim(r.{qi(c)}), '') = ''" for c in columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {qi(name)} AS SELECT r.* EXCLUDE (_k), r._k + "
        f"(SELECT count(*) FROM {qi(name + '_rejj')} j WHERE j.gap < r._k) AS _line, 0 AS _file "
        f"FROM (SELECT *, row_number() OVER (ORDER BY rowid) AS _k FROM {qi(name + '_raw')}) r "
        f"WHERE NOT ({blank}) ORDER BY r._k"
    )
    con.execute(f"DROP TABLE {qi(name + '_raw')}")
    drop_empty_columns(engine, name, unnamed or [])
    return [c for c in engine.columns(name) if c not in ("_line", "_file")]


def reader_failure(exc: BaseException) -> str | None:
    """First line of the engine's error while reading a file; None for any other failure.

    Why: a file the engine cannot parse (not Parquet, a broken quote at the end, …) is the
    user's input and gets a message naming the file; a full disk is not, and keeps its own.
    """
    if isinstance(exc, duckdb.Error) and not disk_full_text(exc):
        return first_line(exc)
    return None


def drop_empty_columns(engine: Engine, name: str, candidates: list[str]) -> None:
    """Drop the ``candidates`` columns of temp table ``name`` that hold no non-blank value."""
    if not candidates:
        return
    counts = engine.con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (trim(CAST({qi(c)} AS VARCHAR)) <> '')" for c in candidates)
        + f" FROM {qi(name)}").fetchall()[0]
    for col, n in zip(candidates, counts):
        if not n:
            engine.con.execute(f"ALTER TABLE {qi(name)} DROP COLUMN {qi(col)}")


NOT_BLANK = r"[^\p{Zs}]"
"""A line that ``trim`` would not make empty: it holds a character other than the Unicode space
separators (category Zs), which are what the engine's ``trim`` removes (tabs are not)."""
OBJECT_START = r"^\p{Zs}*\{"
"""A line whose first character after what ``trim`` removes is ``{`` (``left(trim(line), 1) = '{'``)."""


def stage_lines(engine: Engine, name: str, path: str, *, encoding: str = "utf-8") -> None:
    """Read a text file line by line into temp table ``name`` (``_line``, ``_file``, ``j``, ``line``); blank lines skipped.

    ``j`` is a line that is a JSON object, ``line`` one that is not (each line's text is kept
    once: the typed stage reads ``j``, the quarantine ``coalesce(line, j)``). Blank lines and
    the first character are found by :data:`NOT_BLANK` and :data:`OBJECT_START` rather than by
    ``trim(line)``, which reads the whole line (twice per line: 125 of the statement's 150 ms on
    40,000 collector lines); ``tests/ingest/test_stage_lines.py`` checks that they agree.
    """
    engine.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {qi(name + '_l')} AS SELECT * FROM read_csv(?, columns={{'line': 'VARCHAR'}}, "
        f"header=false, delim='\x01', quote='', escape='', auto_detect=false, encoding=?, strict_mode=false)",
        [path, encoding],
    )
    engine.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {qi(name)} AS SELECT _line, _file, CASE WHEN NOT ok THEN line END AS line, "
        f"CASE WHEN ok THEN line END AS j FROM (SELECT row_number() OVER (ORDER BY rowid) AS _line, 0 AS _file, line, "
        f"regexp_matches(line, {ql(OBJECT_START)}) AND json_valid(line) AS ok FROM {qi(name + '_l')} "
        f"QUALIFY regexp_matches(line, {ql(NOT_BLANK)})) ORDER BY _line"
    )
    engine.con.execute(f"DROP TABLE {qi(name + '_l')}")


def stage_parquet(engine: Engine, name: str, paths: list[str]) -> dict[str, str]:
    """Expose Parquet files (one schema) as temp view ``name``, no copy; column → SQL type.

    ``_file`` is the file's position in ``paths`` and ``_line`` the 1-based row number within
    that file, so one pass over every file keeps each row's lineage.
    """
    engine.con.execute(
        f"CREATE OR REPLACE TEMP VIEW {qi(name)} AS SELECT *, file_row_number + 1 AS _line, CAST(file_index AS INTEGER) AS _file "
        f"FROM read_parquet([{', '.join(ql(p) for p in paths)}], file_row_number=true)"
    )
    return {c: t for c, t in column_types(engine, name).items() if c not in ("_line", "_file", "file_row_number")}


def parquet_schema(engine: Engine, path: str) -> tuple[tuple[str, str], ...]:
    """(column, SQL type) of a Parquet file, from its footer: files with equal schemas are read in one pass."""
    rows = engine.con.execute(f"DESCRIBE SELECT * FROM read_parquet({ql(path)})").fetchall()
    return tuple((r[0], str(r[1])) for r in rows)


def per_file(values: list[str], file_col: str = "_file") -> str:
    """SQL of a per-file constant (file name, run id) for a row of file number ``file_col``.

    One file: the literal itself. Several: a list literal indexed by the file number, which
    the engine evaluates per row without a join.
    """
    if len(values) == 1:
        return ql(values[0])
    return f"[{', '.join(ql(v) for v in values)}][{file_col} + 1]"


def stage_arrow(engine: Engine, name: str, data: pa.Table, *, first: bool) -> None:
    """Append an Arrow batch (e.g. streamed from XLSX) to temp table ``name``."""
    engine.con.register("_percorso_stage_batch", data)
    try:
        if first:
            engine.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {qi(name)} AS SELECT *, 0 AS _file FROM _percorso_stage_batch")
        else:
            engine.con.execute(f"INSERT INTO {qi(name)} SELECT *, 0 FROM _percorso_stage_batch")
    finally:
        engine.con.unregister("_percorso_stage_batch")


def column_types(engine: Engine, name: str) -> dict[str, str]:
    rows = engine.con.execute(f"DESCRIBE {qi(name)}").fetchall()
    return {r[0]: str(r[1]) for r in rows}


# -- expression builders (return SQL text for build_typed) ------------------------------
class JsonPaths:
    """Every JSON path the typed stage reads, each line parsed once for all of them.

    Why: ``json_extract_string(j, path)`` parses the line's text on every call, and a Segment
    line has ~31 paths, so each line was parsed ~31 times (most of the collector's typing
    time). The list forms ``json_extract_string(j, [paths])``, ``json_type(j, [paths])`` and
    ``json_extract(j, [paths])`` parse it once and return one value per path, the same values
    the single-path calls give; the typed expressions read their element (``_jx[i]``).
    ``columns()`` is the projection :func:`build_typed` adds over the stage.
    """

    LISTS = {"text": ("_jx", "json_extract_string"), "type": ("_jt", "json_type"), "json": ("_jr", "json_extract")}

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, int]] = {k: {} for k in self.LISTS}

    def ref(self, kind: str, path: str) -> str:
        """SQL of the value at ``path`` (``kind``: its text, its JSON type, or its JSON)."""
        seen = self.paths[kind]
        i = seen.setdefault(path, len(seen) + 1)  # DuckDB lists count from 1
        return f"{self.LISTS[kind][0]}[{i}]"

    def columns(self) -> list[tuple[str, str]]:
        out = []
        for kind, (col, fn) in self.LISTS.items():
            if self.paths[kind]:
                out.append((col, f"{fn}(j, [{', '.join(ql(p) for p in self.paths[kind])}])"))
        return out


def _json_text(path: str, paths: JsonPaths | None) -> str:
    return paths.ref("text", path) if paths is not None else f"json_extract_string(j, {ql(path)})"


def _json_value(path: str, paths: JsonPaths | None) -> str:
    return paths.ref("json", path) if paths is not None else f"json_extract(j, {ql(path)})"


def json_type_at(path: str, paths: JsonPaths | None) -> str:
    """SQL: the JSON type of the value at ``path`` of line ``j``."""
    return paths.ref("type", path) if paths is not None else f"json_type(j, {ql(path)})"


def src_expr(source: tuple[str, Any], paths: JsonPaths | None = None) -> str:
    """Raw text of a field: ``("col", name)``, ``("json", [paths])``, ``("concat", [cols])``.

    JSON sources read line ``j``; with ``paths`` they read the values :class:`JsonPaths`
    extracts once per line instead (the typed stage), without it they parse ``j`` themselves
    (a pass over the stage that reads one or two fields).
    ``("props_consent", (props, consent))``: the object at ``props`` with the value at
    ``consent`` set as its ``consent`` key (Segment's ``context.consent``; the object unchanged
    when there is none).
    """
    how, what = source
    if how == "col":
        return qi(what)
    if how == "json":
        parts = [_json_text(p, paths) for p in what]
        return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"
    if how == "jsonraw":
        return f"{_json_value(what, paths)}::VARCHAR"
    if how == "props_consent":
        props, consent = (_json_value(w, paths) for w in what)
        return (f"CASE WHEN {consent} IS NULL THEN {props}::VARCHAR ELSE json_merge_patch(coalesce({props}, '{{}}'), "
                f"json_object('consent', {consent}))::VARCHAR END")
    if how == "concat":  # column names, or (how, what) sources of JSON Lines
        # a date column typed as a date-time (Excel, Parquet) carries a midnight that is not a time
        texts = [f"NULLIF(trim(CAST({src_expr(c, paths) if isinstance(c, tuple) else qi(c)} AS VARCHAR)), '')"
                 for c in what]
        texts[0] = f"regexp_replace({texts[0]}, '[ T]00:00:00(\\.0+)?$', '')"
        return "concat_ws(' ', " + ", ".join(texts) + ")"
    if how == "sql":  # constant built by this module's callers from known-safe pieces
        return what
    raise ValueError(how)


NUMBER_PATTERNS = {
    "ambiguous": r"[+-]?[1-9]\d{0,2}[.,]\d{3}",
    "comma": r"[+-]?(\d{1,3}(\.\d{3})+(,\d+)?|\d*,\d+)",
    "dot": r"[+-]?(\d{1,3}(,\d{3})+(\.\d+)?|\d*\.\d+)",
}
"""What one written number says about its column's convention (regular expressions over the
text with spaces removed). ``1.299`` / ``1,299`` (one group of three digits after a leading
non-zero digit) fit both conventions; ``12,50``, ``1.234,5`` and ``1.234.567`` only the
decimal comma; ``12.50``, ``0.299`` and ``1,234.5`` only the decimal point."""
_NUMBER_OK = {
    "comma": r"[+-]?(\d{1,3}(\.\d{3})+|\d*)(,\d+)?",
    "dot": r"[+-]?(\d{1,3}(,\d{3})+|\d*)(\.\d+)?([eE][+-]?\d+)?",
    None: r"[+-]?\d+",
}
_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
DEFAULT_TRUE = ("true", "1", "yes", "y", "si", "sì", "s", "vero", "t")
DEFAULT_FALSE = ("false", "0", "no", "n", "falso", "f")


def number_text(raw: str) -> str:
    """A written number without blanks (``1 299,00`` and non-breaking spaces as thousands)."""
    return f"regexp_replace(trim(CAST({raw} AS VARCHAR)), '[\\s\u00a0\u202f]', '', 'g')"


def number_evidence(engine: Engine, stage: str, raws: dict[str, str],
                    pre: list[tuple[str, str]] = ()) -> dict[str, dict[str, int]]:
    """Per field, how many of its written values only fit a decimal comma, a decimal point, or both.

    One scan of the staged file over every numeric column at once: the convention of a
    column is decided from all of its values, not from a sample (:data:`NUMBER_PATTERNS`).
    ``pre`` (column, SQL over the stage) are computed once per row before ``raws`` read them
    (:meth:`JsonPaths.columns`: one parse of a JSON line for all of its numeric paths).
    """
    if not raws:
        return {}
    sel = []
    for i, raw in enumerate(raws.values()):
        v = number_text(raw)
        amb = f"regexp_full_match({v}, {ql(NUMBER_PATTERNS['ambiguous'])})"
        sel += [f"count(*) FILTER ({amb})",
                f"count(*) FILTER (NOT {amb} AND regexp_full_match({v}, {ql(NUMBER_PATTERNS['comma'])}))",
                f"count(*) FILTER (NOT {amb} AND regexp_full_match({v}, {ql(NUMBER_PATTERNS['dot'])}))"]
    row = engine.con.execute(f"SELECT {', '.join(sel)} FROM {_with_pre(stage, pre)} s").fetchall()[0]
    return {f: {"ambiguous": int(row[3 * i]), "comma": int(row[3 * i + 1]), "dot": int(row[3 * i + 2])}
            for i, f in enumerate(raws)}


def _with_pre(stage: str, pre: list[tuple[str, str]]) -> str:
    """The stage as a FROM item, with the ``pre`` columns (name, SQL over it) computed once per row."""
    if not pre:
        return qi(stage)
    return f"(SELECT s.*, {', '.join(f'{e} AS {qi(n)}' for n, e in pre)} FROM {qi(stage)} s)"


def is_numeric_type(sql_type: str) -> bool:
    return sql_type.upper().startswith(_NUMERIC_TYPES)


def typed_expr(raw: str, ftype: str, *, sql_type: str, tz: str, decimal: str | None = None,
               date_format: str | None = None, true_values: tuple[str, ...] = DEFAULT_TRUE,
               false_values: tuple[str, ...] = DEFAULT_FALSE, zone: ZonePieces | None = None) -> str:
    """Typed value of ``raw`` (NULL when unreadable); ``sql_type`` is the staged column type.

    ``decimal`` is the column's number convention: ``"comma"`` (``1.299,50``), ``"dot"``
    (``1,299.50``) or None (undecided: only whole numbers without separators are read, so an
    ambiguous ``1.299`` is quarantined rather than guessed). Whole-number fields refuse a
    fractional value (clicks 1.7) instead of rounding it; numbers refuse typed columns of
    another kind (a boolean Parquet column); booleans are read from an explicit vocabulary
    only (an empty string in ``false_values`` reads a blank as false: the ``x``/blank style).
    ``zone``: the pieces of ``tz`` over the column's times (:func:`zone_pieces`), for a column
    of wall times (``TIMESTAMP``, ``DATE``) converted by offsets rather than row by row.
    """
    fmts = "[" + ", ".join(ql(f) for f in ([date_format] if date_format else []) + TS_FORMATS) + "]"
    if ftype in ("str", "json"):
        return f"NULLIF(trim(CAST({raw} AS VARCHAR)), '')"
    if ftype == "ts":
        if sql_type.startswith("TIMESTAMP WITH TIME ZONE"):
            return f"CAST({raw} AT TIME ZONE 'UTC' AS TIMESTAMP)"
        if sql_type.startswith("TIMESTAMP") or sql_type == "DATE":
            return wall_to_utc(f"CAST({raw} AS TIMESTAMP)", tz, zone)
        if sql_type != "VARCHAR":
            return "NULL::TIMESTAMP"
        s = f"trim({raw})"
        return (f"CASE WHEN regexp_matches({s}, {ql(_OFFSET_RE)}) THEN CAST(TRY_CAST({s} AS TIMESTAMPTZ) AT TIME "
                f"ZONE 'UTC' AS TIMESTAMP) ELSE CAST(timezone({ql(tz)}, COALESCE(TRY_CAST({s} AS TIMESTAMP), "
                f"TRY_STRPTIME({s}, {fmts}))) AT TIME ZONE 'UTC' AS TIMESTAMP) END")
    if ftype == "date":
        if sql_type in ("DATE",) or sql_type.startswith("TIMESTAMP"):
            return f"CAST({raw} AS DATE)"
        if sql_type != "VARCHAR":
            return "NULL::DATE"
        s = f"trim({raw})"
        return f"COALESCE(TRY_CAST({s} AS DATE), CAST(TRY_STRPTIME({s}, {fmts}) AS DATE))"
    if ftype in ("num", "int"):
        if sql_type != "VARCHAR":
            if not is_numeric_type(sql_type):
                return "NULL::DOUBLE" if ftype == "num" else "NULL::BIGINT"
            if ftype == "num":
                return f"TRY_CAST({raw} AS DOUBLE)"
            return f"CASE WHEN CAST({raw} AS DOUBLE) = trunc(CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS BIGINT) END"
        s = number_text(raw)
        clean = {"comma": f"replace(replace({s}, '.', ''), ',', '.')", "dot": f"replace({s}, ',', '')", None: s}[decimal]
        num = f"CASE WHEN regexp_full_match({s}, {ql(_NUMBER_OK[decimal])}) THEN TRY_CAST({clean} AS DOUBLE) END"
        if ftype == "int":
            return f"CASE WHEN {num} = trunc({num}) THEN TRY_CAST({num} AS BIGINT) END"
        return num
    if ftype == "bool":
        if sql_type == "BOOLEAN":
            return raw
        s = f"lower(trim(CAST({raw} AS VARCHAR)))"
        t = ", ".join(ql(v.lower()) for v in true_values if v != "")
        f = ", ".join(ql(v.lower()) for v in false_values if v != "")
        blank = "" in false_values
        return (f"CASE WHEN {s} IN ({t or 'NULL'}) THEN true WHEN {s} IN ({f or 'NULL'}) THEN false "
                + (f"WHEN coalesce({s}, '') = '' THEN false " if blank else "") + "END")
    raise ValueError(ftype)


def wall_to_utc_icu(ts: str, tz: str) -> str:
    """SQL: the naive wall time ``ts`` of zone ``tz`` as naive UTC, converted by the engine (ICU) row by row."""
    return f"CAST(timezone({ql(tz)}, {ts}) AT TIME ZONE 'UTC' AS TIMESTAMP)"


ZonePieces = list[tuple[str | None, int | None]]
"""A zone's wall-time line cut into pieces, in order: (upper bound, offset); each piece covers
the wall times from the previous bound (from the start for the first) up to its own (to the
end for the last, whose bound is ``None``). The offset is in microseconds (UTC = wall −
offset), ``None`` where the engine converts row by row (see :func:`zone_pieces`)."""


_ZONE_SPAN = dt.timedelta(days=20 * 365 + 5)
"""The longest span of wall times :func:`zone_pieces` converts by offsets, up to the column's
last (~175,000 hours, ~0.1 s); older times go to the engine, row by row."""


def zone_pieces(engine: Engine, stage: str, column: str, tz: str) -> ZonePieces | None:
    """The wall-time pieces of zone ``tz`` over the times of column ``column`` of ``stage``
    (a ``TIMESTAMP`` or ``DATE`` column of wall times); ``None`` when it holds no time.

    Why: the engine converts a wall time to UTC through ICU at ~150-200 ns a row (2 CPU s of
    a 10M-row import), but a zone's offset changes only at its transitions, months apart.
    Every wall-clock hour from the column's first to its last is converted once here, at its
    first and last microsecond; an hour whose two ends and both neighbours' ends give one
    offset is converted by that offset (:func:`wall_to_utc`), the others (the hours around
    a transition: a skipped or repeated hour, a change off the hour) and any time outside the
    column's span (or more than :data:`_ZONE_SPAN` before its last) by the engine, row by row, as
    before: the same values either way
    (``tests/ingest/test_zone_pieces.py``).
    """
    lo, hi = engine.con.execute(
        f"SELECT date_trunc('hour', min(CAST({qi(column)} AS TIMESTAMP))), "
        f"date_trunc('hour', max(CAST({qi(column)} AS TIMESTAMP))) FROM {qi(stage)}").fetchall()[0]
    if lo is None:
        return None
    lo = max(lo, hi - _ZONE_SPAN)  # a stray old time (quarantined later, or kept) is converted by the engine
    # each hour's offset at its first and last microsecond, and whether it and its neighbours agree
    rows = engine.con.execute(
        "SELECT CAST(h + INTERVAL 1 HOUR AS VARCHAR), o1, coalesce(o1 = o2 AND o1 = lag(o2) OVER w "
        "AND o2 = lead(o1) OVER w, false) FROM ("
        f"SELECT h, epoch_us(h) - epoch_us({wall_to_utc_icu('h', tz)}) AS o1, "
        f"epoch_us(e) - epoch_us({wall_to_utc_icu('e', tz)}) AS o2 FROM (SELECT h, h + INTERVAL 1 HOUR - INTERVAL 1 "
        "MICROSECOND AS e FROM range(?::TIMESTAMP - INTERVAL 1 HOUR, ?::TIMESTAMP + INTERVAL 2 HOUR, INTERVAL 1 HOUR) "
        "r(h))) WINDOW w AS (ORDER BY h) ORDER BY h", [lo, hi]).fetchall()
    pieces: ZonePieces = [(str(lo), None)]  # before the first hour: the engine
    for upper, off, same in rows[1:-1]:  # the outer two hours only give their neighbours' ends
        piece = int(off) if same else None
        if pieces[-1][1] == piece:
            pieces.pop()
        pieces.append((upper, piece))
    if pieces[-1][1] is None:
        pieces.pop()
    return pieces + [(None, None)]  # after the last hour: the engine


def wall_to_utc(ts: str, tz: str, pieces: ZonePieces | None) -> str:
    """SQL: the naive wall time ``ts`` of zone ``tz`` as naive UTC, by the offsets of ``pieces``
    (:func:`zone_pieces`), by the engine where a piece has none. Same values as
    :func:`wall_to_utc_icu`; a balanced tree of comparisons, so a file spanning decades of
    transitions costs a few comparisons a row."""
    icu = wall_to_utc_icu(ts, tz)
    if not pieces:
        return icu

    def tree(part: ZonePieces) -> str:
        if len(part) == 1:
            off = part[0][1]
            return icu if off is None else f"({ts} - INTERVAL '{int(off)} microseconds')"
        mid = len(part) // 2
        return f"CASE WHEN {ts} < TIMESTAMP {ql(part[mid - 1][0])} THEN {tree(part[:mid])} ELSE {tree(part[mid:])} END"

    return tree(pieces)


def build_typed(engine: Engine, out: str, stage: str, select: list[tuple[str, str]],
                checks: list[tuple[str, str, str]], derived: list[tuple[str, str]],
                post: list[tuple[str, str]] = (), pre: list[tuple[str, str]] = (),
                lookups: list[tuple[str, str, str]] = (), stage_where: str | None = None) -> None:
    """Create temp table ``out``: ``_line``, ``_file``, typed columns, derived columns, first failing check.

    Materialised once: as a view, each later pass (counts, quarantine, insert) typed the rows
    again and the import took ~40% more CPU on 1M-row Parquet files. The rows and columns are
    those of :func:`typed_select` (``stage_where``: only the rows it keeps).
    """
    # every reader of the typed rows groups, joins or orders them by (_file, _line): their order in
    # the table means nothing, and keeping it made the statement wait on its slowest thread
    with engine.unordered_writes():
        engine.con.execute(f"CREATE OR REPLACE TEMP TABLE {qi(out)} AS "
                           + typed_select(stage, select, checks, derived, post, pre, lookups, stage_where=stage_where))


def typed_select(stage: str, select: list[tuple[str, str]], checks: list[tuple[str, str, str]],
                 derived: list[tuple[str, str]], post: list[tuple[str, str]] = (), pre: list[tuple[str, str]] = (),
                 lookups: list[tuple[str, str, str]] = (), *, messages: bool = True, where: str | None = None,
                 stage_where: str | None = None) -> str:
    """SQL of the typed rows of ``stage``: ``_line``, ``_file``, typed columns, derived columns, first failing check.

    ``select`` is (column, SQL expr over the stage); ``derived`` (column, SQL expr over the
    typed columns); ``post`` (column, SQL expr over the derived ones: the event id of the key); ``checks`` (reason code, failing condition, message expression),
    evaluated in order, the first that fails gives ``_reason`` and ``_message`` (``messages``
    False: ``_reason`` only, for a reader of the good rows); ``pre``
    (column, SQL expr over the stage) are computed once per row before ``select`` reads them
    (:meth:`JsonPaths.columns`); ``lookups`` (table, alias, SQL key over the typed columns) are
    joined to the typed columns (``LEFT JOIN table alias ON alias.k = key``, ``k`` unique) for
    the derived ones to read (:func:`lookup_event_type`); ``where`` (SQL over the typed columns)
    keeps only the rows it holds for, before the derived ones are computed; ``stage_where`` (SQL over
    the stage's row, ``pre`` columns included), before the typed ones are.
    """
    source = _with_pre(stage, pre)
    if stage_where:
        source = f"(SELECT * FROM {source} s WHERE {stage_where})"
    joins = "".join(f" LEFT JOIN {qi(tab)} {qi(al)} ON {qi(al)}.k = {key}" for tab, al, key in lookups)
    inner = ", ".join(f"{e} AS {qi(n)}" for n, e in select)
    mid = ", ".join(f"{e} AS {qi(n)}" for n, e in derived) or "NULL AS _nothing"
    last = ", ".join(f"{e} AS {qi(n)}" for n, e in post) or "NULL AS _nothing2"
    reason = ("CASE " + " ".join(f"WHEN {c} THEN {ql(code)}" for code, c, _ in checks) + " END") if checks else "NULL"
    message = ("CASE " + " ".join(f"WHEN {c} THEN {m}" for _, c, m in checks) + " END") if checks else "NULL"
    # (the filter below the derived columns: the key of a row it drops is never computed)
    kept = f" WHERE {where}" if where else ""
    typed = (f"SELECT t1.*, {mid} FROM (SELECT s._line AS _line, s._file AS _file, {inner} FROM {source} s) "
             f"t1{joins}{kept}")
    return (f"SELECT *, {reason} AS _reason{f', {message} AS _message' if messages else ''} FROM "
            f"(SELECT *, {last} FROM ({typed}) t2) t3")


CHECKED = "_ing_checked"
"""Temp table of :func:`checked_pass`: what a first import needs of its rows besides the rows."""
CHECKED_SETS = {"rows": "_reason", "names": "_nm", "channels": "_ch", "urls": "_url", "repeats": "_h"}
"""Kinds of :data:`CHECKED` rows (``kind``), by the column each is grouped by: ``rows`` one per file
and its good rows (``n``) and one per bad row (``_line``, ``_reason``, ``_message``); ``names`` the
good rows of each generic event name (``_nm``) per file; ``channels`` and ``urls`` the distinct
channel labels (``_ch``) and page URLs with a query string (``_url``) of the good rows; ``repeats``
the content hashes (``_h``) that more than one good row has."""


def checked_pass(engine: Engine, rows: str, *, generic_type: str | None, channel: bool, url: bool,
                 content_hash: str | None) -> None:
    """Temp table :data:`CHECKED` from the typed rows ``rows`` (SQL, :func:`typed_select` without the
    key), in one grouped pass (:data:`CHECKED_SETS`).

    Why: a first import inserts its rows straight from the typed select (ADR 0072); what the
    other readers of the typed table took from it (the file counts, the quarantine, the generic
    names, the channel and URL maps, the candidates for renumbering) is grouped here instead,
    without the content key, whose hash is most of the typing's cost. ``content_hash``: SQL of a
    hash that rows with the same content key share (``percorso.ingest.plan.content_hash``); the
    rows it repeats on are the only ones that may be copies.
    """
    parts = {"_nm": f"CASE WHEN _reason IS NULL AND _evt = {ql(generic_type)} THEN event_name END" if generic_type
                    else None,
             "_ch": "CASE WHEN _reason IS NULL THEN channel END" if channel else None,
             "_url": "CASE WHEN _reason IS NULL AND contains(page_url, '=') THEN page_url END" if url else None,
             "_h": f"CASE WHEN _reason IS NULL THEN {content_hash} END" if content_hash else None}
    sets = {"rows": "_file, _reason, _bl, _bm", "names": "_file, _nm", "channels": "_ch", "urls": "_url",
            "repeats": "_h"}
    used = [k for k, col in CHECKED_SETS.items() if k == "rows" or parts[col] is not None]
    cols = [CHECKED_SETS[k] for k in used]
    # GROUPING(cols): a bit per column, the first the highest, set where the row's set does not group by it
    mask = {k: sum(1 << (len(cols) - 1 - i) for i, c in enumerate(cols) if c != CHECKED_SETS[k]) for k in used}
    kind = ("CASE GROUPING(" + ", ".join(cols) + ") " + " ".join(f"WHEN {m} THEN {ql(k)}" for k, m in mask.items())
            + " END")
    values = ", ".join(f"{e} AS {n}" for n, e in parts.items() if e)
    out = ", ".join(n if e else f"NULL::{'UBIGINT' if n == '_h' else 'VARCHAR'} AS {n}" for n, e in parts.items())
    engine.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CHECKED} AS SELECT * FROM (SELECT {kind} AS kind, _file, _reason, "
        f"_bl AS _line, _bm AS _message, {out}, count(*) AS n FROM (SELECT _file, _reason, "
        f"CASE WHEN _reason IS NOT NULL THEN _line END AS _bl, CASE WHEN _reason IS NOT NULL THEN _message END AS _bm, "
        f"{values} FROM ({rows}) r) c GROUP BY GROUPING SETS ({', '.join(f'({sets[k]})' for k in used)})) "
        f"WHERE CASE kind WHEN 'rows' THEN true WHEN 'repeats' THEN _h IS NOT NULL AND n > 1 "
        f"ELSE coalesce(_nm, _ch, _url) IS NOT NULL END")


def checked_rows(kind: str) -> str:
    """SQL (a parenthesised FROM item) of the :data:`CHECKED` rows of one kind of :data:`CHECKED_SETS`."""
    return f"(SELECT * FROM {CHECKED} WHERE kind = {ql(kind)})"


NO_ROWS = "false"
"""A ``stage_where`` of :func:`build_typed` that keeps no row: the table is made with its columns, the file unread."""


def lines_not_in(table: str) -> str:
    """A ``where`` of :func:`typed_select`: the rows whose line is not one of temp table ``table``'s
    (one file: a line names a row)."""
    return f"t1._line NOT IN (SELECT _line FROM {qi(table)})"


def checked_total(engine: Engine, kind: str) -> int:
    """How many :data:`CHECKED` rows of one kind there are (``repeats``: the content hashes more than one
    good row has)."""
    return int(engine.con.execute(f"SELECT count(*) FROM {checked_rows(kind)} c").fetchall()[0][0])


def checked_counts(engine: Engine) -> dict[int, tuple[int, int]]:
    """File number → (good rows, bad rows), from :data:`CHECKED` (as :func:`file_counts` from the typed table)."""
    rows = engine.con.execute(
        f"SELECT _file, coalesce(sum(n) FILTER (_reason IS NULL), 0), coalesce(sum(n) FILTER (_reason IS NOT NULL), 0) "
        f"FROM {checked_rows('rows')} GROUP BY _file").fetchall()
    return {int(f): (int(g), int(b)) for f, g, b in rows}


def checked_generic_names(engine: Engine) -> dict[int, dict[str, int]]:
    """File number → {generic event name: good rows}, most rows first, from :data:`CHECKED`
    (as :func:`generic_names` from the typed table)."""
    rows = engine.con.execute(
        f"SELECT _file, _nm, n FROM {checked_rows('names')} ORDER BY _file, n DESC, _nm").fetchall()
    out: dict[int, dict[str, int]] = {}
    for f, name, n in rows:
        out.setdefault(int(f), {})[name] = int(n)
    return out


def id_scheme(engine: Engine) -> int:
    """The project's event id scheme (``percorso.ingest.plan.ID_SCHEMES``, ADR 0063): the one
    migration 6 recorded in ``project_meta``; 1 for a database without the record (its rows
    were keyed before schemes were recorded)."""
    if not engine.has_table("project_meta"):
        return 1
    rows = engine.con.execute("SELECT value FROM project_meta WHERE key = 'id_scheme'").fetchall()
    return int(rows[0][0]) if rows else 1


def number_content_keys(engine: Engine, typed: str, copy_id: Callable[[str, str], str]) -> int:
    """Renumber the repeated copies of a content; returns how many good rows are keyed by content.

    Two identical rows of one export are two records (two page views in the same second):
    the n-th copy of a content is ``c:<hash>:n``, so another export holding the same rows, in
    any order and with any overlap, numbers them alike. The typed stage already keyed every
    content row as the first copy (``c:<hash>:1``, by ``_key`` NULL: ``plan.record_key``); only
    the good rows whose content repeats in their file get their key here, in line order (usually none: an UPDATE of every
    content row was a fifth of a 1M-row clickstream import). ``copy_id`` gives the SQL of the
    event id of a copy from the SQL of its content key and number (``plan.copy_id_sql``).
    """
    con = engine.con
    t = qi(typed)
    good = f"_ckey IS NOT NULL AND _reason IS NULL"
    n = con.execute(f"SELECT count(*) FROM {t} WHERE {good}").fetchall()[0][0]
    if not n:
        return 0
    # the candidates by a 64-bit hash of the content key (a superset of the repeated contents: a
    # collision, or a content repeated in another file of the batch, only adds rows), then numbered
    # by file and key: grouping 10M 32-character keys cost 1.8-2.8 CPU s, their hashes 1.2-1.3 (ADR
    # 0035), the hash alone rather than with the file ~0.5 s less (ADR 0053)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _ing_copies AS SELECT f, l, _ckey, n, 'c:' || _ckey || ':' || n AS k FROM ("
        f"SELECT _file AS f, _line AS l, _ckey, row_number() OVER (PARTITION BY _file, _ckey ORDER BY _line) AS n "
        f"FROM {t} WHERE {good} AND hash(_ckey) IN (SELECT hash(_ckey) FROM {t} WHERE {good} "
        f"GROUP BY hash(_ckey) HAVING count(*) > 1)) WHERE n > 1")
    if con.execute("SELECT count(*) FROM _ing_copies").fetchall()[0][0]:
        con.execute(f"UPDATE {t} SET _key = c.k, _event_id = {copy_id('c._ckey', 'c.n')} FROM _ing_copies c "
                    f"WHERE {t}._file = c.f AND {t}._line = c.l")
    con.execute("DROP TABLE _ing_copies")
    return int(n)


def quarantine_whole_orders(engine: Engine, typed: str, code: str) -> int:
    """Mark every good line of an order (``_okey``, per file) that has a bad line; returns how many.

    Why: storing the other lines would give the order a wrong revenue, and the corrected
    export would then be a "duplicate" that can never fix it. The message names the first
    bad line and its reason.
    """
    con = engine.con
    t = qi(typed)
    con.execute(
        f"UPDATE {t} SET _reason = ?, _message = 'order ' || b._okey || ': row ' || b.bad_line || ' is ' || b.r "
        f"|| ' (' || coalesce(b.m, '') || '); the whole order is quarantined (' || b.n || ' bad row(s)): "
        f"correct that row and import the corrected file' FROM (SELECT _file AS f, _okey, min(_line) AS bad_line, "
        f"arg_min(_reason, _line) AS r, arg_min(_message, _line) AS m, count(*) AS n FROM {t} "
        f"WHERE _reason IS NOT NULL AND _okey IS NOT NULL AND _okey <> '' GROUP BY ALL) b "
        f"WHERE {t}._reason IS NULL AND {t}._file = b.f AND {t}._okey = b._okey", [code])
    return int(con.execute(f"SELECT count(*) FROM {t} WHERE _reason = ?", [code]).fetchall()[0][0])


def lookup_event_type(table: str, name_sql: str, alias: str = "_evm") -> tuple[str, tuple[str, str, str]]:
    """Canonical type of an event name in a (k, event_type) table (:func:`event_type_table`, one
    row per ``k``): (SQL of it, the lookup :func:`build_typed` joins for it).

    Why a join: as a correlated subquery, the engine decorrelated the lookup by materialising
    every typed row first (the typed stage of 10M rows: ~0.9 s of its ~8 s, ADR 0053).
    """
    return f"{qi(alias)}.event_type", (table, alias, name_key_sql(name_sql))


EVENT_NAMES = "_ing_evnames"
"""Temp table (k, event_type, key_json) of a batch's distinct event names (:func:`event_name_map`)."""


def event_name_map(engine: Engine, types: str, stage: str, name_sql: str, pre: list[tuple[str, str]] = (),
                   alias: str = "_evm") -> tuple[str, tuple[str, str, str], str]:
    """:data:`EVENT_NAMES`: each distinct event name of ``stage`` as written (``name_sql``, its typed
    SQL over the stage), its canonical type in ``types`` (:func:`event_type_table`) and the JSON
    text of its lowercased form, as a content key writes it (``plan._key_text``); returns (SQL of
    the type, the lookup :func:`build_typed` joins by the name as written, SQL of the key's text).

    Why: a file repeats a handful of names over millions of rows. Joined by the normalised name
    (:func:`lookup_event_type`), every row's name was lowercased, trimmed and replaced twice, and
    its key text written by ``to_json``, in the grouped pass and again in the insert (10M rows:
    ~1.2 CPU s each pass, ~0.45 s the text, against ~0.7 s for this scan of one column, ADR 0078).
    """
    engine.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {EVENT_NAMES} AS SELECT d.k, m.event_type, "
        f"CAST(to_json(lower(d.k)) AS VARCHAR) AS key_json FROM (SELECT DISTINCT {name_sql} AS k "
        f"FROM {_with_pre(stage, pre)} s) d LEFT JOIN {qi(types)} m ON m.k = {name_key_sql('d.k')} "
        f"WHERE d.k IS NOT NULL")
    return f"{qi(alias)}.event_type", (EVENT_NAMES, alias, "event_name"), f"{qi(alias)}.key_json"


def json_keys(engine: Engine, stage: str) -> list[str]:
    """Top-level keys of the JSON objects of a staged JSON Lines file (first-seen order)."""
    rows = engine.con.execute(
        f"SELECT k FROM (SELECT unnest(json_keys(j)) AS k, _line FROM {qi(stage)} WHERE j IS NOT NULL) "
        f"GROUP BY k ORDER BY min(_line)").fetchall()
    return [r[0] for r in rows]


def event_type_table(engine: Engine, name: str, mapping: dict[str, str], value: str = "event_type") -> None:
    """Temp table (k, ``value``) for names → canonical types (keys already normalised); with
    ``value="channel_name"``, channel labels → channel names (:func:`channel_label_table`).

    Made from two bound lists, not a registered Arrow table: registering one makes DuckDB's
    module import pandas (~0.15 s of every import process that needs nothing else of it)."""
    engine.con.execute(f"CREATE OR REPLACE TEMP TABLE {qi(name)} AS SELECT unnest(?::VARCHAR[]) AS k, "
                       f"unnest(?::VARCHAR[]) AS {qi(value)}", [list(mapping), list(mapping.values())])


CHANNEL_LABELS_TABLE = "_ing_chlabels"
"""Temp table (k, channel_name) of a batch's channel labels (:func:`channel_label_table`)."""


def channel_label_table(engine: Engine, labels: dict[str, str]) -> None:
    """:data:`CHANNEL_LABELS_TABLE` from normalised label → channel name
    (:data:`percorso.events.channel_labels.CHANNEL_LABELS` and the source's own). Its value
    column is not ``channel``: the typed rows it is joined to have one."""
    event_type_table(engine, CHANNEL_LABELS_TABLE, labels, "channel_name")


def channel_name_sql(looked_up: str, label: str, *, unnamed_kept: bool = False) -> str:
    """SQL of the channel a label gives: the name the table gives it (``looked_up``: NULL when
    the table does not know the label), else the label as written (trimmed). A word that names
    no channel (``''`` in the table: ``browser``, ``web`` ...) gives none, or, ``unnamed_kept``,
    the label as written: a cost row's channel (ADR 0056; spend has no rules to fall back on)."""
    if unnamed_kept:
        return f"coalesce(nullif({looked_up}, ''), trim({label}))"
    return f"nullif(coalesce({looked_up}, trim({label})), '')"


def channel_map(engine: Engine, typed: str, name: str, labels: dict[str, str], values: str | None = None) -> None:
    """Temp table ``name`` (raw, channel): the channel of each *distinct* label of the good rows'
    ``channel`` (a clickstream's own channel column, :func:`channel_name_sql`). Joined back
    by value in the events insert, as the page URLs are: a file repeats a handful of labels over
    millions of rows. ``values``: SQL of those labels (``raw``, not NULL) when they are not read
    from the typed table (a first import's :data:`CHECKED`)."""
    channel_label_table(engine, labels)
    values = values or f"SELECT channel AS raw FROM {qi(typed)} WHERE _reason IS NULL AND channel IS NOT NULL"
    engine.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {qi(name)} AS SELECT d.raw, {channel_name_sql('l.channel_name', 'd.raw')} "
        f"AS channel FROM (SELECT DISTINCT raw FROM ({values}) v) d "
        f"LEFT JOIN {CHANNEL_LABELS_TABLE} l ON l.k = {name_key_sql('d.raw')}")
    engine.con.execute(f"DROP TABLE {CHANNEL_LABELS_TABLE}")


def cost_channel(engine: Engine, labels: dict[str, str]) -> tuple[str, tuple[str, str, str]]:
    """A cost row's channel (ADR 0056): (SQL of the channel name of the typed ``channel``, the
    lookup :func:`build_typed` joins for it). The labels stay in :data:`CHANNEL_LABELS_TABLE`
    for :func:`restate_costs` (dropped with the batch's other temp tables). Why in the typed
    stage, not joined at the insert as the events' are: the name is part of the row's key."""
    channel_label_table(engine, labels)
    return (channel_name_sql("_chm.channel_name", "channel", unnamed_kept=True),
            (CHANNEL_LABELS_TABLE, "_chm", name_key_sql("channel")))


def json_value_text(value: str, plain: bool = False, written: bool = False) -> str:
    """SQL of the JSON text of a value (``null`` for NULL), as ``to_json`` writes it.

    ``plain``: the value's text never holds a character JSON escapes (a quote, a backslash, a
    control character: the text of a time, date, number or boolean), so it is only quoted; the
    engine's ``to_json`` of 10M times cost ~0.17 s more than the quotes (ADR 0067). ``written``:
    ``value`` is already that JSON text, or NULL (an event name's, looked up: :func:`event_name_map`).
    """
    if written:
        return f"coalesce({value}, 'null')"
    if plain:   # one concatenation rather than two (~0.1 CPU s of 10M numbers, ADR 0078)
        return f"CASE WHEN {value} IS NULL THEN 'null' ELSE concat('\"', {value}, '\"') END"
    return f"coalesce(CAST(to_json({value}) AS VARCHAR), 'null')"


def json_pairs_text(pairs: list[tuple[str, str]], plain: frozenset[str] = frozenset(),
                    written: frozenset[str] = frozenset()) -> str:
    """SQL of ``CAST(to_json([name1, value1, name2, value2, ...]) AS VARCHAR)`` over VARCHAR values,
    written as one concatenation of each value's own JSON text (a name of plain word characters as a constant).

    Why: a content key hashes that text (ADR 0061: its definition never changes, so a file imported
    before is recognised); building a list of every row's values and writing it as a JSON document
    cost more than writing each value alone. The engine writes a string as one JSON string the same
    way alone or in a list (quotes, backslashes, control characters, non-ASCII kept as they are) and
    a NULL as ``null``: ``tests/ingest/test_content_key_text.py`` compares both on random values.

    ``plain``: the names whose values never need an escape, ``written``: those whose values are
    their JSON text already (:func:`json_value_text`).

    Examples
    --------
    >>> print(json_pairs_text([("a", "x")]))
    concat('["a",', coalesce(CAST(to_json(x) AS VARCHAR), 'null'), ']')
    """
    if not pairs:
        return "'[]'"
    return f"concat({', '.join(_named_parts(pairs, '[', ',', plain, written))}, ']')"


def json_object_text(pairs: list[tuple[str, str]]) -> str:
    """SQL of ``CAST(json_object(name1, value1, name2, value2, ...) AS VARCHAR)``, written as one
    concatenation of each value's own JSON text (values of any type).

    Why: the columns of a file no field claims are kept in ``properties`` as that object; building
    a JSON document a row and writing it cost ~0.95 CPU s for two columns of the 10M-row bench file,
    the concatenation of their ``to_json`` texts ~0.6 (the engine writes a column's distinct values
    once, ADR 0091). The engine writes a value the same way alone or in an object (a NULL as
    ``null``): ``tests/ingest/test_content_key_text.py`` compares both on values of every type.

    Examples
    --------
    >>> print(json_object_text([("a", "x")]))
    concat('{"a":', coalesce(CAST(to_json(x) AS VARCHAR), 'null'), '}')
    """
    if not pairs:
        return "'{}'"
    return f"concat({', '.join(_named_parts(pairs, '{', ':'))}, '}}')"


def _named_parts(pairs: list[tuple[str, str]], opening: str, after_name: str, plain: frozenset[str] = frozenset(),
                 written: frozenset[str] = frozenset()) -> list[str]:
    """SQL pieces of a JSON list (``opening`` ``[``, names followed by ``,``) or object (``{``, ``:``) of
    names and values, each value's JSON text as :func:`json_value_text` writes it."""
    parts = []
    for i, (name, value) in enumerate(pairs):
        start = opening if i == 0 else ","
        if re.fullmatch(r"[A-Za-z0-9_]+", name):
            parts.append(ql(f'{start}"{name}"{after_name}'))
        else:   # a field a mapping names freely (quotes, spaces, accents): the engine writes its JSON
            parts.extend([ql(start), f"CAST(to_json({ql(name)}) AS VARCHAR)", ql(after_name)])
        parts.append(json_value_text(value, name in plain, name in written))
    return parts


def json_values_text(values: list[str], plain: tuple[bool, ...] = (), written: tuple[bool, ...] = (),
                     head: str | None = None) -> str:
    """SQL of ``CAST(to_json([value1, value2, ...]) AS VARCHAR)`` over VARCHAR values, written value
    by value as :func:`json_pairs_text` does (the content key of id scheme 2, ADR 0063); ``plain[i]``:
    value ``i`` never needs an escape, ``written[i]``: it is its JSON text already (:func:`json_value_text`).
    ``head``: SQL of a text written before it in the same concatenation (one string a row, not two).

    Examples
    --------
    >>> print(json_values_text(["x"]))
    concat('[', coalesce(CAST(to_json(x) AS VARCHAR), 'null'), ']')
    """
    parts = [head] if head else []
    for i, value in enumerate(values):
        parts += [ql("[" if i == 0 else ","), json_value_text(value, i < len(plain) and plain[i],
                                                              i < len(written) and written[i])]
    if not values:
        parts.append("'['")
    return f"concat({', '.join(parts)}, ']')" if len(parts) > 1 else "'[]'"


def id_part_sql(v: str) -> str:
    """Key text of an identifier: trimmed; a number written with leading zeros is the same number.

    Only a value starting with ``0`` is matched against the pattern: any other is its own text
    either way (nothing to strip), and the match cost ~0.13 s of a 10M-row import (ADR 0067).
    """
    return (f"CASE WHEN starts_with({v}, '0') AND regexp_full_match({v}, '[0-9]+') "
            f"THEN coalesce(NULLIF(ltrim({v}, '0'), ''), '0') ELSE {v} END")


def raw_csv_expr(cols: list[str], delim: str) -> str:
    """Row text rebuilt from its fields (CSV rows that parsed but failed validation)."""
    return "concat_ws(" + ql(delim) + ", " + ", ".join(f"coalesce(CAST(s.{qi(c)} AS VARCHAR), '')" for c in cols) + ")"


def raw_json_row_expr(cols: list[str]) -> str:
    return "CAST(json_object(" + ", ".join(f"{ql(c)}, CAST(s.{qi(c)} AS VARCHAR)" for c in cols) + ") AS VARCHAR)"


def distinct_values(engine: Engine, table: str, col: str) -> pa.Array:
    """Distinct non-null values of a column of the good rows (for Python normalisation)."""
    import pyarrow as pa  # here: an import without identifiers to normalise never loads pyarrow (~0.15 s)

    t = engine.con.sql(
        f"SELECT DISTINCT {qi(col)} AS v FROM {qi(table)} WHERE _reason IS NULL AND {qi(col)} IS NOT NULL"
    ).to_arrow_table()
    return t.column("v").combine_chunks() if t.num_rows else pa.array([], pa.string())


def url_param_expr(url: str, param: str) -> str:
    return f"NULLIF(url_decode(regexp_extract({url}, {ql('[?&]' + param + '=([^&#]*)')}, 1)), '')"


def click_id_exprs(url: str) -> tuple[str, str]:
    pat = ql("[?&](" + "|".join(CLICK_ID_PARAMS) + ")=([^&#]*)")
    return (f"NULLIF(regexp_extract({url}, {pat}, 1), '')", f"NULLIF(url_decode(regexp_extract({url}, {pat}, 2)), '')")


def quarantine_insert(engine: Engine, typed: str, stage: str, raw_expr: str, *, source_name: str,
                      source_kind: str, files: list[str], run_ids: list[str], rows: str | None = None) -> None:
    """Copy the bad rows of ``typed`` to ``quarantine`` (skipping ones already there).

    The raw text is rebuilt from the stage (alias ``s``) for the bad rows only; ``files`` and
    ``run_ids`` are indexed by the rows' ``_file``. ``rows``: a FROM item of the rows
    (``_file``, ``_line``, ``_reason``, ``_message``) in place of the table (a first import's
    :data:`CHECKED`).
    """
    con = engine.con
    frm = rows or qi(typed)
    if not con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {frm} WHERE _reason IS NOT NULL LIMIT 1)").fetchone()[0]:
        return
    con.execute(
        f"INSERT INTO quarantine SELECT ?, ?, b._fname, b._line, b._reason, b._message, b._raw, b._run, "
        f"now()::TIMESTAMP FROM (SELECT t._line, t._reason, t._message, {raw_expr} AS _raw, "
        f"{per_file(files, 't._file')} AS _fname, {per_file(run_ids, 't._file')} AS _run FROM {frm} t "
        f"JOIN {qi(stage)} s ON s._line = t._line AND s._file = t._file WHERE t._reason IS NOT NULL) b "
        f"WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source_name = ? AND q.source_file = b._fname "
        f"AND q.source_line = b._line AND q.reason_code = b._reason AND q.raw_text IS NOT DISTINCT FROM b._raw)",
        [source_name, source_kind, source_name],
    )


def file_counts(engine: Engine, typed: str) -> dict[int, tuple[int, int]]:
    """File number → (good rows, bad rows) of ``typed``, in one scan."""
    rows = engine.con.execute(
        f"SELECT _file, count(*) FILTER (_reason IS NULL), count(*) FILTER (_reason IS NOT NULL) "
        f"FROM {qi(typed)} GROUP BY _file").fetchall()
    return {int(f): (int(g), int(b)) for f, g, b in rows}


def quarantine_rejects(engine: Engine, stage: str, reasons: dict[str, str], *, source_name: str,
                       source_kind: str, source_file: str, run_id: str, expected: int) -> int:
    """Copy CSV reader rejects (wrong column count, bad encoding) to ``quarantine``."""
    con = engine.con
    rej = qi(stage + "_rej")
    n = con.execute(f"SELECT count(*) FROM {rej}").fetchall()[0][0]
    if not n:
        return 0
    reason = "CASE " + " ".join(f"WHEN error_type = {ql(k)} THEN {ql(v)}" for k, v in reasons.items()) + " ELSE 'bad_csv' END"
    msg = (f"'riga ' || _line || ' di ' || {ql(source_file)} || ': ' || CASE WHEN error_type IN "
           f"('TOO MANY COLUMNS', 'MISSING COLUMNS') THEN 'wrong number of fields (' || error_message || "
           f"'); every row needs exactly {expected} fields, as the header' WHEN error_type = 'INVALID ENCODING' "
           f"THEN 'bytes not valid in the file encoding; save the file as UTF-8' ELSE error_message END")
    con.execute(
        f"INSERT INTO quarantine SELECT ?, ?, ?, _line, {reason}, {msg}, raw, ?, now()::TIMESTAMP FROM {rej} r "
        f"WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source_name = ? AND q.source_file = ? "
        f"AND q.source_line = r._line AND q.raw_text IS NOT DISTINCT FROM r.raw)",
        [source_name, source_kind, source_file, run_id, source_name, source_file],
    )
    return int(n)


def insert_dedup(engine: Engine, target: str, key_col: str, cols: list[str], body: str, *, typed: str,
                 grouped: bool, distinct_keys: bool = False, key: str = "_key", event_id: str = "_event_id",
                 values: Mapping[str, Iterable[str | None]] | None = None) -> None:
    """``INSERT INTO target`` the rows of ``body`` whose ``key_col`` is new, in one statement.

    ``body`` (:func:`typed_body`) may hold several files (``_file``): the anti-join reads the
    target once, as it was before the statement, and a key repeated within the batch keeps
    its first file and line. Why the checks first: the within-batch dedup window (costly on
    a high-cardinality key) is added only when the batch repeats a key, and the anti-join
    only when the target holds rows. Materialising the batch first, or always running
    both, was 2-3× slower on large files. ``distinct_keys``: the caller knows the good rows'
    keys are distinct (one file whose every row is keyed by content: its copies are numbered),
    so they are not counted (a hash of every key: 3.8 of 47 CPU s of a 10M-row import, ADR 0035).
    ``key`` is the SQL of a typed row's record key (``percorso.ingest.plan.record_key``), ``event_id``
    of its event id (``percorso.ingest.plan.event_id``). ``values``: with target ``events``, what
    :func:`percorso.engine.event_store.writable` needs to know of the enumerated columns.
    """
    names = ", ".join(qi(c) for c in cols)
    k = qi(key_col)
    con = engine.con
    if target == event_store.VIEW:   # the store, with the sparse columns this batch fills (ADR 0075)
        target = event_store.writable(engine, cols, values)
    rows = f"count(DISTINCT (_file, {key}))" if grouped else "count(*)"  # record key ↔ event id one to one
    dups = 0 if distinct_keys else con.execute(
        f"SELECT {rows} - count(DISTINCT {key}) FROM {qi(typed)} WHERE _reason IS NULL").fetchall()[0][0]
    sql = f"INSERT INTO {qi(target)} ({names}) SELECT {names} FROM ({body}) f"
    if not is_empty(engine, target) and stored_keys(engine, target, key_col, typed, event_id):
        sql += f" WHERE NOT EXISTS (SELECT 1 FROM _ing_seen e WHERE e.{k} = f.{k})"
    if dups:
        sql += f" QUALIFY row_number() OVER (PARTITION BY f.{k} ORDER BY f._file, f.source_line) = 1"
    # rows carry their file and line: their order in storage means nothing, and keeping it
    # makes the insert wait on the slowest thread
    with engine.unordered_writes():
        con.execute(sql)
    con.execute("DROP TABLE IF EXISTS _ing_seen")


def stored_keys(engine: Engine, target: str, key_col: str, typed: str, event_id: str = "_event_id") -> int:
    """Temp table ``_ing_seen``: the keys of the good rows of ``typed`` (``event_id``, the SQL of a
    typed row's key) already in ``target``; returns how many (usually none).

    Why a statement of its own: written as ``NOT EXISTS (SELECT 1 FROM target …)`` inside the
    insert, the engine built its hash table on the target's side (every stored key, a
    million strings at 1M events: 0.1 s of a 2,000-event micro-batch, growing with the
    table), because it cannot tell how many rows the batch's joins give. Here the batch's
    keys are the hash table and the target's key column is only scanned (and most of it
    skipped by the filter the engine pushes from that hash table into the scan).
    """
    k = qi(key_col)
    engine.con.execute(
        f"CREATE OR REPLACE TEMP TABLE _ing_seen AS SELECT e.{k} FROM {qi(target)} e "
        f"WHERE e.{k} IN (SELECT {event_id} FROM {qi(typed)} WHERE _reason IS NULL)")
    return int(engine.con.execute("SELECT count(*) FROM _ing_seen").fetchall()[0][0])


def restate_costs(engine: Engine, body: str, cols: list[str], *, relabel: bool = False) -> int:
    """Replace stored daily costs that a new export restates; the replaced rows go to the history.

    Why: ad platforms restate recent days (late conversions, invalid clicks); the later figure
    is the right one, and the earlier one stays in ``campaign_costs_history`` with when and by
    which run it was replaced. A row equal to the stored one is a plain duplicate. Within the
    batch, a key's first row (file, line) is the one compared, as :func:`insert_dedup` keeps it.

    ``relabel`` (the batch's labels in :data:`CHANNEL_LABELS_TABLE`): a stored row of the same
    source, day and campaign whose channel, as written, the batch's labels give as a new row's
    channel is restated too (ADR 0056). It was keyed by a label no table translated when it was
    imported (a source's ``channel.<label>`` entry added since, which migration 5 could not
    know): without this, the corrected import would add its cost a second time.
    """
    con = engine.con
    values = ("cost", "impressions", "clicks", "currency", "utm_source", "utm_medium")
    diff = " OR ".join(f"c.{qi(v)} IS DISTINCT FROM f.{qi(v)}" for v in values)
    firsts = (f"(SELECT * FROM ({body}) b "
              f"QUALIFY row_number() OVER (PARTITION BY cost_id ORDER BY _file, source_line) = 1)")
    sql = (f"SELECT c.cost_id, f.ingest_run_id AS run FROM campaign_costs c JOIN {firsts} f "
           f"ON c.cost_id = f.cost_id WHERE {diff}")
    if relabel:
        name = channel_name_sql("l.channel_name", "c.channel", unnamed_kept=True)
        sql += (f" UNION ALL SELECT c.cost_id, f.ingest_run_id FROM campaign_costs c "
                f"LEFT JOIN {CHANNEL_LABELS_TABLE} l ON l.k = {name_key_sql('c.channel')} "
                f"JOIN {firsts} f ON c.source_name = f.source_name AND c.date = f.date "
                f"AND c.campaign IS NOT DISTINCT FROM f.campaign AND c.channel <> f.channel "
                f"AND {name} = f.channel AND c.cost_id <> f.cost_id")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ing_restated AS SELECT cost_id, any_value(run) AS run FROM ({sql}) "
                f"GROUP BY cost_id")
    n = int(con.execute("SELECT count(*) FROM _ing_restated").fetchall()[0][0])
    if n:
        names = ", ".join(f"c.{qi(c)}" for c in cols)
        con.execute(f"INSERT INTO campaign_costs_history SELECT {names}, now()::TIMESTAMP, r.run FROM campaign_costs c "
                    f"JOIN _ing_restated r ON r.cost_id = c.cost_id")
        con.execute("DELETE FROM campaign_costs WHERE cost_id IN (SELECT cost_id FROM _ing_restated)")
    con.execute("DROP TABLE _ing_restated")
    return n


def typed_body(typed: str, exprs: list[tuple[str, str]], joins: list[tuple[str, str, str]], *, group: bool,
               rows: str | None = None) -> str:
    """SELECT over the good rows of ``typed`` (alias ``t``) with identifier maps joined (by raw value).

    Grouped bodies have one row per key and file (an order split over two files is written
    once, by the first); every body carries ``_file`` for :func:`insert_dedup`. ``rows``: SQL of
    the typed rows in place of the table (:func:`typed_select`, a first import's, ADR 0072).
    """
    sel = ", ".join(f"{e} AS {qi(n)}" for n, e in exprs)
    frm = (f"({rows}) t " if rows else f"{qi(typed)} t ") + " ".join(
        f"LEFT JOIN {qi(m)} {a} ON {a}.raw = t.{qi(c)}" for m, c, a in joins)
    return (f"SELECT {sel}, t._file AS _file FROM {frm} WHERE t._reason IS NULL"
            + (" GROUP BY t._file, t._key" if group else ""))


def is_empty(engine: Engine, table: str) -> bool:
    """Whether ``table`` holds no row (one row read at most)."""
    return not engine.con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {qi(table)} LIMIT 1)").fetchall()[0][0]


def written_by_run(engine: Engine, target: str, run_ids: list[str]) -> dict[str, int]:
    """Rows of ``target`` written by each of these ingest runs."""
    rows = engine.con.execute(
        f"SELECT ingest_run_id, count(*) FROM {qi(target)} WHERE list_contains(?, ingest_run_id) GROUP BY 1",
        [run_ids]).fetchall()
    return {r: int(n) for r, n in rows}


def good_written_by_file(engine: Engine, typed: str, target: str, key_col: str, run_ids: list[str],
                         event_id: str = "t._event_id") -> dict[int, int]:
    """File number → good source rows whose event (by ``event_id``, the SQL of a typed row's event
    id over alias ``t``: ``percorso.ingest.plan.event_id``) that file's run wrote."""
    rows = engine.con.execute(
        f"SELECT t._file, count(*) FROM {qi(typed)} t JOIN (SELECT {qi(key_col)} AS k, ingest_run_id AS r "
        f"FROM {qi(target)} WHERE list_contains(?, ingest_run_id)) w ON w.k = {event_id} "
        f"AND w.r = {per_file(run_ids, 't._file')} WHERE t._reason IS NULL GROUP BY 1", [run_ids]).fetchall()
    return {int(f): int(n) for f, n in rows}


def vault_new(engine: Engine, map_table: str, kind: str, key_col: str, run_ids: list[str]) -> pa.Table:
    """The new normalised PII values, once per key (key, kind, value, first_event_id), not stored yet:
    the vault stores them sealed (``percorso.privacy.vault``)."""
    return engine.query(
        f"SELECT m.key, ?::VARCHAR AS kind, any_value(m.norm) AS value, min(e.event_id) AS first_event_id "
        f"FROM events e JOIN "
        f"(SELECT DISTINCT key, norm FROM {qi(map_table)} WHERE key IS NOT NULL) m ON e.{qi(key_col)} = m.key "
        f"WHERE list_contains(?, e.ingest_run_id) AND m.key NOT IN (SELECT key FROM pii_vault WHERE kind = ?) "
        f"GROUP BY m.key",
        [kind, run_ids, kind],
    )


def vault_append(engine: Engine, rows: pa.Table) -> None:
    """Append sealed vault rows (key, kind, value, first_event_id)."""
    if rows.num_rows:
        engine.append_arrow("pii_vault", rows)


def invalid_counts(engine: Engine, typed: str, raw_col: str, map_table: str) -> dict[int, int]:
    """File number → good rows whose identifier was given but did not normalise (kept, identifier dropped)."""
    return {int(f): int(n) for f, n in engine.con.execute(
        f"SELECT t._file, count(*) FROM {qi(typed)} t JOIN {qi(map_table)} m ON m.raw = t.{qi(raw_col)} "
        f"WHERE t._reason IS NULL AND m.key IS NULL GROUP BY 1").fetchall()}


RUN_COLUMNS = ("ingest_run_id", "source_name", "source_kind", "source_file", "file_path", "file_size",
               "file_sha256", "rows_read", "accepted", "quarantined", "duplicates", "started_at", "finished_at")


def insert_run(engine: Engine, values: dict[str, Any]) -> None:
    """One ``ingest_runs`` row (columns :data:`RUN_COLUMNS`)."""
    cols = [c for c in RUN_COLUMNS if c in values]
    engine.con.execute(f"INSERT INTO ingest_runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                       [values[c] for c in cols])


def previous_run(engine: Engine, source_name: str, sha256: str) -> dict[str, Any] | None:
    """The latest run of ``source_name`` over a file with this content hash, or None."""
    rows = engine.con.execute(
        "SELECT rows_read, accepted, quarantined, duplicates, source_file, finished_at FROM ingest_runs "
        "WHERE source_name = ? AND file_sha256 = ? ORDER BY finished_at DESC LIMIT 1", [source_name, sha256]
    ).fetchall()
    if not rows:
        return None
    return dict(zip(("rows_read", "accepted", "quarantined", "duplicates", "source_file", "finished_at"), rows[0]))


def generic_names(engine: Engine, typed: str, generic_type: str) -> dict[int, dict[str, int]]:
    """File number → {event name: good rows} of the rows typed ``generic_type`` (names no type,
    alias or mapping knows), most rows first."""
    rows = engine.con.execute(
        f"SELECT _file, event_name, count(*) AS n FROM {qi(typed)} WHERE _reason IS NULL AND _evt = ? "
        f"GROUP BY ALL ORDER BY _file, n DESC, event_name", [generic_type]).fetchall()
    out: dict[int, dict[str, int]] = {}
    for f, name, n in rows:
        out.setdefault(int(f), {})[name] = int(n)
    return out


def stored_event_names(engine: Engine, source_name: str) -> list[tuple[str, str, int]]:
    """(event_name, event_type, rows) of the events stored for a source, most rows first: what
    an import compares with the event types its source's event-name mapping gives now."""
    return engine.con.execute(
        "SELECT event_name, event_type, count(*) AS n FROM events WHERE source_name = ? AND event_name IS NOT NULL "
        "GROUP BY event_name, event_type ORDER BY n DESC, event_name", [source_name]).fetchall()


def drop_temp(engine: Engine, *names: str) -> None:
    kinds = dict(engine.con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_name LIKE '\\_ing\\_%' ESCAPE '\\'"
    ).fetchall())
    for n in names:
        if n in kinds:
            engine.con.execute(f"DROP {'VIEW' if kinds[n] == 'VIEW' else 'TABLE'} {qi(n)}")


def quarantine_rows(engine: Engine, source: str | None, reason: str | None, limit: int) -> pa.Table:
    """A page of quarantined rows (file order), optionally for one source / reason."""
    return engine.con.sql(
        "SELECT source_name, source_file, source_line, reason_code, message, raw_text FROM quarantine "
        "WHERE (? IS NULL OR source_name = ?) AND (? IS NULL OR reason_code = ?) "
        "ORDER BY source_name, source_file, source_line LIMIT ?", params=[source, source, reason, reason, limit]
    ).to_arrow_table()


def quarantine_counts(engine: Engine, source: str | None, reason: str | None) -> pa.Table:
    """Quarantined rows counted by source and reason code."""
    return engine.con.sql(
        "SELECT source_name, reason_code, count(*) AS rows FROM quarantine "
        "WHERE (? IS NULL OR source_name = ?) AND (? IS NULL OR reason_code = ?) "
        "GROUP BY ALL ORDER BY source_name, reason_code", params=[source, source, reason, reason]
    ).to_arrow_table()
