"""The audit log: who read individual-level data, who wrote, who exported, and when.

Why append-only and in the database: the record must survive restarts and travel with
backups; nothing updates or deletes it (there is no route that could). A row says who
(token name and role), what (action, route, the query as JSON), when, the status and how
many rows left. It never holds personal data: the query names customer ids or keyed hashes
at most, and identifiers typed by a user are written as their keyed hash.

Why a connection and a thread of its own (:class:`AuditWriter`, ADR 0049): a row is a
commit, and a commit waits for the database's other commits and checkpoints (DuckDB writes
its log one commit at a time and holds new writes while it checkpoints). Written on the
server's database worker, every audited answer (a found profile, a drill-down) and every
read queued behind it waited for the collector's micro-batch commits and its 1-2 s
checkpoints. On the writer's own connection only the audit commit waits for them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from percorso.engine import server_sql as S
from percorso.server.tokens import Principal, utcnow

if TYPE_CHECKING:
    from percorso.engine import Engine

log = logging.getLogger("percorso.server")
_SCHEMA = pa.schema([("audit_id", pa.string()), ("occurred_at", pa.timestamp("us")), ("who", pa.string()),
                     ("role", pa.string()), ("action", pa.string()), ("route", pa.string()),
                     ("query", pa.string()), ("status", pa.int32()), ("row_count", pa.int64()),
                     ("detail", pa.string())])


def audit_row(principal: Principal | None, action: str, route: str, query: Any = None, status: int = 200,
              row_count: int | None = None, detail: str | None = None) -> dict[str, Any]:
    return {"audit_id": uuid.uuid4().hex, "occurred_at": utcnow(), "who": principal.name if principal else None,
            "role": principal.role.name if principal else None, "action": action, "route": route,
            "query": None if query is None else json.dumps(query, sort_keys=True, default=str),
            "status": status, "row_count": row_count, "detail": detail}


def write(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Append audit rows (one batch), creating the table when missing."""
    S.ensure_service_tables(engine)
    _append(engine, rows)


def _append(engine: Engine, rows: list[dict[str, Any]]) -> None:
    S.append_audit(engine, pa.Table.from_pylist(rows, schema=_SCHEMA))


#: Past this size the journal is emptied once every row in it is committed (a few thousand rows).
JOURNAL_TRIM_BYTES = 1 << 20


