"""The spool: append-only, fsync'd folders of Segment JSON Lines, the collector's promise.

Why a spool in front of the database: a 200 must mean "this event is safe", and the database
has one writer that is often busy (a build, a query); waiting for it would make every client
wait. An append to a file followed by ``fdatasync`` is the cheapest durable write there is,
so the door acknowledges only once the request's lines are on disk, and the consumer
(:mod:`percorso.collector.consumer`) moves them into ``events`` later, at its own pace.

**Several writers, no coordination.** Each door process (the server's own routes, writer
``s``, and every intake worker, ``w0``, ``w1``, ...; ADR 0030) is a :class:`Spool` writer
with files of its own, so no two processes ever append to the same file:
``<project>/.percorso/spool/<seq>-<writer>@<source>.events.jsonl`` (checked calls, one
Segment JSON object a line, exactly as a file would hold them) and ``...rejects.jsonl``
(refused payloads, for the quarantine). While a writer appends, the file name ends in
``.part``; the writer *seals* its files itself, by renaming them (rejects first, then
events), every ``rotate_seconds`` or ``rotate_events``: a name without ``.part`` is never
written again and may be consumed (:func:`sealed_segments`).

**Group commit.** Requests hand their bytes to one writer thread; it writes everything that
queued up while the last ``fdatasync`` ran, syncs each touched file once, then acknowledges
all of them. Under load one sync serves many requests, so throughput is not one request per
disk flush.

**Crash.** A writer holds ``spool-locks/writer-<id>.lock`` (``flock``) for its life. A killed writer can
leave a torn last line in its ``.part`` files (written, never synced, never acknowledged):
whoever next takes its lock (the writer restarted, or the consumer finding ``.part`` files of
a writer whose lock is free, :func:`seal_orphans`) cuts them back to their last complete line
and seals them.

**Backpressure.** Past ``max_bytes`` waiting in the folder (all writers), :meth:`Spool.full`
says so and the door answers 503 with Retry-After instead of filling the disk.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^(\d{20})-(?:([a-z0-9]+)@)?([A-Za-z0-9_.-]+)\.(events|rejects)\.jsonl(\.part)?$")
PART = ".part"
#: how often a writer re-reads the folder's size (backpressure across processes)
_SCAN_SECONDS = 0.2


@dataclass(frozen=True)
class Segment:
    """One spool file (sealed unless ``part``)."""

    path: Path
    seq: int
    writer: str | None  # None: a file of a spool written before writers had names
    source: str
    kind: str  # "events" | "rejects"
    part: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stem(self) -> str:
        """The consumed unit's name (``collector_batches.segment``): events and rejects share it."""
        who = f"{self.writer}@" if self.writer else ""
        return f"{self.seq:020d}-{who}{self.source}"


def parse(path: Path) -> Segment | None:
    m = _NAME.match(path.name)
    return Segment(path, int(m.group(1)), m.group(2), m.group(3), m.group(4), bool(m.group(5))) if m else None


def _sealed_path(seg: Segment) -> Path:
    return seg.path.with_name(seg.name[:-len(PART)]) if seg.part else seg.path


def _cut_torn_tail(path: Path) -> int:
    """Cut a file back to its last complete line (a torn tail was never acknowledged); its size."""
    size = path.stat().st_size
    if size:
        with open(path, "rb+") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                size = _last_newline(fh, size)
                fh.truncate(size)
                os.fsync(fh.fileno())
    return size


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _seal_parts(folder: Path, writer: str) -> None:
    """Seal every ``.part`` file of ``writer`` (whose lock the caller holds): rejects first, then events."""
    parts = [s for p in folder.iterdir() if (s := parse(p)) is not None and s.part and s.writer == writer]
    for seg in sorted(parts, key=lambda s: (s.seq, s.kind != "rejects")):
        _cut_torn_tail(seg.path)
        os.replace(seg.path, _sealed_path(seg))
    if parts:
        _fsync_dir(folder)


def _lock_path(folder: Path, writer: str) -> Path:
    """``<project>/.percorso/spool-locks/writer-<id>.lock`` (beside the spool: the spool holds only spool files)."""
    locks = folder.parent / "spool-locks"
    locks.mkdir(mode=0o700, exist_ok=True)
    return locks / f"writer-{writer}.lock"


