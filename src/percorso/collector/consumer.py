"""The consumer: sealed spool segments → the file ingest pipeline → ``events`` → incremental build.

Why the file pipeline and not an insert of its own: a spool segment *is* a Segment JSON Lines
file, so :func:`percorso.ingest.pipeline.ingest_files` reads it with the same validation,
quarantine, keyed hashes (e-mail, phone, IP), event ids (the ``messageId`` hashed with the
source name: a retried call, or an event also imported from a file, is stored once) and
deduplication as ``percorso ingest``. One definition of an event, whatever the door.

Why it is idempotent, so a crash replays and never duplicates: each segment is consumed in
three steps, each safe to repeat. (1) ``ingest_files`` commits the events and an
``ingest_runs`` row with the file's SHA-256; run again on the same file it recognises the
content and adds nothing. (2) One transaction writes the refused payloads to ``quarantine``
and a ``collector_batches`` row naming the segment; a replay that finds the row skips the
segment. (3) The file is deleted. A kill between any two steps leaves the file in the spool
and the next start resumes at the step that did not happen.

Micro-batches: the loop wakes every ``[collector] batch_seconds`` or as soon as
``batch_events`` wait, whichever comes first, seals the spool, consumes what is sealed, then
runs the incremental build (ADR 0019) so profiles, identity and saved segments follow within
seconds. It holds the job lock while it writes: imports, builds and restores through the
server never run at the same time as a micro-batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from percorso.collector.spool import Segment, Spool, count_lines
from percorso.engine import collector_sql as S

log = logging.getLogger("percorso.collector")

_REJECT_SCHEMA = pa.schema([("reason", pa.string()), ("message", pa.string()), ("raw", pa.string()),
                            ("where", pa.string()), ("line", pa.int64()), ("at", pa.timestamp("us"))])


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Consumer:
    """The background loop of one server; :meth:`cycle` alone drains a spool without a server."""

    def __init__(self, spool: Spool, *, lock: Any, project: Callable[[], Any], changed: Callable[[], None],
                 batch_seconds: float, batch_events: int, build: bool) -> None:
        self.spool = spool
        self.lock = lock  # the server's job lock: no import, build or restore runs meanwhile
        self.project = project  # a Project on a connection only the lock holder uses
        self.changed = changed  # data changed: cached answers are stale
        self.batch_seconds = batch_seconds
        self.batch_events = batch_events
        self.build = build
        self.last: CycleReport | None = None
        self.cycles = 0
        self.last_build_error: str | None = None
        # a server killed between an ingest and its build, or stopped (the drain at a stop does
        # not build), leaves events without touchpoints: the first cycle after a start builds
        self.unbuilt = build
        self._failed_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="percorso-collector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Events arrived: wake early when enough wait."""
        if self.spool.pending_events >= self.batch_events:
            self._wake.set()

    def stop(self) -> None:
        """Finish the cycle in progress, consume what is sealed, then stop (a clean shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=600)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.batch_seconds)
            self._wake.clear()
            stopping = self._stop.is_set()
            try:
                self.cycle(build=self.build and not stopping)
            except Exception:  # noqa: BLE001 - the spool keeps everything; the next cycle retries
                log.exception("collector micro-batch failed; the spool keeps its events and the next cycle retries")
            if stopping:
                return

    # -- one micro-batch ------------------------------------------------------------------
    def cycle(self, *, build: bool = True) -> CycleReport | None:
        """Seal, consume every sealed segment, build; None when nothing waited."""
        segments = self.spool.seal()
        retry = self.unbuilt and time.monotonic() - self._failed_at > 30
        if not segments and not (build and retry):
            return None
        t0 = time.perf_counter()
        report = CycleReport()
        with self.lock:
            project = self.project()
            groups: dict[tuple[int, str], list[Segment]] = {}
            for seg in segments:
                groups.setdefault((seg.seq, seg.source), []).append(seg)
            for (seq, source), group in groups.items():
                self._consume(project, f"{seq:020d}-{source}", source, group, report)
            report.seconds["ingest"] = round(time.perf_counter() - t0, 3)
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
            elif retry:
                self.unbuilt = False  # nothing waits to be built
        if not report.segments and not report.build:
            return None
        self.changed()
        report.seconds["total"] = round(time.perf_counter() - t0, 3)
        self.last = report
        self.cycles += 1
        return report

    def _consume(self, project: Any, name: str, source: str, group: list[Segment], report: CycleReport) -> None:
        from percorso.ingest.pipeline import ingest_files

        engine = project.engine
        events = next((s for s in group if s.kind == "events"), None)
        rejects = next((s for s in group if s.kind == "rejects"), None)
        n_lines = count_lines(events.path) if events else 0
        S.ensure_collector_tables(engine)
        if S.segment_consumed(engine, name):  # a replay after a kill between commit and delete
            self.spool.done(group, n_lines)
            report.segments += 1
            return
        run_id, accepted, duplicates, quarantined = None, 0, 0, 0
        if events is not None and n_lines:
            rep = ingest_files(project, source, [events.path])[0]
            if rep.error:
                report.errors.append(f"{name}: {rep.error}")
                log.error("collector: segment %s not consumed: %s (kept in the spool)", name, rep.error)
                return
            run_id, accepted, duplicates, quarantined = rep.ingest_run_id, rep.accepted, rep.duplicates, rep.quarantined
        refused = _read_rejects(rejects.path) if rejects is not None and rejects.path.stat().st_size else None
        n_refused = refused.num_rows if refused is not None else 0
        with engine.transaction():
            if refused is not None:
                engine.append_arrow("quarantine", _quarantine_rows(refused, source, project, run_id or name))
            first, last = _received_span(events)
            engine.append_arrow("collector_batches", pa.Table.from_pylist([{
                "segment": name, "source_name": source, "consumed_at": _now(), "events_read": n_lines,
                "accepted": accepted, "duplicates": duplicates, "quarantined": quarantined, "rejected": n_refused,
                "first_received_at": first, "last_received_at": last, "ingest_run_id": run_id}]))
        self.spool.done(group, n_lines)
        report.segments += 1
        report.events_read += n_lines
        report.accepted += accepted
        report.duplicates += duplicates
        report.quarantined += quarantined
        report.rejected += n_refused


def _now() -> Any:
    from percorso.server.tokens import utcnow

    return utcnow()


def _received_span(seg: Segment | None) -> tuple[Any, Any]:
    """When the segment's first and last lines were written (file times; stats only)."""
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
    kind = project.settings.source(source).kind
    n = t.num_rows
    return pa.table({
        "source_name": pa.array([source] * n, pa.string()), "source_kind": pa.array([kind] * n, pa.string()),
        "source_file": t.column("where"), "source_line": t.column("line"), "reason_code": t.column("reason"),
        "message": t.column("message"), "raw_text": t.column("raw"),
        "ingest_run_id": pa.array([run_id] * n, pa.string()), "quarantined_at": t.column("at"),
    })


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
           "seconds": rep.seconds.get("total"), "value": value.refreshed}
    from percorso.activation import on_micro_batch

    try:  # the activation journeys act on the batch (enrol, move, send); their trouble is not the build's
        journeys, sends = on_micro_batch(project)
        out["activation"] = {"journeys": journeys.counts, "sends": sends.counts if sends else {}}
    except Exception as exc:  # noqa: BLE001 - events and build are in; the next batch or beat retries
        log.warning("collector: activation after the micro-batch failed: %s", exc)
        out["activation"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
