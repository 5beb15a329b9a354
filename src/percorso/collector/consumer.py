"""The consumer: sealed spool units → the file ingest pipeline → ``events`` → incremental build.

Why the file pipeline and not an insert of its own: a spool file *is* a Segment JSON Lines
file, so :func:`percorso.ingest.pipeline.ingest_files` reads it with the same validation,
quarantine, keyed hashes (e-mail, phone, IP), event ids (the ``messageId`` hashed with the
source name: a retried call, or an event also imported from a file, is stored once) and
deduplication as ``percorso ingest``. One definition of an event, whatever the door.

Why per source one file per cycle: every writer (the server's routes and each intake worker)
seals its files every second or so, and the pipeline pays a fixed cost per file; the sealed
events files of a source are copied into one ``cycle-*.jsonl`` (not a spool name) and
ingested in one transaction.

Why it is idempotent, so a crash replays and never duplicates: each cycle has three steps,
each safe to repeat. (1) ``ingest_files`` commits the events (an event id already stored is a
duplicate and adds nothing, so a cycle file holding units already ingested adds nothing for
them). (2) One transaction writes the refused payloads to ``quarantine`` and a
``collector_batches`` row per unit; a replay that finds the row skips the unit. (3) The
files are deleted. A kill between any two steps leaves the files in the spool and the next
cycle resumes at the step that did not happen.

Micro-batches: the loop looks at the spool every ``min(0.25, batch_seconds)`` seconds and
consumes whatever the writers have sealed (they seal every ``batch_seconds`` or
``batch_events``, whichever comes first), then runs the incremental build (ADR 0019) so
profiles, identity and saved segments follow within seconds. Under load the cycles run back
to back and each takes what arrived during the last one: the batch grows with the load, the
build's fixed cost is paid once per cycle. It holds the job lock while it writes: imports,
builds and restores through the server never run at the same time as a micro-batch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from percorso.collector.spool import Segment, Spool, count_lines, seal_orphans, sealed_segments
from percorso.engine import collector_sql as S

log = logging.getLogger("percorso.collector")

_REJECT_SCHEMA = pa.schema([("reason", pa.string()), ("message", pa.string()), ("raw", pa.string()),
                            ("where", pa.string()), ("line", pa.int64()), ("at", pa.timestamp("us"))])
CYCLE_PREFIX = "cycle-"
WAL_MB = 256  # the log a micro-batch may leave unchecked (engine.collector_sql.defer_checkpoints)
IDLE_CHECKPOINT_BYTES = 16 << 20  # an idle consumer writes a log past DuckDB's usual threshold into the file
#: a busy one writes it between micro-batches when the next micro-batch would take it past WAL_MB
#: (this much more than the last one wrote, to allow for a growing batch; 0: only DuckDB's own, at WAL_MB)
BUSY_CHECKPOINT_MARGIN = 1.5


@dataclass
class CycleReport:
    """What one micro-batch did."""

    segments: int = 0
    events_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rejected: int = 0
    build: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: wall-clock times (Unix seconds) of the cycle: when its oldest unit's file was created
    #: (the door's first line in it), when the cycle started, its ingest ended and its build
    #: committed (the events visible in profiles): where an event's seconds went
    at: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of the process (every thread: DuckDB's too) during the ingest and the build
    cpu: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Consumer:
    """The background loop of one server; :meth:`cycle` alone drains a spool without a server."""

    def __init__(self, folder: Path, *, own: Spool | None, lock: Any, project: Callable[[], Any],
                 changed: Callable[[], None], batch_seconds: float, build: bool, threads: int = 0) -> None:
        self.folder = Path(folder)
        self.own = own  # this process's writer (sealed on demand: a stop, a drain)
        self.lock = lock  # the server's job lock: no import, build or restore runs meanwhile
        self.project = project  # a Project on a connection only the lock holder uses
        self.changed = changed  # data changed: cached answers are stale
        self.poll = min(0.25, batch_seconds)
        self.build = build
        self.threads = threads  # engine threads during a micro-batch (0: the engine's)
        self.last: CycleReport | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=500)  # the last cycles' timings (stats, benches)
        self.cycles = 0
        self.last_build_error: str | None = None
        # a server killed between an ingest and its build, or stopped (the drain at a stop does
        # not build), leaves events without touchpoints: the first cycle after a start builds
        self.unbuilt = build
        self._failed_at = 0.0
        self._deferred = False  # checkpoints deferred on this database (set by the first cycle)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="percorso-collector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def database_replaced(self) -> None:
        """The database file was replaced (restore, erasure, retention run; the job lock held):
        defer its checkpoints again at the next cycle (``checkpoint_threshold`` is a setting of
        the open database, back to DuckDB's default on the new one)."""
        self._deferred = False

    def poke(self) -> None:
        """Look at the spool now (a writer sealed)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the cycle in progress, consume what is sealed, then stop (a clean shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=600)

    def _loop(self) -> None:
        try:  # the micro-batch yields the cores to the door (intake workers, API) when both want them
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass
        busy = False
        while True:
            # under load the writers sealed more units during the cycle that just ended: the next
            # one starts at once (a poll's wait between back-to-back cycles was up to 0.25 s
            # added to every event's latency); an idle spool is looked at every poll
            if not busy:
                self._wake.wait(self.poll)
            self._wake.clear()
            stopping = self._stop.is_set()
            busy = False
            try:
                busy = self.cycle(build=self.build and not stopping, seal=stopping) is not None
                if not busy:
                    self._checkpoint_if_idle()
            except Exception:  # noqa: BLE001 - the spool keeps everything; the next cycle retries
                log.exception("collector micro-batch failed; the spool keeps its events and the next cycle retries")
            if stopping:
                return

    # -- one micro-batch ------------------------------------------------------------------
    def cycle(self, *, build: bool = True, seal: bool = True) -> CycleReport | None:
        """Consume every sealed unit (``seal``: this process's current files too), build; None when nothing waited."""
        if seal and self.own is not None:
            self.own.seal()
        seal_orphans(self.folder)
        segments = sealed_segments(self.folder)
        retry = self.unbuilt and time.monotonic() - self._failed_at > 30
        if not segments and not (build and retry):
            return None
        t0, c0 = time.perf_counter(), time.process_time()
        report = CycleReport()
        report.at["oldest_unit"] = min((s.seq / 1e9 for s in segments), default=time.time())
        wal0 = self._wal_bytes()
        with self.lock:
            report.at["start"] = time.time()  # the lock taken: an import or a build may have held it
            project = self.project()
            if not self._deferred and not project.engine.read_only:
                S.defer_checkpoints(project.engine, WAL_MB)
                self._deferred = True
            # one engine thread: a second one cost a loaded 2-core machine more CPU and more wall
            # time for the micro-batch's small statements (ADR 0040); restored for the jobs after
            threads = S.set_threads(project.engine, self.threads) if self.threads else 0
            try:
                self._micro_batch(project, segments, report, build, retry, t0, c0)
            finally:
                if threads:
                    S.set_threads(project.engine, threads)
        if not report.segments and not report.build:
            return None
        self.changed()
        report.seconds["total"] = round(time.perf_counter() - t0, 3)
        self.last = report
        self.cycles += 1
        self.recent.append({"events": report.events_read, "accepted": report.accepted, "at": report.at,
                            "seconds": report.seconds, "cpu": report.cpu,
                            "build_steps": report.build.get("steps", {}),
                            "identity_phases": report.build.get("identity_phases", {}),
                            "customers_rebuilt": report.build.get("customers_rebuilt"),
                            "customers_from_tail": report.build.get("customers_from_tail"),
                            "customers_from_state": report.build.get("customers_from_state")})
        if BUSY_CHECKPOINT_MARGIN and self._deferred:
            c1 = time.process_time()
            grew = max(0, self._wal_bytes() - wal0)
            ran = self._checkpoint_past(max(IDLE_CHECKPOINT_BYTES, (WAL_MB << 20) - int(BUSY_CHECKPOINT_MARGIN * grew)))
            if ran is not None:
                report.seconds["checkpoint"] = ran
                report.cpu["checkpoint"] = round(time.process_time() - c1, 3)
        return report

    def _micro_batch(self, project: Any, segments: list[Segment], report: CycleReport, build: bool, retry: bool,
                     t0: float, c0: float) -> None:
        """Ingest every sealed unit, then build (the job lock held by the caller)."""
        by_source: dict[str, list[Segment]] = {}
        for seg in segments:
            by_source.setdefault(seg.source, []).append(seg)
        for source, segs in by_source.items():
            self._consume(project, source, segs, report)
        report.seconds["ingest"] = round(time.perf_counter() - t0, 3)
        report.at["ingested"] = time.time()
        c1 = time.process_time()
        report.cpu["ingest"] = round(c1 - c0, 3)
        if build and (report.accepted or (retry and _needs_build(project.engine))):
            t1 = time.perf_counter()
            try:
                report.build = live_build(project)
                self.last_build_error, self.unbuilt = None, False
            except Exception as exc:  # noqa: BLE001 - events are in; a later cycle builds again
                self.unbuilt, self._failed_at = True, time.monotonic()
                self.last_build_error = f"{type(exc).__name__}: {exc}"
                report.errors.append(f"build: {self.last_build_error}")
                log.warning("collector: incremental build failed: %s", self.last_build_error)
            report.seconds["build"] = round(time.perf_counter() - t1, 3)
            report.at["built"] = time.time()
            report.cpu["build"] = round(time.process_time() - c1, 3)
        elif retry:
            self.unbuilt = False  # nothing waits to be built

    def _checkpoint_if_idle(self) -> None:
        """Nothing waits: write a grown log into the database file now, not during a micro-batch."""
        self._checkpoint_past(IDLE_CHECKPOINT_BYTES)

    def _wal_bytes(self) -> int:
        """The database's write-ahead log, in bytes (0 before the first micro-batch or without one)."""
        if not self._deferred:
            return 0
        try:
            return Path(f"{self.project().engine.path}.wal").stat().st_size
        except (OSError, TypeError):
            return 0

    def _checkpoint_past(self, limit: int) -> float | None:
        """Write the log into the database file when it is past ``limit`` bytes; the seconds it took, or None.

        Why between micro-batches too: under a steady load the spool is never empty, so the
        log grew to ``WAL_MB`` and DuckDB wrote it inside a commit of a micro-batch (~0.85 s
        at 256 MB on the 1M-event project), added to every event of that micro-batch and of
        the next. Written after a micro-batch has committed (its events are visible), the same
        checkpoint delays only the next one: :meth:`cycle` checkpoints when the next
        micro-batch, writing as much log as the last one (times ``BUSY_CHECKPOINT_MARGIN``),
        would pass ``WAL_MB``. Not earlier: a checkpoint has a large fixed part (0.3-0.9 s each
        at 32-64 MB of log), so twelve micro-batches of 25,000 events took 22.0 s with one
        checkpoint at 256 MB, 24.7 s checkpointing at 128 MB, 25.8 s at 64 MB and 28.4 s at
        32 MB (ADR 0048).
        """
        if not self._deferred:
            return None
        with self.lock:
            if self._wal_bytes() <= limit:
                return None
            t = time.perf_counter()
            S.checkpoint(self.project().engine)
            return round(time.perf_counter() - t, 3)

    def _consume(self, project: Any, source: str, segs: list[Segment], report: CycleReport) -> None:
        """Every sealed unit of one source: one ingest, one transaction of bookkeeping, then delete."""
        from percorso.ingest.pipeline import ingest_files

        engine = project.engine
        S.ensure_collector_tables(engine)
        units: dict[str, list[Segment]] = {}
        for seg in segs:
            units.setdefault(seg.stem, []).append(seg)
        done = S.consumed_segments(engine, list(units))
        for stem in done:  # a replay after a kill between the bookkeeping commit and the delete
            self._forget(units.pop(stem))
            report.segments += 1
        if not units:
            return
        events = [s for group in units.values() for s in group if s.kind == "events" and s.path.stat().st_size]
        lines: dict[str, int] = {}
        run_id, accepted, duplicates, quarantined = None, 0, 0, 0
        if events:
            name = f"{CYCLE_PREFIX}{events[0].stem}+{len(events) - 1}.events.jsonl"
            cycle_file = self.folder / name
            try:
                sha, counts = _concatenate([s.path for s in events], cycle_file)
                lines = {s.stem: n for s, n in zip(events, counts)}
                # the spool is UTF-8 (the door decoded every body and wrote it back as UTF-8)
                rep = ingest_files(project, source, [cycle_file], sha256={str(cycle_file): sha}, encoding="utf-8")[0]
            finally:
                cycle_file.unlink(missing_ok=True)
            if rep.error:
                report.errors.append(f"{name}: {rep.error}")
                log.error("collector: %s not consumed: %s (kept in the spool)", name, rep.error)
                return
            run_id, accepted, duplicates, quarantined = rep.ingest_run_id, rep.accepted, rep.duplicates, rep.quarantined
        refused = [t for group in units.values() for s in group
                   if s.kind == "rejects" and s.path.stat().st_size and (t := _read_rejects(s.path)) is not None]
        n_refused = sum(t.num_rows for t in refused)
        rows, first = [], True
        for stem, group in units.items():
            ev = next((s for s in group if s.kind == "events"), None)
            rej = next((s for s in group if s.kind == "rejects"), None)
            lo, hi = _received_span(ev or rej)
            # the cycle's pipeline figures are on its first unit (one ingest ran for them all)
            rows.append({"segment": stem, "source_name": source, "consumed_at": _now(), "events_read": lines.get(stem, 0),
                         "accepted": accepted if first else 0, "duplicates": duplicates if first else 0,
                         "quarantined": quarantined if first else 0,
                         "rejected": _line_count(rej), "first_received_at": lo, "last_received_at": hi,
                         "ingest_run_id": run_id})
            first = False
        with engine.transaction():
            for t in refused:
                engine.append_arrow("quarantine", _quarantine_rows(t, source, project, run_id or rows[0]["segment"]))
            engine.append_arrow("collector_batches", pa.Table.from_pylist(rows))
        for group in units.values():
            self._forget(group)
        report.segments += len(units)
        report.events_read += sum(lines.values())
        report.accepted += accepted
        report.duplicates += duplicates
        report.quarantined += quarantined
        report.rejected += n_refused

    def _forget(self, group: list[Segment]) -> None:
        if self.own is not None:
            self.own.done(group)
        else:
            for seg in group:
                seg.path.unlink(missing_ok=True)


def _concatenate(paths: list[Path], target: Path) -> tuple[str, list[int]]:
    """Copy ``paths`` into ``target``; (its SHA-256, the lines of each path), read in the same pass.

    Why in one pass: the unit's line count, the file's content hash (the pipeline's "already
    imported" check) and the copy each read every byte again.
    """
    sha = hashlib.sha256()
    counts = []
    with open(target, "wb") as out:
        for p in paths:
            n = 0
            with open(p, "rb") as fh:
                while block := fh.read(1 << 20):
                    out.write(block)
                    sha.update(block)
                    n += block.count(b"\n")
            counts.append(n)
    return sha.hexdigest(), counts


def _line_count(seg: Segment | None) -> int:
    return count_lines(seg.path) if seg is not None and seg.path.stat().st_size else 0


def clean_cycle_files(folder: Path) -> None:
    """Copies a killed cycle left behind (the spool files themselves are still there)."""
    if folder.is_dir():
        for p in folder.glob(f"{CYCLE_PREFIX}*"):
            p.unlink(missing_ok=True)


def _now() -> Any:
    from percorso.server.tokens import utcnow

    return utcnow()


def _received_span(seg: Segment | None) -> tuple[Any, Any]:
    """When the unit's first and last lines were written (file times; stats only)."""
    import datetime as dt

    if seg is None:
        return None, None
    st = seg.path.stat()
    created = dt.datetime.fromtimestamp(seg.seq / 1e9, dt.UTC).replace(tzinfo=None)
    return created, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).replace(tzinfo=None)


def _read_rejects(path: Any) -> pa.Table:
    from pyarrow import json as pj

    return pj.read_json(path, parse_options=pj.ParseOptions(explicit_schema=_REJECT_SCHEMA,
                                                            unexpected_field_behavior="ignore"))


def _quarantine_rows(t: pa.Table, source: str, project: Any, run_id: str) -> pa.Table:
    """The refused payloads as quarantine rows, contact data masked (e-mails, phones, tax codes:
    docs/privacy.md) before they are stored, as an import masks its malformed rows."""
    from percorso.engine.privacy_sql import masked_rows

    kind = project.settings.source(source).kind
    n = t.num_rows
    return masked_rows(project.engine, pa.table({
        "source_name": pa.array([source] * n, pa.string()), "source_kind": pa.array([kind] * n, pa.string()),
        "source_file": t.column("where"), "source_line": t.column("line"), "reason_code": t.column("reason"),
        "message": t.column("message"), "raw_text": t.column("raw"),
        "ingest_run_id": pa.array([run_id] * n, pa.string()), "quarantined_at": t.column("at"),
    }))


def _needs_build(engine: Any) -> bool:
    """Are there events the last build did not read (or no build at all)?"""
    from percorso.engine import build_sql

    if not engine.count("events"):
        return False
    mark = build_sql.build_watermark(engine)
    return mark is None or S.events_after(engine, mark)


def live_build(project: Any) -> dict[str, Any]:
    """The incremental build after a micro-batch, then the saved segments (who entered, who left).

    CLV and personas are not refitted every few seconds (a fit takes longer than a batch):
    they are marked stale until the next ``percorso build``, which refits them.
    """
    from percorso.build.runner import run_build
    from percorso.value.refresh import refresh_after_build

    rep = run_build(project, refresh=False)
    value = refresh_after_build(project, only=("segments",))
    out = {"mode": rep.mode, "new_events": rep.new_events, "customers_rebuilt": rep.customers_rebuilt,
           "customers_from_tail": rep.customers_from_tail, "customers_from_state": rep.customers_from_state,
           "seconds": rep.seconds.get("total"), "steps": dict(rep.seconds), "value": value.refreshed,
           # where identity's seconds went (the device link's whole-graph path grows with the events)
           "identity_phases": {k: v for k, v in (rep.identity or {}).get("phases", {}).items() if v >= 0.01}}
    from percorso.activation import on_micro_batch

    try:  # the activation journeys act on the batch (enrol, move, send); their trouble is not the build's
        journeys, sends = on_micro_batch(project)
        out["activation"] = {"journeys": journeys.counts, "sends": sends.counts if sends else {}}
    except Exception as exc:  # noqa: BLE001 - events and build are in; the next batch or beat retries
        log.warning("collector: activation after the micro-batch failed: %s", exc)
        out["activation"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