class AuditWriter:
    """The server's audit rows: durable in a journal before the answer leaves, then committed to
    ``audit_log`` on a connection and a thread of their own (ADR 0049).

    :meth:`submit` queues a row and returns a future that completes once the row is in the
    journal (appended and fsync'd: a few milliseconds, like the collector's spool); rows queued
    meanwhile share one fsync. A second thread then appends them to ``audit_log`` on a fork of
    the server's connection (:meth:`percorso.engine.Engine.fork`), one statement per burst;
    that commit may wait for the collector's commits and checkpoints, and nothing else waits
    for it. :meth:`replay` (at start-up) puts the rows a killed server journaled but did not
    commit into the table, once each (by ``audit_id``). :meth:`flush` waits for every row
    submitted before it to be committed (``GET /v1/audit``, a backup, a command sent through
    the server read the table after it). :meth:`paused` closes the connection while the file is
    replaced (a restore, an erasure's rewrite); :meth:`close` commits what is queued and closes
    everything at a stop.
    Without a journal path (a bare writer) rows are only committed, and the future follows the
    commit.
    """

    def __init__(self, journal: Path | None = None) -> None:
        self._journal_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="percorso-audit-journal")
        self._db_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="percorso-audit")
        self._pending: list[tuple[dict[str, Any], Future[None]]] = []
        self._lock = threading.Lock()  # guards _pending
        self._gate = threading.RLock()  # held by a commit, and while the database file is replaced
        self._journal_lock = threading.Lock()  # held while the journal is written or emptied
        self._journal_path = journal
        self._journal: int | None = None  # the journal's file descriptor, opened at the first row
        self._journaled = self._committed = 0  # rows in the journal / of them committed
        self._engine: Engine | None = None

    def connect(self, engine: Engine) -> None:
        """Open the writer's connection on ``engine``'s database (call on the thread using ``engine``)."""
        with self._gate:
            if self._engine is not None:
                self._engine.close()
            self._engine = engine.fork()

    # -- the journal ----------------------------------------------------------------------
    def replay(self, engine: Engine) -> int:
        """Commit the journaled rows missing from ``audit_log`` (a server killed before it committed
        them), then empty the journal; how many were added. A last line cut by the kill was
        never fsync'd, so its request was never answered: it is skipped."""
        if self._journal_path is None or not self._journal_path.exists():
            return 0
        rows = []
        for line in self._journal_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                row["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
            except (ValueError, KeyError, TypeError):
                continue
            rows.append(row)
        added = S.append_missing_audit(engine, pa.Table.from_pylist(rows, schema=_SCHEMA)) if rows else 0
        self._journal_path.write_bytes(b"")
        if added:
            log.warning("%d audit row(s) of requests answered before the last stop were recovered from %s",
                        added, self._journal_path.name)
        return added

    def _write_journal(self) -> None:
        """Append every queued row to the journal with one fsync, answer their requests, queue the commit."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        rows = [row for row, _ in batch]
        waiting: list[Future[None]] = [done for _, done in batch]
        if self._journal_path is not None:
            try:
                with self._journal_lock:
                    self._append_journal(rows)
            except OSError as exc:  # the answers wait for the commit instead
                log.error("audit journal not written (%s): the rows are committed before their answers leave", exc)
            else:
                for done in waiting:
                    done.set_result(None)
                waiting = []
        self._db_pool.submit(self._commit, rows, waiting, not waiting)

    def _append_journal(self, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` as JSON lines and fsync (``_journal_lock`` held); a failed write is cut
        off again, so the next rows never follow half a line."""
        if self._journal is None:
            assert self._journal_path is not None
            self._journal_path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = os.open(self._journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            folder = os.open(self._journal_path.parent, os.O_RDONLY)
            try:  # the new file's name is durable too
                os.fsync(folder)
            finally:
                os.close(folder)
        data = "".join(json.dumps(r, default=str) + "\n" for r in rows).encode("utf-8")
        at = os.fstat(self._journal).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._journal, view):]
            os.fsync(self._journal)
        except OSError:
            os.ftruncate(self._journal, at)
            raise
        self._journaled += len(rows)

    # -- the table ------------------------------------------------------------------------
    def submit(self, row: dict[str, Any]) -> Future[None]:
        """Queue ``row``; the future completes when it is durable (journaled, or else committed)."""
        done: Future[None] = Future()
        with self._lock:
            self._pending.append((row, done))
        self._journal_pool.submit(self._write_journal)
        return done

    def flush(self) -> Future[None]:
        """A future that completes once every row submitted before this call is committed."""
        done: Future[None] = Future()

        def after_journal() -> None:
            self._db_pool.submit(lambda: None).add_done_callback(lambda _: done.set_result(None))

        self._journal_pool.submit(after_journal)
        return done

    def _commit(self, rows: list[dict[str, Any]], waiting: list[Future[None]], journaled: bool) -> None:
        """Append ``rows`` in one statement; empty a large journal once all of it is committed."""
        with self._gate:
            try:
                if self._engine is None:
                    from percorso.errors import EngineError

                    raise EngineError("the audit log's connection is closed")
                _append(self._engine, rows)
            except BaseException as exc:  # noqa: BLE001 - logged; a journaled row is replayed at the next start
                log.error("%d audit row(s) not committed%s: %s", len(rows),
                          " (kept in the journal for the next start)" if journaled else "", exc)
                for done in waiting:
                    done.set_exception(exc)
                return
            for done in waiting:
                done.set_result(None)
            if journaled:
                with self._journal_lock:
                    self._committed += len(rows)
                    if self._journal is not None and os.fstat(self._journal).st_size > JOURNAL_TRIM_BYTES:
                        self._trim_journal()

    def _trim_journal(self) -> None:
        """Empty the journal when every row in it is committed (``_journal_lock`` held)."""
        if self._journal is not None and self._journaled == self._committed:
            os.ftruncate(self._journal, 0)
            self._journaled = self._committed = 0

    @contextmanager
    def paused(self, reopen: Any) -> Iterator[None]:
        """No commit while the database file may be replaced (a restore; an erasure or a retention
        run, which rewrite it and close the server's connection, and with it this fork): the
        connection is closed on the way in and made again from ``reopen()`` (the server's engine)
        on the way out; rows submitted meanwhile are journaled as usual and committed into the
        new file. The journal is emptied first when all of it is committed (its rows are in the
        old file, or in its copy). Call on the database worker; it may nest."""
        with self._gate:
            with self._journal_lock:
                self._trim_journal()
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            try:
                yield
            finally:
                self.connect(reopen())

    def close(self) -> None:
        """Commit what is queued, close the connection, the journal and the threads (a stop)."""
        self.flush().result()
        self._journal_pool.shutdown(wait=True)

        def shut() -> None:
            with self._gate:
                if self._engine is not None:
                    self._engine.close()
                    self._engine = None

        self._db_pool.submit(shut).result()
        self._db_pool.shutdown(wait=True)
        with self._journal_lock:
            self._trim_journal()
            if self._journal is not None:
                os.close(self._journal)
                self._journal = None


def read(engine: Engine, since: date | datetime | None = None, who: str | None = None,
         limit: int = 1000) -> list[dict[str, Any]]:
    """Audit rows, oldest first, optionally from ``since`` (a local day or wall time of the
    project's zone) and for one token name."""
    from percorso.engine.localtime import utc_value

    S.ensure_service_tables(engine)
    if isinstance(since, date) and not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    if since is not None:
        since = utc_value(since, engine.time_zone)
    return S.read_audit(engine, since, who, limit).to_pylist()
