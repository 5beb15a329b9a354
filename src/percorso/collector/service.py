"""The collector of one running server: its doors, spool writers, consumer and statistics.

Why one object: the routes, the CLI bridge (``percorso collector stats`` and ``source key
create`` sent through the server) and the shutdown all reach the same live spool and key
book; :data:`RUNNING` finds it by project folder from a command running inside the server.

Why intake workers (ADR 0030): the consumer and its build share the server's interpreter and
cores; a request answered by the server waits behind them. The tracking API is also served by
``[collector] workers`` processes of their own on the collector's port, which need no
database: the settings, the write keys (a file the server publishes) and a spool writer.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from pathlib import Path
from typing import Any

from percorso.collector.consumer import Consumer, clean_cycle_files
from percorso.collector.envelope import Intake
from percorso.collector.keys import KeyBook
from percorso.collector.spool import Spool, spool_figures

log = logging.getLogger("percorso.collector")

#: project folder -> the collector of the server running in this process
RUNNING: dict[Path, Collector] = {}


def event_names(settings: Any, source: str) -> dict[str, str]:
    """The event-name table of ``source`` (the one the file pipeline uses)."""
    from percorso.ingest.kinds import KINDS
    from percorso.ingest.pipeline import event_name_table

    src = settings.source(source)
    return event_name_table(KINDS[src.kind], src)


def intake_for(settings: Any, names: dict[str, str], ip: str | None, user_agent: str | None, *,
               historical: bool, now: dt.datetime | None = None) -> Intake:
    """What a request received ``now`` is checked against: names, the plausible time window."""
    ing = settings.ingest
    now = now or dt.datetime.now(dt.UTC)
    earliest = dt.datetime.combine(ing.earliest, dt.time(), dt.UTC)
    return Intake(received=now, ip=ip, user_agent=user_agent, names=names, earliest=earliest,
                  latest=now + dt.timedelta(days=ing.latest_days_ahead), historical=historical)


def spool_folder(root: Path) -> Path:
    return Path(root) / ".percorso" / "spool"


def keys_file(root: Path) -> Path:
    """The active write keys (hashes, sources) as the intake workers read them."""
    return Path(root) / ".percorso" / "collector-keys.json"


class Door:
    """What one door process needs to take a request: settings, keys, its spool writer, counters.

    The server's own routes use the :class:`Collector` (a door with a consumer); every intake
    worker process (:mod:`percorso.server.intake_worker`) has a door of its own on the same
    spool folder, with a writer name of its own.
    """

    def __init__(self, settings: Any, keys: KeyBook, spool: Spool) -> None:
        self.project_settings = settings
        self.settings = settings.collector
        self.keys = keys
        self.spool = spool
        self._names: dict[str, dict[str, str]] = {}
        self.requests = 0
        self.refused = 0
        self.busy = 0  # 503s for a full spool

    def intake(self, source: str, ip: str | None, user_agent: str | None, *, historical: bool) -> Intake:
        if source not in self._names:
            self._names[source] = event_names(self.project_settings, source)
        return intake_for(self.project_settings, self._names[source], ip, user_agent, historical=historical)


def writer_spool(root: Path, settings: Any, writer: str) -> Spool:
    """The spool writer ``writer`` of a project (sealing at ``batch_seconds`` / ``batch_events``)."""
    st = settings.collector
    return Spool(spool_folder(root), int(st.spool_max_mb * 1024 * 1024), writer=writer,
                 rotate_seconds=st.batch_seconds, rotate_events=st.batch_events)


class Collector(Door):
    """The door, the consumer and the intake workers of the server at ``state.root``."""

    def __init__(self, state: Any) -> None:
        st = state.project.settings
        self.state = state
        folder = spool_folder(state.root)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        keys = KeyBook(publish=keys_file(state.root))
        keys.load(state.engine)  # on the database worker (called from the start hook)
        clean_cycle_files(folder)
        super().__init__(st, keys, writer_spool(state.root, st, "s"))
        self.consumer = Consumer(folder, own=self.spool, lock=state.jobs.lock, project=state.jobs._project,
                                 changed=state.changed, batch_seconds=self.settings.batch_seconds,
                                 build=self.settings.build, threads=self.settings.micro_batch_threads)
        self.workers: IntakeWorkers | None = None

    def start(self, sock: Any = None) -> None:
        """Replay what waits, start the consumer and, given the collector's socket, the intake workers."""
        RUNNING[self.state.root] = self
        self.consumer.start()
        if sock is not None and self.settings.workers:
            self.workers = IntakeWorkers(self.state.root, sock, self.settings.workers)
            self.workers.start()

    def stop(self) -> None:
        """Stop the doors, then drain: the consumer takes what is spooled (a clean stop leaves it empty)."""
        RUNNING.pop(self.state.root, None)
        if self.workers is not None:
            self.workers.stop()  # each seals its files as it exits
        self.consumer.stop()
        self.spool.close()

    def stats(self) -> dict[str, Any]:
        """Live figures (this process and the spool folder) merged with the consumed totals (the database)."""
        out = {"server": "running", "requests": self.requests, "refused_requests": self.refused,
               "busy_503": self.busy, **spool_figures(self.consumer.folder),
               "intake_workers": self.workers.alive() if self.workers is not None else 0,
               "appended_events": self.spool.appended_events, "fsyncs": self.spool.syncs,
               "micro_batches": self.consumer.cycles, "last_build_error": self.consumer.last_build_error}
        last = self.consumer.last
        if last is not None:
            out["last_batch_seconds"] = last.seconds
            out["last_batch_events"] = last.events_read
        out["recent_batches"] = list(self.consumer.recent)
        return out


