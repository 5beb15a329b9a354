"""What a command's process leaves to its own end (ADR 0068): its closed databases' connections.

Why: closing a DuckDB connection after the close checkpoint frees the engine's memory block by
block (~0.04 s after an incremental build at 10M events, 0.28 GB held), and the interpreter's
teardown follows; a process that ends right after gets that memory back from the system at
once. So :func:`percorso.cli.main` says that its command's process ends with the command
(:func:`ends_with_command`); then :meth:`~percorso.engine.Engine.close` still checkpoints (every
committed write is in the file, the log empty, a failed write-back still an error) and hands
the connection here instead of closing it, and ``main`` ends the process at once
(``os._exit``) after flushing its output. Any later open of a database in the same process
closes the kept connections first (:func:`close_kept`), so a command that opens a file twice
(or replaces one) sees what a closed connection leaves. No imports: ``percorso --help`` loads it.
"""

from __future__ import annotations

from typing import Any

_STATE: dict[str, Any] = {"ends": False, "kept": []}


def ends_with_command() -> None:
    """This process ends when its command does: closed connections are left to the exit."""
    _STATE["ends"] = True


def goes_on() -> None:
    """This process goes on after its command: connections are closed again (nothing is kept)."""
    close_kept()
    _STATE["ends"] = False


def ending() -> bool:
    """Whether this process ends with its command (:func:`ends_with_command`)."""
    return bool(_STATE["ends"])


def keep(con: Any) -> bool:
    """Keep ``con`` (checkpointed, unused from now on) until the process ends; False (the
    caller closes it) in a process that does not end with its command."""
    if not _STATE["ends"]:
        return False
    _STATE["kept"].append(con)
    return True


def kept() -> int:
    """How many connections wait for the process's end."""
    return len(_STATE["kept"])


def close_kept() -> None:
    """Close the kept connections now (before this process opens a database again)."""
    while _STATE["kept"]:
        _STATE["kept"].pop().close()
