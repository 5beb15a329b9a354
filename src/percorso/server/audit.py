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
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
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


class AuditWriter:
    """The server's audit rows, committed on a connection and a thread of their own.

    :meth:`submit` queues a row and returns a future that completes once the row is
    committed; rows queued while a commit runs are written together in the next one (a
    group commit: one commit per burst of requests, not per row). :meth:`flush` waits for
    every row queued before it (``GET /v1/audit``, a backup, a command through the server
    read the log after it). The connection is a fork of the server's
    (:meth:`percorso.engine.Engine.fork`), made on the database worker by :meth:`connect`;
    :meth:`paused` closes it while a restore swaps the file, and :meth:`close` writes what
    is queued and closes it at a stop.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="percorso-audit")
        self._pending: list[tuple[dict[str, Any], Future[None]]] = []
        self._lock = threading.Lock()  # guards _pending
        self._gate = threading.Lock()  # held by a commit, and by a restore while it swaps the file
        self._engine: Engine | None = None

    def connect(self, engine: Engine) -> None:
        """Open the writer's connection on ``engine``'s database (call on the thread using ``engine``)."""
        self._engine = engine.fork()

    def submit(self, row: dict[str, Any]) -> Future[None]:
        """Queue ``row``; the future completes when it is committed (or holds the failure)."""
        done: Future[None] = Future()
        with self._lock:
            self._pending.append((row, done))
        self._pool.submit(self._commit)
        return done

    def flush(self) -> Future[None]:
        """A future that completes once every row submitted before this call is committed."""
        return self._pool.submit(lambda: None)

    def _commit(self) -> None:
        """Write every queued row in one statement (a later call finds the queue empty)."""
        with self._gate:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                if self._engine is None:
                    from percorso.errors import EngineError

                    raise EngineError("the audit log's connection is closed (the server is stopping)")
                _append(self._engine, [row for row, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                log.error("%d audit row(s) not written: %s", len(batch), exc)
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)

    @contextmanager
    def paused(self, reopen: Any) -> Iterator[None]:
        """No commit while the database file is swapped (a restore): the connection is closed on
        the way in and made again from ``reopen()`` (the server's engine) on the way out; rows
        submitted meanwhile wait and go into the restored file."""
        with self._gate:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            try:
                yield
            finally:
                self.connect(reopen())

    def close(self) -> None:
        """Commit what is queued, close the connection and the thread (a stop)."""
        self.flush().result()

        def shut() -> None:
            with self._gate:
                if self._engine is not None:
                    self._engine.close()
                    self._engine = None

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)


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
