"""Where a running server says it is: ``.percorso/server.json`` in the project folder.

Why a file: while ``percorso serve`` owns the database, DuckDB blocks every other process
even from reading it, so each CLI command must find the server and send its work there. The
file holds the address, the process id and a local admin token created at start (the old
ones are revoked); it is readable by its owner only (0600, in a 0700 folder), like an SSH key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FOLDER = ".percorso"
NAME = "server.json"
LOCAL_TOKEN_NAME = "local-cli"


def path_of(root: Path) -> Path:
    return Path(root) / FOLDER / NAME


def write(root: Path, info: dict[str, Any]) -> Path:
    """Write the run file atomically with owner-only permissions."""
    folder = Path(root) / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    target = folder / NAME
    tmp = folder / f".{NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
    os.replace(tmp, target)
    return target


def read(root: Path) -> dict[str, Any] | None:
    """The run file's content, or None when there is none or it is unreadable."""
    try:
        return json.loads(path_of(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def remove(root: Path, pid: int | None = None) -> None:
    """Remove the run file (only if it is ours, when ``pid`` is given)."""
    info = read(root)
    if info is not None and (pid is None or info.get("pid") == pid):
        try:
            path_of(root).unlink()
        except OSError:
            pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
