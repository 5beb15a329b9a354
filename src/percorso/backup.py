"""Backups and restores of a project's database, with or without a running server.

Why here and not in the server: ``percorso backup`` and ``percorso restore`` must work on a
stopped project as on a served one. A backup is a consistent snapshot taken inside one
transaction (:meth:`percorso.engine.Engine.backup_to`), so a server may go on importing
meanwhile. A restore replaces the database file: the previous file is kept beside it
(``percorso.duckdb.before-restore-…``), never deleted; a server running in this process
registers a hook so the restore happens inside it (jobs paused, connection closed, file
swapped, connection reopened) instead of under its feet.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from percorso.errors import InputError

if TYPE_CHECKING:
    from percorso.project import Project

#: Restore hooks of servers running in this process, by database file.
_RESTORE_HOOKS: dict[Path, Callable[[Path], Path]] = {}


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def register_restore_hook(database_path: Path, hook: Callable[[Path], Path] | None) -> None:
    """A server owning ``database_path`` restores through ``hook`` (None removes it)."""
    key = Path(database_path).resolve()
    if hook is None:
        _RESTORE_HOOKS.pop(key, None)
    else:
        _RESTORE_HOOKS[key] = hook


def backup(project: Project, out: str | Path | None = None) -> Path:
    """Write a consistent copy of the project's database; returns its path."""
    target = Path(out) if out else project.root / "backups" / f"percorso-{_stamp()}.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    project.engine.backup_to(target)
    return target


def check_backup(file: str | Path) -> Path:
    """Refuse a file that is not a percorso database (before anything is replaced)."""
    from percorso.engine import Engine
    from percorso.errors import PercorsoError

    path = Path(file)
    if not path.is_file():
        raise InputError(f"backup file not found: {path}")
    try:
        with Engine(path, read_only=True) as eng:
            ok = eng.has_table("schema_migrations") and eng.has_table("events")
    except PercorsoError as exc:
        raise InputError(f"{path} is not a readable percorso database ({exc.message})") from None
    if not ok:
        raise InputError(f"{path} is a database but not a percorso project's (no events table)")
    return path


def swap_in(database_path: Path, file: str | Path) -> Path:
    """Put ``file`` in place of the (closed) database; returns where the old file was kept."""
    source = check_backup(file)
    database_path = Path(database_path)
    incoming = database_path.with_name(database_path.name + ".restoring")
    shutil.copyfile(source, incoming)
    kept = database_path.with_name(f"{database_path.name}.before-restore-{_stamp()}")
    if database_path.exists():
        os.replace(database_path, kept)
    wal = database_path.with_name(database_path.name + ".wal")
    if wal.exists():
        os.replace(wal, kept.with_name(kept.name + ".wal"))
    os.replace(incoming, database_path)
    return kept


def restore(project: Project, file: str | Path) -> Path:
    """Replace the project's database with the backup ``file``; returns where the old one is."""
    hook = _RESTORE_HOOKS.get(project.database_path.resolve())
    if hook is not None:
        return hook(Path(file).resolve())
    check_backup(file)
    project.close()
    return swap_in(project.database_path, file)
