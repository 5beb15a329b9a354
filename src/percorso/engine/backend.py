"""DuckDB-backed :class:`Engine`: connection, Ibis backend, batch writes, migrations.

Why one class: DuckDB allows a single writing process, so the connection, the Ibis
backend built on it and every batch write go through one object per process. Readers in
other threads get their own cursor (:meth:`Engine.cursor`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from percorso.errors import (
    DatabaseDamaged,
    DatabaseLocked,
    DiskFull,
    EngineError,
    NotFound,
    OutOfMemory,
    PercorsoError,
    disk_full_text,
)
from percorso.process import close_kept, ending, keep

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from ibis.expr.types import Table

#: Held while an Ibis expression compiles to SQL (:meth:`Engine.compile`): one at a time per process.
_COMPILING = threading.RLock()
#: The placeholder :meth:`Engine.execute_bound` compiles a query with (then a bound parameter).
_BIND = "percorso~bound~value~7f3a9c"


def default_memory_limit(share: float = 0.6) -> str | None:
    """``share`` of the machine's physical memory as a DuckDB size (``"14745MiB"`` on 24 GiB).

    Why not DuckDB's default (80 %): the database's buffer pool is not all a process holds
    (Python, Arrow results, the server's caches, a second process reading the same files), and
    at 80 % a 100M-event build on a 24 GB machine ran close to the swap. 60 % leaves the rest
    and makes spilling, not the kernel's OOM killer, what happens past it. ``None`` where the
    platform does not say (DuckDB's default then applies).
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return f"{int(total * share) >> 20}MiB" if total > 0 else None


def default_temp_cap(folder: str | Path, share: float = 0.5) -> str | None:
    """``share`` of the free space on the disk holding ``folder`` (the spill folder, or the
    database's folder before it exists), as a DuckDB size: the cap of the spilled files.

    Why not DuckDB's default (90 % of the free space): the database file grows on the same
    disk during a build (a 100M-event build writes ~10 GB of tables beside its spill), and a
    disk filled to the last byte fails every program on it, not just this command. Past the
    cap the command stops with one ``disk_full`` line (:func:`translate_error`). ``None`` when
    the free space cannot be read (DuckDB's default then applies).
    """
    import shutil

    here = Path(folder)
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        free = shutil.disk_usage(here).free
    except OSError:
        return None
    return f"{max(int(free * share) >> 20, 1)}MiB"


def temp_name() -> str:
    """A new name for :meth:`Engine.temp_table` (``_tmp_`` and 12 hex digits)."""
    import uuid

    return f"_tmp_{uuid.uuid4().hex[:12]}"


def _is_arrow_table(value: object) -> bool:
    """Whether ``value`` is an Arrow table, without importing pyarrow: a process that never
    loaded it (an incremental build runs engine SQL only) cannot hold one (~0.1 s saved)."""
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(value, pa.Table)


class Engine:
    """A project's database.

    Parameters
    ----------
    path
        DuckDB file, or ``":memory:"``.
    read_only
        Open without taking the writer lock (several readers may coexist).
    threads
        DuckDB worker threads; ``None`` lets DuckDB use every core.
    memory_limit, temp_directory, max_temp_size
        DuckDB's memory cap, where it spills past it and the cap of the spilled files
        (``[engine]`` settings); ``None`` keeps DuckDB's defaults.
    time_zone
        The project's ``[project] time_zone``: the zone of every local day, week and month
        (see :mod:`percorso.engine.localtime`); ``UTC`` for a bare engine (tests, path tables).
    """

    #: Which engine this is (:class:`percorso.engine.spark.SparkEngine` says ``spark``).
    kind = "duckdb"

    def __init__(self, path: str | Path, *, read_only: bool = False, threads: int | None = None,
                 memory_limit: str | None = None, temp_directory: str | Path | None = None,
                 max_temp_size: str | None = None, time_zone: str = "UTC") -> None:
        self.path = str(path)
        self.time_zone = time_zone
        self.read_only = read_only
        self._threads = threads
        self._memory = {k: str(v) for k, v in (("memory_limit", memory_limit), ("temp_directory", temp_directory),
                                               ("max_temp_directory_size", max_temp_size)) if v is not None}
        self._con: duckdb.DuckDBPyConnection | None = None
        self._ibis: Any = None
        self._write_lock = threading.RLock()
        self._open_transactions = 0  # BEGINs of this connection not yet ended (snapshot / transaction)
        self._writing = False        # inside transaction(): a nested one joins it
        self._forked = False
        self._bound: dict[Any, tuple[str, Any, tuple[tuple[str, tuple[str, ...]], ...]]] = {}  # execute_bound's
        self._bound_recheck = False  # set by data_written(): re-check _bound's tables at next use
        self._facts: dict[str, Any] = {}  # facts(): what a read-only engine read from its data once

    # -- connection -------------------------------------------------------------------
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The raw connection; for :mod:`percorso.engine` internals only."""
        if self._con is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
            if self._threads:
                config["threads"] = self._threads
            config.update(self._memory)   # [engine] memory_limit / temp_directory (spilling)
            close_kept()   # a closed engine's connection left for the process's end (percorso.process)
            try:
                self._con = duckdb.connect(self.path, read_only=self.read_only, config=config)
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower():
                    raise DatabaseLocked(
                        f"the database {self.path} is in use by another percorso process "
                        "(only one process may write at a time); stop it (e.g. `percorso serve`) "
                        "or send the work through its API"
                    ) from exc
                raise EngineError(f"cannot open database {self.path}: {exc}") from exc
            self._con.execute("SET TimeZone = 'UTC'")
            # no progress bar: DuckDB draws it on stdout, inside `--format csv > file` output
            self._con.execute("SET enable_progress_bar = false")
            from percorso.engine.migrations import migrate

            if not self.read_only:
                self._refuse_damaged()
                migrate(self)
        return self._con

    def _refuse_damaged(self) -> None:
        """Refuse to write into a damaged file: writes would "succeed" and every read fail later."""
        from percorso.engine.health import WHAT_TO_DO, quick_check

        assert self._con is not None
        problem = quick_check(self._con, self.path)
        if problem:
            self._con.close()
            self._con = None
            raise DatabaseDamaged(f"the database {self.path} is damaged: {problem}; nothing was written. "
                                  f"`percorso check` lists what can still be read; {WHAT_TO_DO}")

    def fork(self) -> Engine:
        """Another engine on this engine's open database, for a second thread of this process.

        Why: one DuckDB connection must not be used by two threads at once, but connections
        made from it (cursors) share the database and may run side by side: the server's
        background jobs (imports, builds) write on a fork while its requests read on the
        first connection, each seeing committed data only. A fork never checkpoints or
        closes the database; :meth:`close` only drops its own connection.
        """
        child = Engine(self.path, read_only=self.read_only, threads=self._threads)
        child._con = self.con.cursor()
        child._con.execute("SET TimeZone = 'UTC'")
        child._con.execute("SET enable_progress_bar = false")
        child._forked = True
        return child

    # -- progress of the running statement (percorso.progress) ---------------------------
    def track_progress(self, on: bool) -> None:
        """Let the engine estimate each statement's progress (never drawn by DuckDB itself: its
        own bar goes to stdout, inside machine output)."""
        self.con.execute(f"SET enable_progress_bar = {'true' if on else 'false'}")
        self.con.execute("SET enable_progress_bar_print = false")

    def query_progress(self) -> float | None:
        """Percent done of the statement running now (from another thread), None when unknown."""
        con = self._con
        if con is None:
            return None
        try:
            done = float(con.query_progress())
        except duckdb.Error:
            return None
        return done if done >= 0 else None

    def memory_limit_bytes(self) -> int | None:
        """DuckDB's memory limit now, in bytes (None when it cannot be read): what the build's
        parts are sized by (:func:`percorso.build.runner.build_parts`)."""
        row = self.con.execute("SELECT current_setting('memory_limit')").fetchall()
        return parse_size(str(row[0][0])) if row else None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for a reader thread (each thread needs its own)."""
        return self.con.cursor()

    @property
    def ibis(self) -> Any:
        """The Ibis backend bound to this connection."""
        if self._ibis is None:
            # imported here: a command that only runs engine SQL (an incremental build) never
            # pays for Ibis's compilers (~0.5 CPU s in a fresh process); and of Ibis's twenty
            # dialect compilers, DuckDB's only (percorso.engine.ibis_compilers). The backend's
            # own module, not ``ibis.duckdb``: that name is found among every installed
            # package's entry points (~5 ms of each command that compiles)
            from ibis.backends.duckdb import Backend

            self._ibis = Backend.from_connection(self.con)
        return self._ibis

    def _spilled(self) -> bool:
        """Whether DuckDB holds temporary files (spilled data), which only a close removes."""
        try:
            return bool(self._con.execute("SELECT count(*) FROM duckdb_temporary_files()").fetchall()[0][0])
        except duckdb.Error:
            return True

    def close(self) -> None:
        if self._con is not None and self._forked:
            self._con.close()
            self._con, self._ibis, self._facts = None, None, {}
            return
        if self._con is not None:
            try:
                self._con.execute("CHECKPOINT")
            except duckdb.Error as exc:
                # a read-only or busy database cannot checkpoint, and that is fine; a file that
                # cannot be written back is not: say so instead of reporting success
                if not self.read_only and ("FATAL" in str(exc) or "IO Error" in str(exc)):
                    self._con, self._ibis, self._facts = None, None, {}
                    if disk_full_text(exc):  # nothing is damaged: the disk has no room for the write-back
                        raise translate_error(exc, self.path) from exc
                    from percorso.engine.health import WHAT_TO_DO

                    if "no space left" in str(exc).lower():
                        raise EngineError(f"disk full: the database {self.path} could not be saved; free some "
                                          "space on its disk, then run `percorso check` and the same command "
                                          "again", code="disk_full") from exc
                    raise DatabaseDamaged(f"the database {self.path} could not be saved "
                                          f"({str(exc).splitlines()[0][:200]}); {WHAT_TO_DO}") from exc
            if not (ending() and not self._spilled() and keep(self._con)):   # a command's: its end frees the memory
                self._con.close()
        self._con = None
        self._ibis = None
        self._facts = {}   # a connection opened again may see another state of the file

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        """Whether a table (temporary included) or a view ``name`` exists, as a query names it.

        DuckDB's relation lookup (~0.3 ms; ``information_schema`` took 1-3 ms, and a build asks
        ~60 times). A view it cannot bind (a table it reads was dropped) is not found there but
        exists: the views' catalog is asked then. A failed lookup leaves an open transaction
        usable, unlike a failed query.
        """
        if self._relation(name) is not None:
            return True
        return bool(self.con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal",
                                     [name]).fetchall()[0][0])

    def existing(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` exist as tables (temporary included) or views, as a query names them.

        One catalog query for all of them: :meth:`has_table` of a name that is not there asks
        the relation lookup and then the views' catalog (~2.5 ms a name in a fresh process;
        a build's value refresh asked four names that are usually absent)."""
        wanted = list(names)
        rows = self.con.execute("""SELECT table_name FROM duckdb_tables() WHERE list_contains($n, table_name)
                AND (database_name = 'temp' OR (database_name = current_database() AND schema_name = 'main'))
            UNION SELECT view_name FROM duckdb_views() WHERE NOT internal AND list_contains($n, view_name)
                AND (database_name = 'temp' OR (database_name = current_database() AND schema_name = 'main'))""",
                                {"n": wanted}).fetchall()
        return {r[0] for r in rows}

    def _relation(self, name: str) -> duckdb.DuckDBPyRelation | None:
        try:
            return self.con.table(name)
        except duckdb.Error:
            return None

    def table(self, name: str) -> Table:
        """Ibis table expression for a stored table."""
        if not self.has_table(name):
            raise NotFound(f"table '{name}' does not exist yet (run `percorso build` first?)")
        return self._ibis_table(name)

    def _ibis_table(self, name: str) -> Table:
        """``self.ibis.table(name)``, its schema read as rows.

        Why: Ibis reads a table's ``DESCRIBE`` as an Arrow table, and a process that has not
        loaded pyarrow (with numpy, ~0.09 s) loads it there: a journey command printing JSON
        needs neither otherwise (:mod:`percorso.analysis.rows`). The same schema (names, types
        by Ibis's own type mapper, nullability) and the same table expression; a geometry
        column, for which Ibis loads an extension, goes through Ibis.
        """
        import ibis.expr.operations as ops
        import ibis.expr.schema as sch

        described = self.con.sql(f"DESCRIBE {quote_ident(name)}").fetchall()
        types = self.ibis.compiler.type_mapper
        schema = sch.Schema({column: types.from_string(kind, nullable=null == "YES")
                             for column, kind, null, *_ in described})
        if schema.geospatial:
            return self.ibis.table(name)
        return ops.DatabaseTable(name, schema=schema, source=self.ibis,
                                 namespace=ops.Namespace(catalog=None, database=None)).to_expr()

    def columns(self, name: str) -> list[str]:
        """The column names of table or view ``name``, in order (none when a query cannot read it)."""
        rel = self._relation(name)
        return [] if rel is None else list(rel.columns)

    def enumerations(self, name: str) -> dict[str, tuple[str, ...]]:
        """The columns of table ``name`` stored as enumerations (ADR 0071), each with every value
        its type declares (empty when a query cannot read the table).

        Why: a journey analysis numbers the labels its steps can carry; from the declared values
        it knows them without a query reading the column (the relation lookup gives the types)."""
        rel = self._relation(name)
        if rel is None:
            return {}
        return {c: tuple(t.children[0][1]) for c, t in zip(rel.columns, rel.types) if t.id == "enum"}

    def execute(self, expr: Any) -> pd.DataFrame:
        """Run an Ibis expression and return a pandas frame (aggregates and pages only).

        The first one of a process imports pandas while DuckDB runs it (Ibis's ``execute``
        imports it before; :mod:`percorso.engine.imports_meanwhile`), and converts the Arrow
        result as Ibis does (:func:`_ibis_frame`).
        """
        if "pandas" in sys.modules:
            return self.ibis.execute(expr)
        from percorso.engine.imports_meanwhile import meanwhile

        rel = self.ibis._to_duckdb_relation(expr)   # Ibis's execute: the statement, memtables registered
        with meanwhile("pandas"):
            table = rel.to_arrow_table()
        return _ibis_frame(expr, table)

    def execute_bound(self, key: Any, make: Callable[[str], Any], value: str) -> Any:
        """``self.execute(make(value))``, the Ibis expression compiled once per ``key``.

        Why: a customer's profile is seven small queries that differ only in the customer id;
        building and compiling their Ibis expressions took ~0.2 of the ~0.3 s of a read (on the
        server's one database thread, and holding the GIL the collector's micro-batch needs).
        The expression is compiled with a placeholder value, which becomes a bound parameter;
        the result is converted to pandas exactly as Ibis does. ``key`` must name the query's
        shape (with anything else it depends on, such as a page's limit); when the
        placeholder does not appear in the SQL the expression is run as it is.
        """
        if self._bound_recheck:
            self._bound_recheck = False
            self._drop_stale_bound()
        hit = self._bound.get(key)
        if hit is None:
            expr = make(_BIND)
            sql = self.compile(expr)
            literal = "'" + _BIND + "'"
            if literal not in sql:
                return self.execute(make(value))
            if len(self._bound) >= 256:
                self._bound.clear()
            from ibis.expr.operations import DatabaseTable  # loaded with Ibis by make() already

            read = tuple(sorted({op.name for op in expr.op().find(DatabaseTable)}))
            hit = self._bound[key] = (sql.replace(literal, "$1"), expr, tuple((t, self._shape(t)) for t in read))
        sql, expr, _ = hit
        return _ibis_frame(expr, self.con.sql(sql, params=[value]).to_arrow_table())

    def facts(self, kind: str) -> dict[Any, Any]:
        """A dict of facts of one ``kind`` read from the data, for the caller to fill and read again:
        kept while a read-only engine's connection is open, new (empty) on each call otherwise.

        Why: a read-only engine sees one state of its file for its whole life (no process can
        write a DuckDB file that another has open), so what a command reads twice need not be
        queried twice: a funnel's step names, looked up to read the steps and again to check
        them, cost a compile, a table's schema and a scan of the touchpoints twice (~0.04 s at
        10M events). A writable engine may be written between two calls (the server's); a closed
        one opens its file again as it then is."""
        if not self.read_only:
            return {}
        return self._facts.setdefault(kind, {})

    def data_written(self) -> None:
        """Note that the database was written (by this process): its tables may have changed shape.

        Why: :meth:`execute_bound` keeps a statement compiled against the columns its tables
        had. A full build that adds or drops a column of ``customers`` while a server runs
        would leave the statement listing the old columns (or failing) until a restart. The
        check is deferred to the next :meth:`execute_bound`, once per write, not per read:
        comparing a table's columns costs ~0.3 ms, a micro-batch comes every few seconds.
        Only sets a flag, so any thread may call it.
        """
        self._bound_recheck = True

    def _shape(self, name: str) -> tuple[str, ...]:
        """A table's columns with their types, as DuckDB binds them now (empty when unreadable)."""
        rel = self._relation(name)
        return () if rel is None else tuple(f"{c} {t}" for c, t in zip(rel.columns, rel.types))

    def _drop_stale_bound(self) -> None:
        """Forget the compiled statements whose tables no longer have the columns they had."""
        shapes: dict[str, tuple[str, ...]] = {}
        for key, (_, _, read) in list(self._bound.items()):
            for name, shape in read:
                if name not in shapes:
                    shapes[name] = self._shape(name)
                if shapes[name] != shape:
                    del self._bound[key]
                    break

    def rows(self, expr: Any) -> list[dict[str, Any]]:
        """Run an Ibis expression and return its rows as dicts (column → Python value).

        For a few aggregate rows printed by a command: Ibis's own results (pandas or Arrow) make
        the process import pandas (~0.15 s), which a build or an import needs for nothing else."""
        rel = self.con.sql(self.compile(expr))
        names = rel.columns
        return [dict(zip(names, r)) for r in rel.fetchall()]

    def to_arrow(self, expr: Any) -> pa.Table:
        """Run an Ibis expression and return Arrow."""
        return self.ibis.to_pyarrow(expr)

    def scalar(self, expr: Any) -> Any:
        return self.ibis.execute(expr)

    def count(self, name: str) -> int:
        if not self.has_table(name):
            return 0
        return int(self.con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0])

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run parameterised SQL written inside :mod:`percorso.engine`; returns Arrow."""
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def run(self, sql: str, params: list[Any] | None = None) -> None:
        """Run a parameterised statement written inside :mod:`percorso.engine`."""
        with self._write_lock:
            self.con.execute(sql, params or [])

    def written(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> int:
        """:meth:`run` a ``CREATE TABLE ... AS``, ``INSERT``, ``UPDATE`` or ``DELETE``; the rows it
        wrote (created, inserted, updated or deleted), as DuckDB reports them.

        Why: the count a caller needs came from a ``count(*)`` of the table after the statement
        (and one before it, for an append): a catalog lookup and a scan each, ~1 ms, about twenty
        times in an incremental build."""
        with self._write_lock:
            rows = self.con.execute(sql, params or []).fetchall()
        return int(rows[0][0]) if rows else 0

    @contextmanager
    def snapshot(self) -> Iterator[Engine]:
        """Reads that all see one committed state of the database.

        Why: a view made of several statements (a customer's summary, then orders, then
        touchpoints) read while a build or the collector commits on a forked connection could
        show a new order beside the old summary. Inside one transaction DuckDB answers every
        statement from the state at its start; nothing is written, so it ends in a rollback.
        A snapshot inside a write transaction is that transaction (no nested BEGIN).
        """
        with self._write_lock:
            if self._open_transactions:  # already inside one (a write or a snapshot): it is the snapshot
                yield self
                return
            self.con.execute("BEGIN TRANSACTION")
            self._open_transactions += 1
            try:
                yield self
            finally:
                self._open_transactions -= 1
                try:
                    self.con.execute("ROLLBACK")
                except duckdb.Error:  # the connection already ended it
                    pass

    # -- writing ----------------------------------------------------------------------
    def keep_block_memory(self) -> None:
        """Let DuckDB keep the memory of its blocks for the rest of this process, up to its memory limit.

        Why: by default DuckDB returns freed blocks to the system and asks for fresh pages for
        the next statement, and the kernel's work of mapping and zeroing them was 4-8 CPU s
        (``sys`` time) of a 10M-event import or full build. With the block allocator on
        (``block_allocator_memory``, DuckDB >= 1.5; its pages are mapped once and reused) the
        10M import took 16.3-17.4 s instead of 17.4-20.0 and the build 21.2-25.6 instead of
        23.4-25.5 (ADR 0035, 2026-12-05, helper ``e2edb``). The memory is never given back
        while the database is open, so only for one-shot commands (``ingest``, ``build``),
        never for a long-running server; the memory limit still bounds it.
        """
        self.con.execute("SET block_allocator_memory = '100%'")

    @contextmanager
    def unordered_writes(self) -> Iterator[Engine]:
        """Statements inside may store their rows in any order (``preserve_insertion_order`` off).

        Why: with the order kept, DuckDB hands the rows of a big statement to the table in
        their input order, and its threads wait for each other: the full build's wide
        touchpoints statement at 10M events took 16.6 s of wall without this and 11.1 s with it
        (ADR 0035, 2026-12-05, helper ``e2edb``). Only for tables whose rows are never read by
        position (every reader groups, joins or orders them). The setting is the database's,
        not the connection's: restored on the way out.
        """
        with self._setting_inside("preserve_insertion_order", False):
            yield self

    @contextmanager
    def joins_as_written(self) -> Iterator[Engine]:
        """Statements inside build each hash join on the side the query puts on the right.

        Why: DuckDB swaps a join's sides by its row estimates, and the estimate of a filtered
        scan is a guess (a fixed share per filter). The orders statement semi-joins the online
        touchpoints with the few customers who have a Direct online order: on the 10M-event
        clickstream 9.6M rows against 13,567 customers, both estimated at ~400,000, and the
        engine built its hash table on the 9.6M wide rows (2.7 CPU s in that join alone; the
        statement 1.7-2.0 s, with the sides as written 0.73-0.76 s, the same rows). Only around
        statements whose right sides are written to be the small ones; the setting is restored
        on the way out.
        """
        old = str(self.con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] or "")
        with self._setting_inside("disabled_optimizers",
                                  ",".join([*(n for n in old.split(",") if n.strip()), "build_side_probe_side"])):
            yield self

    @contextmanager
    def _setting_inside(self, name: str, value: bool | str) -> Iterator[None]:
        """DuckDB setting ``name`` (from code) at ``value`` for the statements inside; its old
        value is restored on the way out (the setting is the database's, not the connection's)."""
        def literal(v: object) -> str:
            return ("true" if v else "false") if isinstance(v, bool) else quote_literal(str(v))

        old = self.con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0]
        self.con.execute(f"SET {name} = {literal(value)}")
        try:
            yield
        finally:
            try:
                self.con.execute(f"SET {name} = {literal(old)}")
            except duckdb.Error:  # the connection ended inside: its own error surfaces
                pass

    @contextmanager
    def transaction(self) -> Iterator[Engine]:
        """Group writes so that they commit together or not at all.

        Inside another transaction of this engine it is part of that one (an incremental
        build runs identity's transaction inside its own: one commit); a failure still
        propagates, and the outer transaction rolls everything back.
        """
        with self._write_lock:
            if self._writing:   # (inside a read-only snapshot, BEGIN fails as before: never silently rolled back)
                yield self
                return
            self.con.execute("BEGIN TRANSACTION")
            self._open_transactions += 1
            self._writing = True
            try:
                yield self
            except BaseException as exc:
                self._open_transactions -= 1
                self._writing = False
                try:
                    self.con.execute("ROLLBACK")
                except duckdb.Error:  # the failure already ended the transaction (or the connection)
                    pass
                known = translate_error(exc, self.path) if not isinstance(exc, PercorsoError) else None
                if isinstance(known, (DiskFull, OutOfMemory)):  # not the data's fault: say what to do
                    raise known from exc
                raise
            self._open_transactions -= 1
            self._writing = False
            try:
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                known = translate_error(exc, self.path)
                if isinstance(known, (DiskFull, OutOfMemory)):
                    raise known from exc
                raise

    def append_arrow(self, table: str, data: pa.Table) -> int:
        """Append an Arrow table to ``table`` by column name, as one batch."""
        if data.num_rows == 0:
            return 0
        cols = ", ".join(quote_ident(c) for c in data.column_names)
        with self._write_lock:
            self.con.register("_percorso_batch", data)
            try:
                self.con.execute(f"INSERT INTO {quote_ident(table)} ({cols}) SELECT {cols} FROM _percorso_batch")
            finally:
                self.con.unregister("_percorso_batch")
        return data.num_rows

    def insert_row(self, table: str, row: dict[str, Any]) -> None:
        """Append one row (column → value) to ``table``, values bound (a log line: no Arrow
        table, whose construction loads pandas in a process that needs nothing else of it)."""
        cols = ", ".join(quote_ident(c) for c in row)
        with self._write_lock:
            self.con.execute(f"INSERT INTO {quote_ident(table)} ({cols}) VALUES ({', '.join('?' * len(row))})",
                             list(row.values()))

    def register_arrow(self, name: str, data: pa.Table) -> Table:
        """Expose an in-memory Arrow table to Ibis under ``name`` (a temporary view)."""
        self.con.register(name, data)
        return self.ibis.table(name)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def create_table(self, name: str, expr: Any, *, replace: bool = True, uncompressed: tuple[str, ...] = (),
                     enums: Mapping[str, Iterable[str]] | None = None,
                     generated: Mapping[str, tuple[str, str, str]] | None = None,
                     null_columns: tuple[str, ...] = (), params: list[Any] | dict[str, Any] | None = None) -> int:
        """Materialise an Ibis expression (or the SQL :meth:`compile` made of one, or an Arrow
        table) as table ``name``; returns rows. ``params``: the values SQL text binds.

        ``uncompressed``: columns of an expression stored without compression (DuckDB's string
        compression encodes every value of a column whose values are nearly all distinct, at
        ~0.2 CPU s per million rows: ADR 0052, 0054); other engines store them their own way.

        ``enums``: text columns stored as the enumeration of the values given (DuckDB's ``ENUM``,
        ADR 0071): a column of few distinct values is then written as small integers, where the
        string compression analysed and encoded every value (10M touchpoints: seven such columns
        ~1.2-1.6 s of the insert). Readers see the same text: Ibis reads the type as a string,
        and it compares, groups, sorts (the values are declared in text order) and exports as
        text. A value the list lacks fails the insert, which is then made again with text columns.

        ``generated``: columns DuckDB computes when they are read, never written (ADR 0073), by
        the column of the expression each follows: ``{after: (name, type, SQL expression)}``.
        The table shows them in that place; inserts name the other columns (:meth:`insert_expr`).

        ``null_columns``: columns of the expression the caller knows to be NULL in every row,
        declared as generated ``NULL`` of their type (ADR 0076): read as before, never written
        (DuckDB writes an all-NULL column at ~0.29 CPU s per 10M rows); an append that fills one
        makes it stored first (:func:`percorso.engine.build_sql.append_table`).
        """
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        with self._write_lock:
            if _is_arrow_table(expr):
                self.con.register("_percorso_ctas", expr)
                try:
                    self.con.execute(f"{verb} {quote_ident(name)} AS SELECT * FROM _percorso_ctas")
                finally:
                    self.con.unregister("_percorso_ctas")
            elif uncompressed or enums or generated or null_columns:
                sql = expr if isinstance(expr, str) else self.compile(expr)
                # the columns and types as the statement makes them (DESCRIBE binds it, runs nothing)
                described = [(n, t) for n, t, *_ in self.con.execute(f"DESCRIBE {sql}", params).fetchall()]
                try:
                    self._create_declared(verb, name, sql, described, uncompressed, enums or {}, generated or {},
                                          null_columns, params)
                except duckdb.ConversionException:
                    if not enums:
                        raise
                    self._create_declared("CREATE OR REPLACE TABLE", name, sql, described, uncompressed, {},
                                          generated or {}, null_columns, params)
            else:
                sql = expr if isinstance(expr, str) else self.compile(expr)
                self.con.execute(f"{verb} {quote_ident(name)} AS {sql}", params)
        return self.count(name)

    def _create_declared(self, verb: str, name: str, sql: str, described: list[tuple[str, str]],
                         uncompressed: tuple[str, ...], enums: Mapping[str, Iterable[str]],
                         generated: Mapping[str, tuple[str, str, str]], null_columns: tuple[str, ...] = (),
                         params: list[Any] | dict[str, Any] | None = None) -> None:
        """:meth:`create_table` of ``sql`` by its ``described`` columns, declared with their storage."""
        def declared(n: str, t: str) -> str:
            col = f"{quote_ident(n)} " + (enum_type(enums[n]) if n in enums and t == "VARCHAR" else t)
            if n in null_columns:
                col += " GENERATED ALWAYS AS (NULL) VIRTUAL"
            elif n in uncompressed:
                col += " USING COMPRESSION uncompressed"
            if n not in generated:
                return col
            g, g_type, g_sql = generated[n]
            return f"{col}, {quote_ident(g)} {g_type} GENERATED ALWAYS AS ({g_sql}) VIRTUAL"

        cols = ", ".join(declared(n, t) for n, t in described)
        self.con.execute(f"{verb} {quote_ident(name)} ({cols})")
        # the statement's columns listed: a generated column takes no value (the engine drops the
        # computation of a column the outer select leaves out)
        stored = ", ".join(quote_ident(n) for n, _ in described if n not in null_columns)
        source = f"SELECT {stored} FROM ({sql})" if null_columns else sql
        self.con.execute(f"INSERT INTO {quote_ident(name)} ({stored}) {source}", params)

    def temp_table(self, expr: Any, *, name: str | None = None) -> Table:
        """Materialise an expression (or the SQL :meth:`compile` made of one) once as a temporary
        table (works on read-only databases); ``name``: one from :func:`temp_name`, for SQL
        compiled before the table exists.

        Why: an analysis that reads the same derived rows several times (a main table, totals,
        an *other* row) computes them once; drop it with :meth:`drop_temp` when done.
        """
        from percorso.engine.imports_meanwhile import meanwhile

        name = name or temp_name()
        sql = expr if isinstance(expr, str) else self.compile(expr)
        with meanwhile():   # what the command wants next (a journey command: pandas)
            self.con.execute(f"CREATE TEMP TABLE {quote_ident(name)} AS {sql}")
        return self._ibis_table(name)

    def drop_temp(self, table: Any) -> None:
        """Drop a table made by :meth:`temp_table`."""
        name = table.get_name()
        if name.startswith("_tmp_"):
            self.con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")

    def insert_expr(self, name: str, expr: Any) -> None:
        """Append the rows of an Ibis expression to an existing table (by column name)."""
        sql = self.compile(expr)
        cols = ", ".join(quote_ident(c) for c in expr.columns)
        with self._write_lock:
            self.con.execute(f"INSERT INTO {quote_ident(name)} ({cols}) SELECT {cols} FROM ({sql})")

    def create_empty_table(
        self, name: str, columns: tuple[tuple[str, str], ...] | list[tuple[str, str]], *, replace: bool = True
    ) -> None:
        """Create an empty table from (column, SQL type) pairs declared by a stage's schema module."""
        allowed = {"VARCHAR", "TIMESTAMP", "DOUBLE", "BOOLEAN", "INTEGER", "BIGINT", "DATE"}
        bad = [t for _, t in columns if t not in allowed]
        if bad:
            raise EngineError(f"unsupported column types {bad}; allowed: {sorted(allowed)}")
        cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in columns)
        if not replace and self.has_table(name):
            # nothing to do; and CREATE ... IF NOT EXISTS is refused on a read-only database
            # even when the table exists, which broke every read-only `--segment` command
            return
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        with self._write_lock:
            self.con.execute(f"{verb} {quote_ident(name)} ({cols})")

    def drop_table(self, name: str) -> None:
        with self._write_lock:
            self.con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")

    def compile(self, expr: Any) -> str:
        """The SQL of an Ibis expression, as ``ibis.to_sql(expr, dialect="duckdb")`` writes it.

        Without ``to_sql``'s first step, which rebuilds the whole expression on unbound tables
        (``expr.unbind()``: ~10 % of a compile, ~8 ms of a journey command's statement and more
        of a build's): DuckDB's compiler writes a table bound to this engine as it writes the
        same table unbound (its name, without catalog or schema).
        """
        from ibis.backends.sql.compilers.duckdb import compiler

        # one compile at a time in the process: a full build compiles the next incremental
        # build's plan on a thread while its own statements compile (build.plan.plan_in_background)
        with _COMPILING:
            return compiler.to_sqlglot(expr).sql(dialect=compiler.dialect, pretty=True)

    # -- backups ----------------------------------------------------------------------
    def backup_to(self, target: str | Path) -> None:
        """Copy the whole database to a new file ``target``, as one consistent snapshot.

        Why ``COPY FROM DATABASE``: it reads inside one transaction, so a backup taken while
        a server keeps importing is a state that existed, never a mix; copying the file's
        bytes would need every writer stopped. The copy goes to ``target.partial`` first and
        is renamed when complete, so a half-written backup never looks like a backup.
        """
        import os

        target = Path(target)
        if target.exists():
            raise EngineError(f"{target} exists already; choose a new file name", code="backup_exists")
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        current = self.con.execute("SELECT current_database()").fetchall()[0][0]
        with self._write_lock:
            self.con.execute(f"ATTACH {quote_literal(str(partial))} AS percorso_backup")
            try:
                self.con.execute(f"COPY FROM DATABASE {quote_ident(current)} TO percorso_backup")
            finally:
                self.con.execute("DETACH percorso_backup")
        os.replace(partial, target)

    # -- files ------------------------------------------------------------------------
    def read_parquet(self, paths: list[str]) -> Table:
        """Ibis table over Parquet files (read in the engine, never through pandas)."""
        return self.ibis.read_parquet(paths)

    def copy_to_parquet(self, expr: Any, path: str | Path) -> None:
        sql = self.compile(expr)
        self.con.execute(f"COPY ({sql}) TO {quote_literal(str(path))} (FORMAT parquet)")


def translate_error(exc: BaseException, db_path: str | None = None) -> PercorsoError | None:
    """A database or system failure the user can act on, as a :class:`PercorsoError`; else None.

    A full disk (the database file, its ``.tmp`` spill folder or an output file) becomes
    :class:`DiskFull` with what to do; it must never read as "out of memory", which the
    engine reports when its spill folder hits its size limit (by default the free disk
    space). Other database errors (binder, catalog, …) are bugs: None, for the caller's
    "internal error" path.
    """
    where = Path(db_path).parent if db_path and db_path != ":memory:" else None
    if "max_temp_directory_size" in str(exc):   # the cap of the spilled files, before the disk fills
        return DiskFull("disk full: the engine's temporary files reached their cap "
                        f"({_cap_of(exc)}[engine] max_temp_size, default half the free disk); free some space "
                        "or raise the cap, then re-run the same command (ingest and build are idempotent)")
    if disk_full_text(exc):
        disk = f" on the disk holding {where} (the database and its temporary .tmp folder)" if where else ""
        return DiskFull(f"disk full: no space left{disk}; free some space, then re-run the same command "
                        "(ingest and build are idempotent: what was already written is kept or skipped)")
    if isinstance(exc, duckdb.OutOfMemoryException) or isinstance(exc, MemoryError):
        return OutOfMemory("out of memory: close other programs or run the command on a machine with more "
                           f"memory, then re-run it ({first_line(exc)})")
    if isinstance(exc, duckdb.IOException):
        return EngineError(f"database I/O error: {first_line(exc)}")
    return None


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int | None:
    """Bytes of a size as DuckDB writes or reads it (``"953.6 MiB"``, ``"8GB"``, ``"512 KB"``)."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _cap_of(exc: BaseException) -> str:
    import re

    m = re.search(r"\([0-9.]+ ?[KMGT]?i?B/([0-9.]+ ?[KMGT]?i?B) used\)", str(exc))   # "(832 KiB/976 KiB used)"
    return f"{m.group(1)}, " if m else ""


def first_line(exc: BaseException) -> str:
    """The first line of an error message (engine messages run over several lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (the only way identifiers enter SQL text)."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


#: The most values a text column is stored as an enumeration with (ADR 0071); past it, text.
ENUM_MAX_VALUES = 10_000


def enum_type(values: Iterable[str]) -> str:
    """DuckDB's ``ENUM`` of ``values`` (:meth:`Engine.create_table`), declared in text order:
    an enumeration sorts and takes its minimum by its declared order, so a column of it sorts
    as the text column it replaces."""
    return f"ENUM({', '.join(quote_literal(v) for v in sorted(set(values)))})"


def is_text_type(sql_type: str) -> bool:
    """Whether a column of ``sql_type`` (as the catalog names it) holds text: ``VARCHAR`` or an
    enumeration of texts (ADR 0071)."""
    return sql_type == "VARCHAR" or sql_type.startswith("ENUM(")


def name_key_sql(expr: str) -> str:
    """SQL of a name's lookup key: lowercase, trimmed, spaces and dashes as ``_``; event names
    and channel labels are looked up by it (``canonical_event_type``, ``channel_labels.label_key``
    compute the same in Python)."""
    return f"replace(replace(lower(trim({expr})), ' ', '_'), '-', '_')"


def open_engine(path: str | Path, *, read_only: bool = False, threads: int | None = None) -> Engine:
    return Engine(path, read_only=read_only, threads=threads)


def _ibis_frame(expr: Any, table: Any) -> Any:
    """An Arrow result of ``expr`` as ``ibis``'s DuckDB backend returns it from ``execute``
    (the same per-column conversion, then the expression's schema and result kind)."""
    import pandas as pd
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    df = pd.DataFrame({name: (col.to_pylist() if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count
                              else col.to_pandas())
                       for name, col in zip(table.column_names, table.columns)})
    return expr.__pandas_result__(DuckDBPandasData.convert_table(df, expr.as_table().schema()))
