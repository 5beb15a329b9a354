"""Progress of long commands on stderr: the one display ingest, identity and build steps report to.

Why one place: at 100M events an import or a build runs for minutes, and a spinner that says
"build…" for ten minutes does not tell a person whether to wait or to stop it. Each step
(``identity resolution``, ``touchpoints``, one file's ``typing``…) gets a bar that follows the
engine's own estimate of the statement it is running (DuckDB's query progress, read every
quarter of a second from a second thread), and the steps that took more than a few seconds
stay on screen with their time, so the slow one is seen afterwards too.

When it shows: stderr is a terminal, or ``PERCORSO_PROGRESS=1`` asks for it (a log file, a
CI run). ``PERCORSO_PROGRESS=0`` and machine output (``--format json``) keep it quiet: stdout
is never written, so a pipe of the JSON stays clean either way.

Usage (the object is the ``progress`` callable the pipeline functions take)::

    with StepProgress(engine, enabled=show_progress()) as steps:
        run_build(project, progress=steps)              # steps("touchpoints") starts a step
        ingest_files(project, "web", files, progress=steps.files)
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

#: A finished step is listed with its time when it took at least this long.
KEEP_SECONDS = 3.0
_POLL_SECONDS = 0.25


def show_progress(machine_output: bool = False) -> bool:
    """Whether to draw progress: ``PERCORSO_PROGRESS`` (1/0) decides, else a terminal on stderr
    without machine output."""
    asked = os.environ.get("PERCORSO_PROGRESS", "").strip().lower()
    if asked in ("1", "true", "yes", "on"):
        return True
    if asked in ("0", "false", "no", "off"):
        return False
    return not machine_output and sys.stderr.isatty()


class StepProgress:
    """A bar per step on stderr (see the module doc); a no-op when not ``enabled``.

    Parameters
    ----------
    engine
        The project's engine; its current statement's progress fills the bar (``None``: the
        bar only shows the elapsed time).
    enabled
        Draw anything at all (:func:`show_progress`).
    keep_seconds
        Steps at least this long stay listed with their time when the next one starts.
    """

    def __init__(self, engine: Any = None, *, enabled: bool = True, keep_seconds: float = KEEP_SECONDS) -> None:
        self.engine = engine
        self.enabled = enabled
        self.keep_seconds = keep_seconds
        self._bar: Any = None
        self._task: Any = None
        self._name = ""
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: (step, seconds) of every step, in order (also when nothing is drawn)
        self.steps: list[tuple[str, float]] = []

    # -- the callables the pipeline takes ------------------------------------------------
    def __call__(self, description: str) -> None:
        """Start step ``description`` (the previous one ends)."""
        self._finish()
        self._name, self._started = str(description), time.perf_counter()
        if self._bar is not None:
            with self._lock:
                self._task = self._bar.add_task(self._name, total=100.0)

    def files(self, description: str, done: int, total: int) -> None:
        """The ingest callback ``(description, files done, files)``: a new description is a new step."""
        if description == "done":        # the end of the call, not a step
            self._finish()
        elif description != self._name:
            self(description)

    # -- display ---------------------------------------------------------------------------
    def __enter__(self) -> StepProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 TaskProgressColumn(), TimeElapsedColumn(),
                                 console=Console(stderr=True, highlight=False), transient=True)
            self._bar.start()
            if self.engine is not None:
                self.engine.track_progress(True)
                self._thread = threading.Thread(target=self._poll, name="percorso-progress", daemon=True)
                self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.stop()
            if self.engine is not None:
                self.engine.track_progress(False)

    def _finish(self) -> None:
        if not self._name:
            return
        took = time.perf_counter() - self._started
        self.steps.append((self._name, round(took, 3)))
        if self._bar is not None and self._task is not None:
            with self._lock:
                self._bar.remove_task(self._task)
                self._task = None
            if took >= self.keep_seconds:
                self._bar.console.print(f"  {self._name}  {took:.1f} s", markup=False, highlight=False)
        self._name = ""

    def _poll(self) -> None:
        """Move the current bar to the engine's estimate for its running statement."""
        while not self._stop.wait(_POLL_SECONDS):
            done = self.engine.query_progress()
            with self._lock:
                if self._task is not None and done is not None:
                    self._bar.update(self._task, completed=done)


__all__ = ["KEEP_SECONDS", "StepProgress", "show_progress"]
