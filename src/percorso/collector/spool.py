"""The spool: an append-only, fsync'd folder of Segment JSON Lines, the collector's promise.

Why a spool in front of the database: a 200 must mean "this event is safe", and the database
has one writer that is often busy (a build, a query); waiting for it would make every client
wait. An append to a file followed by ``fdatasync`` is the cheapest durable write there is,
so the server acknowledges only once the request's lines are on disk, and the consumer
(:mod:`percorso.collector.consumer`) moves them into ``events`` later, at its own pace.

Layout: ``<project>/.percorso/spool/<seq>-<source>.events.jsonl`` (checked calls, one Segment
JSON object a line, exactly as a file would hold them) and ``...rejects.jsonl`` (refused
payloads, for the quarantine). ``seq`` grows with time; files of the current ``seq`` are
being appended, older ones are *sealed* (never written again) and may be consumed.

**Group commit.** Requests hand their bytes to one writer thread; it writes everything that
queued up while the last ``fdatasync`` ran, syncs each touched file once, then acknowledges
all of them. Under load one sync serves many requests, so throughput is not one request per
disk flush.

**Crash.** A kill can leave a torn last line in a current file (written, never synced, never
acknowledged). On start every file is sealed and cut back to its last complete line.

**Backpressure.** Past ``max_bytes`` waiting, :meth:`Spool.full` says so and the server answers
503 with Retry-After instead of filling the disk.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^(\d{20})-([A-Za-z0-9_.-]+)\.(events|rejects)\.jsonl$")


@dataclass(frozen=True)
class Segment:
    """One sealed spool file."""

    path: Path
    seq: int
    source: str
    kind: str  # "events" | "rejects"

    @property
    def name(self) -> str:
        return self.path.name


def _parse(path: Path) -> Segment | None:
    m = _NAME.match(path.name)
    return Segment(path, int(m.group(1)), m.group(2), m.group(3)) if m else None


class Spool:
    """Durable appends (group-committed), sealing, and the size that drives backpressure."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # raw IPs and contacts wait here until consumed
        self.max_bytes = max_bytes
        self._io = threading.Lock()  # held while writing + syncing, and while sealing
        self._cv = threading.Condition()
        self._queue: list[tuple[str, bytes, bytes, int, Future]] = []
        self._fds: dict[tuple[str, str], int] = {}
        self._stop = False
        self.pending_bytes = 0
        self.pending_events = 0
        self.oldest_unconsumed: float | None = None  # wall time of the oldest waiting append
        self.appended_events = 0  # since start (stats)
        self.syncs = 0
        recovered = self._recover()
        self._seq = max([s.seq for s in recovered], default=0) + 1
        self._seq = max(self._seq, time.time_ns())
        self._thread = threading.Thread(target=self._writer, name="percorso-spool", daemon=True)
        self._thread.start()

    # -- start ------------------------------------------------------------------------
    def _recover(self) -> list[Segment]:
        """Cut every file back to its last complete line; count what waits."""
        found = []
        for path in sorted(self.folder.iterdir()):
            seg = _parse(path)
            if seg is None:
                continue
            size = path.stat().st_size
            if size:
                with open(path, "rb+") as fh:
                    fh.seek(max(0, size - 1))
                    if fh.read(1) != b"\n":  # torn tail: find the last newline
                        keep = _last_newline(fh, size)
                        fh.truncate(keep)
                        os.fsync(fh.fileno())
                        size = keep
            self.pending_bytes += size
            if seg.kind == "events" and size:
                self.pending_events += _count_lines(path)
                mtime = path.stat().st_mtime
                self.oldest_unconsumed = min(self.oldest_unconsumed or mtime, mtime)
            found.append(seg)
        return found

    # -- appending --------------------------------------------------------------------
    def full(self) -> bool:
        return self.pending_bytes >= self.max_bytes

    def submit(self, source: str, events: bytes, rejects: bytes, n_events: int) -> Future:
        """Queue lines for ``source``; the future resolves once they are synced to disk."""
        fut: Future = Future()
        with self._cv:
            if self._stop:
                fut.set_exception(RuntimeError("the spool is closed"))
                return fut
            self._queue.append((source, events, rejects, n_events, fut))
            self._cv.notify()
        return fut

    def _writer(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait()
                if not self._queue and self._stop:
                    return
                items, self._queue = self._queue, []
            try:
                self._write(items)
            except BaseException as exc:  # noqa: BLE001 - every waiting request hears it (503)
                for *_, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for *_, fut in items:
                    fut.set_result(None)

    def _write(self, items: list[tuple[str, bytes, bytes, int, Future]]) -> None:
        with self._io:
            touched: set[int] = set()
            added = events = 0
            for source, ev_bytes, rej_bytes, n_events, _ in items:
                for kind, data in (("events", ev_bytes), ("rejects", rej_bytes)):
                    if data:
                        fd = self._fd(source, kind)
                        _write_all(fd, data)
                        touched.add(fd)
                        added += len(data)
                events += n_events
            for fd in touched:
                os.fdatasync(fd)
            self.syncs += 1
            self.pending_bytes += added
            self.pending_events += events
            self.appended_events += events
            if events and self.oldest_unconsumed is None:
                self.oldest_unconsumed = time.time()

    def _fd(self, source: str, kind: str) -> int:
        fd = self._fds.get((source, kind))
        if fd is None:
            path = self.folder / f"{self._seq:020d}-{source}.{kind}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._fds[(source, kind)] = fd
        return fd

    # -- consuming --------------------------------------------------------------------
    def seal(self) -> list[Segment]:
        """Close the current files (new appends go to new ones); every sealed segment, oldest first."""
        with self._io:
            for fd in self._fds.values():
                os.close(fd)
            self._fds = {}
            self._seq = max(self._seq + 1, time.time_ns())
            current = self._seq
        segs = [s for p in self.folder.iterdir() if (s := _parse(p)) is not None and s.seq < current]
        return sorted(segs, key=lambda s: (s.seq, s.source, s.kind))

    def done(self, segments: list[Segment], events: int) -> None:
        """Forget consumed segments (their rows are committed in the database)."""
        freed = 0
        for seg in segments:
            try:
                freed += seg.path.stat().st_size
                seg.path.unlink()
            except FileNotFoundError:
                pass
        with self._io:
            self.pending_bytes = max(0, self.pending_bytes - freed)
            self.pending_events = max(0, self.pending_events - events)
            if self.pending_events == 0:
                self.oldest_unconsumed = None
            else:  # the oldest file still waiting
                left = [p.stat().st_mtime for p in self.folder.iterdir() if _parse(p) is not None]
                self.oldest_unconsumed = min(left) if left else None

    def lag_seconds(self) -> float:
        """Age of the oldest acknowledged event not yet in ``events`` (0 when none waits)."""
        oldest = self.oldest_unconsumed
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=30)
        with self._io:
            for fd in self._fds.values():
                os.close(fd)
            self._fds = {}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _last_newline(fh: object, size: int, block: int = 1 << 16) -> int:
    """Offset just after the last ``\\n`` of an open binary file (0 when none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - block)
        fh.seek(start)  # type: ignore[attr-defined]
        chunk = fh.read(pos - start)  # type: ignore[attr-defined]
        i = chunk.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        pos = start
    return 0


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
    return n


_count_lines = count_lines