def seal_orphans(folder: Path) -> int:
    """Seal the ``.part`` files of writers that are gone (their lock is free); how many writers."""
    writers = {s.writer for p in folder.iterdir() if (s := parse(p)) is not None and s.part and s.writer}
    done = 0
    for writer in sorted(writers):
        fd = os.open(_lock_path(folder, writer), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # alive: it seals its own files
            _seal_parts(folder, writer)
            done += 1
        finally:
            os.close(fd)  # releases the lock
    return done


def sealed_segments(folder: Path) -> list[Segment]:
    """Every sealed unit ready to consume, its files oldest first.

    A unit (events + rejects of one writer's ``seq``) is ready only when none of its files is
    still ``.part``, and it is handed out whole: both files, looked up by name after the
    listing. Why not trust the listing alone: a writer seals rejects, then events, and a
    listing taken between the two renames (or one that a rename overtook) shows half a unit;
    consumed alone, that half would mark the unit done and the other half, acknowledged
    events among them, would be deleted unread the next cycle. A sealed name is never
    written again and no file of a sealed ``seq`` is ever created, so what exists now is the
    whole unit.
    """
    stems = {s.stem: s for p in folder.iterdir() if (s := parse(p)) is not None and not s.part}
    ready = []
    for stem, seg in stems.items():
        files = {kind: folder / f"{stem}.{kind}.jsonl" for kind in ("events", "rejects")}
        if any(p.with_name(p.name + PART).exists() for p in files.values()):
            continue  # still being sealed: the next look takes it whole
        ready += [Segment(p, seg.seq, seg.writer, seg.source, kind) for kind, p in files.items() if p.exists()]
    return sorted(ready, key=lambda s: (s.seq, s.writer or "", s.source, s.kind))


def folder_bytes(folder: Path) -> int:
    """Bytes waiting in the spool (every writer, sealed or not)."""
    n = 0
    with os.scandir(folder) as it:
        for e in it:
            if e.name.endswith((".jsonl", PART)) and not e.name.startswith("cycle-"):  # a cycle's copy is not new
                try:
                    n += e.stat().st_size
                except FileNotFoundError:
                    pass
    return n


class Spool:
    """One writer's durable appends (group-committed) and sealing; the folder's size for backpressure."""

    def __init__(self, folder: Path, max_bytes: int, *, writer: str = "s", rotate_seconds: float = 1.0,
                 rotate_events: int = 20000) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # raw IPs and contacts wait here until consumed
        self.max_bytes = max_bytes
        self.writer = writer
        self.rotate_seconds = rotate_seconds
        self.rotate_events = rotate_events
        self._io = threading.Lock()  # held while writing + syncing, and while sealing
        self._cv = threading.Condition()
        self._queue: list[tuple[str, bytes, bytes, int, Future]] = []
        self._fds: dict[tuple[str, str], tuple[int, Path]] = {}
        self._opened = 0.0  # monotonic time the current files were opened
        self._events_in_current = 0
        self._stop = False
        self._scanned = 0  # folder bytes at the last scan ...
        self._scanned_at = 0.0
        self._since_scan = 0  # ... plus what this writer appended since
        self.appended_events = 0  # since start (stats)
        self.syncs = 0
        # the lock says "alive": a writer restarted under the same name waits for the old one to be gone
        self._lock_fd = os.open(_lock_path(self.folder, writer), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        _seal_parts(self.folder, writer)  # what a killed predecessor of the same name left
        self._seq = 0
        self._thread = threading.Thread(target=self._writer, name=f"percorso-spool-{writer}", daemon=True)
        self._thread.start()

    # -- appending --------------------------------------------------------------------
    @property
    def pending_bytes(self) -> int:
        now = time.monotonic()
        if now - self._scanned_at > _SCAN_SECONDS:
            self._scanned, self._since_scan, self._scanned_at = folder_bytes(self.folder), 0, now
        return self._scanned + self._since_scan

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
                    self._cv.wait(self._until_rotation())
                    if not self._queue and self._due():
                        break
                if not self._queue and self._stop:
                    return
                items, self._queue = self._queue, []
            if not items:
                self.seal()
                continue
            try:
                self._write(items)
            except BaseException as exc:  # noqa: BLE001 - every waiting request hears it (503)
                for *_, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for *_, fut in items:
                    fut.set_result(None)
                if self._due():
                    self.seal()

    def _until_rotation(self) -> float | None:
        if not self._fds:
            return None
        return max(0.01, self.rotate_seconds - (time.monotonic() - self._opened))

    def _due(self) -> bool:
        return bool(self._fds) and (time.monotonic() - self._opened >= self.rotate_seconds
                                    or self._events_in_current >= self.rotate_events)

    def _write(self, items: list[tuple[str, bytes, bytes, int, Future]]) -> None:
        with self._io:
            touched: dict[int, int] = {}  # fd -> its size before this group
            added = events = 0
            created = False
            try:
                for source, ev_bytes, rej_bytes, n_events, _ in items:
                    for kind, data in (("events", ev_bytes), ("rejects", rej_bytes)):
                        if data:
                            fd, new = self._fd(source, kind)
                            created |= new
                            touched.setdefault(fd, os.fstat(fd).st_size)
                            _write_all(fd, data)
                            added += len(data)
                    events += n_events
                for fd in touched:
                    os.fdatasync(fd)
            except BaseException:
                # Nobody in this group is acknowledged (each hears a 503 and retries), so none of
                # its bytes may stay: a half-written line (a full disk) would otherwise swallow
                # the first line the next group appends, an acknowledged event.
                for fd, size in touched.items():
                    try:
                        os.ftruncate(fd, size)
                    except OSError:
                        pass
                raise
            if created:  # the new file's name must survive a power cut as well as its lines
                _fsync_dir(self.folder)
            self.syncs += 1
            self._since_scan += added
            self._events_in_current += events
            self.appended_events += events

    def _fd(self, source: str, kind: str) -> tuple[int, bool]:
        found = self._fds.get((source, kind))
        if found is not None:
            return found[0], False
        if not self._fds:
            self._seq = max(self._seq + 1, time.time_ns())
            self._opened = time.monotonic()
            self._events_in_current = 0
        path = self.folder / f"{self._seq:020d}-{self.writer}@{source}.{kind}.jsonl{PART}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fds[(source, kind)] = (fd, path)
        return fd, True

    # -- sealing ----------------------------------------------------------------------
    def seal(self) -> None:
        """Seal this writer's current files (new appends go to new ones); rejects before events."""
        with self._io:
            if not self._fds:
                return
            items = sorted(self._fds.items(), key=lambda kv: kv[0][1] != "rejects")
            for _, (fd, _path) in items:
                os.close(fd)
            for _, (_fd, path) in items:
                os.replace(path, path.with_name(path.name[:-len(PART)]))
            self._fds = {}
            _fsync_dir(self.folder)

    def done(self, segments: list[Segment]) -> None:
        """Forget consumed segments (their rows are committed in the database)."""
        for seg in segments:
            try:
                freed = seg.path.stat().st_size
                seg.path.unlink()
                self._since_scan -= freed
            except FileNotFoundError:
                pass

    def close(self) -> None:
        """Write what is queued, seal, release the writer's lock."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=30)
        self.seal()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def spool_figures(folder: Path) -> dict[str, float | int]:
    """What waits in the spool (every writer): bytes, events (lines), age of the oldest in seconds."""
    if not folder.is_dir():
        return {"spool_bytes": 0, "spool_events": 0, "lag_seconds": 0.0}
    n_bytes = n_events = 0
    oldest: int | None = None
    for p in folder.iterdir():
        seg = parse(p)
        if seg is None:
            continue
        try:
            size = p.stat().st_size
            n_bytes += size
            if seg.kind == "events" and size:
                n_events += count_lines(p)
                oldest = seg.seq if oldest is None else min(oldest, seg.seq)
        except FileNotFoundError:
            continue
    lag = max(0.0, time.time() - oldest / 1e9) if oldest is not None else 0.0
    return {"spool_bytes": n_bytes, "spool_events": n_events, "lag_seconds": round(lag, 3)}


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
