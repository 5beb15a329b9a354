"""What one running server holds: the project, its single database worker, the result cache.

Why a single worker thread: the DuckDB connection (and the Ibis backend bound to it) is not
safe to share between threads, and DuckDB lets one process write. Every database call of the
server, reads included, runs on one thread, in arrival order; cached answers never touch it.
``data_version`` changes after every write the server performs (it is the only writer while
it runs), which invalidates the cache without reading the database. Two other threads have
connections of their own: the background jobs' (imports, builds, the collector's
micro-batches: :mod:`percorso.server.jobs`) and the audit log's
(:class:`percorso.server.audit.AuditWriter`, ADR 0049).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from percorso.project import Project, open_project
from percorso.server.audit import AuditWriter
from percorso.server.login_link import LoginLinks
from percorso.server.sessions import SessionBook
from percorso.server.tokens import TokenBook

T = TypeVar("T")

#: Cached answers kept (least recently used dropped first).
CACHE_ENTRIES = 512


class ResultCache:
    """(kind, canonical query, data version) → JSON payload, bounded, thread-safe."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self._items: OrderedDict[tuple[str, str, int], Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def key(kind: str, query: dict[str, Any], version: int) -> tuple[str, str, int]:
        return kind, json.dumps(query, sort_keys=True, separators=(",", ":")), version

    def get(self, key: tuple[str, str, int]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: tuple[str, str, int], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class ServerState:
    """The project a server owns and the means to use it safely from async routes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.project: Project = open_project(self.root)
        self._shared = False
        self.tokens = TokenBook()
        self.cache = ResultCache()
        self.data_version = 0
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="percorso-db")
        # its journal is replayed and its connection made at start-up (app._startup)
        self.audit_log = AuditWriter(self.root / ".percorso" / "audit-journal.jsonl")
        self.stopping = threading.Event()
        self._used: dict[str, Any] = {}
        self.jobs: Any = None  # the JobRunner, set at start
        self.collector: Any = None  # the Segment intake (percorso.collector.service), set at start
        self.announce_url: str | None = None
        self.login_links = LoginLinks()
        self.sessions = SessionBook()  # the dashboard's log-ins (percorso.server.sessions)

    @property
    def engine(self) -> Any:
        engine = self.project.engine
        if not self._shared:
            from percorso.project import share_engine

            share_engine(engine, self.project.database_path)  # CLI commands run here use it
            self._shared = True
        return engine

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the database worker and wait (for threads that may block)."""
        return self._db.submit(fn, *args).result()

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the database worker without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def read(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the database worker, once per data version: a read that is a function of
        the data alone (a customer's profile, why their identifiers are one person), kept in the
        result cache under ``(name, args)`` like an analysis answer.

        Why: a page that is not one typed query (Cliente 360) would otherwise redo its reads on
        every opening; on the 10M-event project the identity explanation alone took 9.5 s.
        Anything that changes data calls :meth:`changed`, which empties the cache.
        """
        key = self.cache.key(f"read:{name}", {"args": [str(a) for a in args]}, self.data_version)
        hit = self.cache.get(key)
        if hit is None:
            hit = await self.db(fn, *args)
            self.cache.put(key, hit)
        return hit

    async def look_up(self, name: str, key: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the database worker; a :class:`~percorso.errors.NotFound` it raises for
        ``key`` is remembered until the data changes, and raised again without a read.

        Why: a client waiting for a customer who is not there yet (a page polling the profile of
        someone who just signed up; the collector bench's freshness probes, twice a second each)
        asked the database "who is this?" on every poll, ~10-25 ms of the one database thread and
        of the cores the collector's micro-batch needs; the answer cannot change before the data
        does (:meth:`changed`). Found answers are not kept (each view is audited and read fresh).
        """
        from percorso.errors import NotFound

        missed = self.cache.key(f"missing:{name}", {"key": key}, self.data_version)  # the version the read starts at
        message = self.cache.get(missed)
        if message is not None:
            raise NotFound(message)
        try:
            return await self.db(fn, *args)
        except NotFound as exc:
            self.cache.put(missed, str(exc))
            raise

    def note_token_use(self, principal: Any) -> None:
        """Remember when a token was last used (written at shutdown, never per request)."""
        from percorso.server.tokens import utcnow

        self._used[principal.token_id] = utcnow()

    async def audit(self, request: Any, action: str, *, query: Any = None, status: int = 200,
                    rows: int | None = None, detail: str | None = None) -> None:
        """Append one audit row for this request (who, what, when, how many rows); the answer
        leaves once the row is durable in the audit journal, and it is committed to the table
        just after (:class:`~percorso.server.audit.AuditWriter`, ADR 0049).

        Why not the commit on the database worker: it waited for the collector's micro-batch
        commits and checkpoints (1-2 s), and every request queued behind it waited too; awaited
        on a connection of its own it still waited for them (freshness probes' profile reads
        p99 934 ms against 975 on the worker). Why not only queued: a read served is a read
        recorded, even if the server is killed the next instant; the journal's fsync costs
        milliseconds and the next start commits what it holds.
        """
        from percorso.server import audit

        principal = getattr(request.state, "principal", None)
        # the route's template (/v1/customers/{identifier}), never the path typed: an identifier
        # in the URL may be an e-mail or a phone, and the audit log holds no personal data
        route = getattr(request.scope.get("route"), "path", None) or request.url.path
        row = audit.audit_row(principal, action, f"{request.method} {route}", query, status, rows, detail)
        await asyncio.wrap_future(self.audit_log.submit(row))

    async def audit_flushed(self) -> None:
        """Wait until every audit row submitted so far is committed (before reading the log)."""
        await asyncio.wrap_future(self.audit_log.flush())

    @contextmanager
    def rewriting(self) -> Iterator[None]:
        """Around anything that replaces or rewrites the database file (a restore, an erasure, a
        retention run), on the database worker: jobs and collector micro-batches wait (the job
        lock), audit commits wait, and both their connections are forked again from the new
        file after.

        Why: a rewrite closes the server's connection, and with it every fork made from it; a
        job or a micro-batch writing during the rewrite's copy would be missing from the new
        file. Before ADR 0049 only a restore reconnected the jobs' connection: after an erasure
        through the server, every import, build and micro-batch failed with "Connection already
        closed" until a restart.
        """
        jobs = self.jobs
        with jobs.lock if jobs is not None else nullcontext(), self.audit_log.paused(lambda: self.engine):
            try:
                yield
            finally:
                if jobs is not None:
                    jobs.reconnect()
                if self.collector is not None:
                    self.collector.consumer.database_replaced()

    def changed(self) -> None:
        """Data changed (ingest, build, segment, restore): cached answers are stale."""
        self.data_version += 1
        self.cache.clear()
        if self._shared:  # an engine in use: a build may have changed a table's columns
            self.project.engine.data_written()

    def restore(self, file: Path) -> Path:
        """Replace the database with a backup while serving (``percorso restore`` through us).

        Runs on the database worker (the CLI bridge calls it there; other callers go through
        :meth:`run_sync`): jobs and audit commits are paused, the three connections closed, the
        file swapped, the connections reopened (the server's shared again), tokens reloaded and
        the run file rewritten.
        """
        from percorso.backup import check_backup, swap_in
        from percorso.project import unshare_engine

        if not threading.current_thread().name.startswith("percorso-db"):
            return self.run_sync(self.restore, file)
        check_backup(file)
        with self.rewriting():
            unshare_engine(self.project.database_path)
            self.project.close()
            self._shared = False
            kept = swap_in(self.project.database_path, file)
            from percorso.engine import server_sql as S

            S.ensure_service_tables(self.engine)  # reopens, migrates and shares the restored file
            self.tokens.load(self.engine)
            if self.announce_url:
                from percorso.server.app import _announce

                _announce(self, self.announce_url)
            self.changed()
        return kept

    def close(self) -> None:
        """Finish queued database work, then checkpoint and close the file."""
        from percorso.engine import server_sql as S

        self.stopping.set()
        used, self._used = list(self._used.items()), {}
        if used:
            self._db.submit(S.touch_tokens, self.engine, used).result()
        from percorso.project import unshare_engine

        unshare_engine(self.project.database_path)
        self.audit_log.close()  # rows still queued are committed first
        self._db.submit(self.project.close).result()
        self._db.shutdown(wait=True)