class IntakeWorkers:
    """The intake worker processes of a server: started, restarted when one dies, stopped.

    Each is ``python -m percorso.server.intake_worker`` accepting on the collector's socket
    (inherited; the kernel hands each connection to one of them) and writing the spool under
    its own writer name ``w<i>``. They die with the server (``PR_SET_PDEATHSIG``): a
    ``kill -9`` of the server leaves no door open on a spool nobody consumes.
    """

    def __init__(self, root: Path, sock: Any, n: int) -> None:
        self.root = Path(root)
        self.sock = sock
        self.n = n
        self.procs: list[Any] = [None] * n
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watcher, name="percorso-intake-watch", daemon=True)

    def _spawn(self, i: int) -> Any:
        import subprocess
        import sys

        fd = self.sock.fileno()
        return subprocess.Popen([sys.executable, "-m", "percorso.server.intake_worker", str(self.root), str(fd),
                                 f"w{i}", str(os.getpid())], pass_fds=(fd,))

    def start(self) -> None:
        for i in range(self.n):
            self.procs[i] = self._spawn(i)
        self._watch.start()

    def alive(self) -> int:
        return sum(1 for p in self.procs if p is not None and p.poll() is None)

    def _watcher(self) -> None:
        while not self._stop.wait(0.5):
            for i, p in enumerate(self.procs):
                if p is not None and p.poll() is not None and not self._stop.is_set():
                    log.warning("collector intake worker w%d exited (%s); restarting it", i, p.returncode)
                    self.procs[i] = self._spawn(i)  # its lock is free: it seals what its predecessor left

    def stop(self, timeout: float = 60) -> None:
        import signal
        import subprocess

        self._stop.set()
        if self._watch.is_alive():
            self._watch.join(timeout=5)
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            if p is None:
                continue
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:  # hung: killed; its unsynced lines were never acknowledged
                p.kill()
                p.wait(timeout=10)


def drain(project: Any, *, build: bool = False) -> Any:
    """Consume what waits in a project's spool without a server (tests; the server does it at start)."""
    folder = spool_folder(project.root)
    folder.mkdir(parents=True, exist_ok=True)
    consumer = Consumer(folder, own=None, lock=threading.Lock(), project=lambda: project, changed=lambda: None,
                        batch_seconds=1.0, build=build)
    return consumer.cycle(build=build)


def offline_stats(root: Path) -> dict[str, Any]:
    """What waits in the spool of a stopped server (replayed at its next start)."""
    return {"server": "stopped", **spool_figures(spool_folder(root))}


def stats(project: Any) -> dict[str, Any]:
    """``percorso collector stats``: accepted, deduplicated, quarantined, spool depth, lag."""
    from percorso.engine import collector_sql as S

    live = RUNNING.get(Path(project.root).resolve())
    out: dict[str, Any] = live.stats() if live is not None else offline_stats(Path(project.root))
    if project.engine.has_table("collector_batches"):
        totals = S.batch_totals(project.engine)
    else:
        totals = {"segments": 0, "events_read": 0, "accepted": 0, "duplicates": 0, "quarantined": 0,
                  "rejected": 0, "last_consumed_at": None}
    totals = {k: int(v) if k != "last_consumed_at" else v for k, v in totals.items()}
    totals["deduplicated"] = totals.pop("duplicates")
    totals["quarantined_total"] = totals["quarantined"] + totals["rejected"]
    return {**totals, **out}
