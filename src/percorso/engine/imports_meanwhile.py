"""Modules a command will need next, imported on a thread while DuckDB runs a statement.

Why: a journey command's process imports pandas (with numpy and pyarrow, ~0.25 s of CPU) to
hold its answer, and before that waits for DuckDB's statements, which release the GIL. pandas
imported during the first statement that does the analysis' work, rather than before or after
it, took ~0.07 s off a fresh ``percorso paths transitions`` at 1M events on 2 cores (1.03 ->
0.95 s), with the same CPU time.

Why this is safe: the thread runs only while the engine's own thread waits in DuckDB (it is
joined before the statement's result is used), so the one other Python code that can import
meanwhile is DuckDB making its Arrow result (pyarrow, numpy); neither of those imports pandas,
so the two threads never wait on each other's module locks (Python's import lock makes the
second importer of a module wait for the first). A failed import is left to the command's own
``import`` to raise, as without this.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_WANTED: list[str] = []
_STARTED: set[str] = set()


def want(*modules: str) -> None:
    """Say that this process imports ``modules`` after the engine's statements (a command's
    answer is a pandas frame): they are imported during the next long one
    (:func:`meanwhile`). Nothing for a process that holds them already."""
    _WANTED.extend(m for m in modules if m not in _WANTED)


def _import(names: list[str]) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the command's own import says what is wrong
            return


def soon(*modules: str) -> None:
    """Start importing ``modules`` (third-party packages that import nothing of percorso's) on a
    thread now, and go on: the caller's statements run meanwhile, and its own ``import`` of one
    of them later waits for the thread's (Python's module lock) or finds it done.

    Why: a build's identity step solves its graph in numpy (ADR 0070), imported when the step
    starts: ~0.05 s of a fresh ``percorso build`` in which the process only imported, while
    opening the database and the consent and identity statements before the solve leave the
    interpreter free (DuckDB releases it) and a core idle. Only packages with no import of
    percorso's: then the two threads never wait on each other's module locks in a cycle.
    """
    names = [m for m in modules if m not in sys.modules and m not in _STARTED]
    if not names:
        return
    _STARTED.update(names)
    threading.Thread(target=_import, args=(names,), name="percorso-imports-soon", daemon=True).start()


@contextmanager
def meanwhile(*also: str) -> Iterator[None]:
    """Import the wanted modules (and ``also``) not yet imported on a thread, while the block
    hands DuckDB a statement; joined when the block ends."""
    names = [m for m in (*_WANTED, *also) if m not in sys.modules]
    if not names:
        yield
        return
    thread = threading.Thread(target=_import, args=(names,), name="percorso-imports")
    thread.start()
    try:
        yield
    finally:
        thread.join()
