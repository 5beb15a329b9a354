"""The collector of one running server: its keys, spool and consumer, and its statistics.

Why one object: the routes, the CLI bridge (``percorso collector stats`` and ``source key
create`` sent through the server) and the shutdown all reach the same live spool and key
book; :data:`RUNNING` finds it by project folder from a command running inside the server.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from percorso.collector.consumer import Consumer
from percorso.collector.envelope import Intake
from percorso.collector.keys import KeyBook
from percorso.collector.spool import Spool, count_lines

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


class Collector:
    """Keys, spool and consumer of the server at ``state.root``."""

    def __init__(self, state: Any) -> None:
        st = state.project.settings
        self.state = state
        self.settings = st.collector
        self.keys = KeyBook()
        self.keys.load(state.engine)  # on the database worker (called from the start hook)
        self.spool = Spool(spool_folder(state.root), int(self.settings.spool_max_mb * 1024 * 1024))
        self.consumer = Consumer(self.spool, lock=state.jobs.lock, project=state.jobs._project, changed=state.changed,
                                 batch_seconds=self.settings.batch_seconds, batch_events=self.settings.batch_events,
                                 build=self.settings.build)
        self._names: dict[str, dict[str, str]] = {}
        self.requests = 0
        self.refused = 0
        self.busy = 0  # 503s for a full spool

    def start(self) -> None:
        RUNNING[self.state.root] = self
        self.consumer.start()

    def stop(self) -> None:
        """Drain: the consumer takes what is spooled (a clean stop leaves an empty spool)."""
        RUNNING.pop(self.state.root, None)
        self.consumer.stop()
        self.spool.close()

    def intake(self, source: str, ip: str | None, user_agent: str | None, *, historical: bool) -> Intake:
        if source not in self._names:
            self._names[source] = event_names(self.state.project.settings, source)
        return intake_for(self.state.project.settings, self._names[source], ip, user_agent, historical=historical)

    def stats(self) -> dict[str, Any]:
        """Live figures (this process) merged with the consumed totals (the database)."""
        out = {"server": "running", "requests": self.requests, "refused_requests": self.refused,
               "busy_503": self.busy, "spool_bytes": self.spool.pending_bytes,
               "spool_events": self.spool.pending_events, "lag_seconds": round(self.spool.lag_seconds(), 3),
               "appended_events": self.spool.appended_events, "fsyncs": self.spool.syncs,
               "micro_batches": self.consumer.cycles, "last_build_error": self.consumer.last_build_error}
        last = self.consumer.last
        if last is not None:
            out["last_batch_seconds"] = last.seconds
        return out


def drain(project: Any, *, build: bool = False) -> Any:
    """Consume what waits in a project's spool without a server (tests; the server does it at start)."""
    import threading

    spool = Spool(spool_folder(project.root), 1 << 62)
    try:
        consumer = Consumer(spool, lock=threading.Lock(), project=lambda: project, changed=lambda: None,
                            batch_seconds=1.0, batch_events=1, build=build)
        return consumer.cycle(build=build)
    finally:
        spool.close()


def offline_stats(root: Path) -> dict[str, Any]:
    """What waits in the spool of a stopped server (replayed at its next start)."""
    folder = spool_folder(root)
    files = [p for p in folder.iterdir() if p.name.endswith(".jsonl")] if folder.is_dir() else []
    events = [p for p in files if p.name.endswith(".events.jsonl")]
    oldest = min((p.stat().st_mtime for p in events), default=None)
    import time

    return {"server": "stopped", "spool_bytes": sum(p.stat().st_size for p in files),
            "spool_events": sum(count_lines(p) for p in events),
            "lag_seconds": round(time.time() - oldest, 3) if oldest else 0.0}


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
