"""One error root for the whole package, with stable codes.

Every error percorso raises on purpose derives from :class:`PercorsoError` and carries a
stable ``code`` (used in quarantine rows, CLI exit messages and the API), so users and
scripts can match on the code rather than on wording that may change.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PercorsoError(Exception):
    """Root of every error percorso raises deliberately."""

    code: str = "percorso_error"
    exit_code: int = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ConfigError(PercorsoError, ValueError):
    """The project configuration is missing, unreadable or holds a bad value."""

    code = "config_invalid"
    exit_code = 2


class ProjectNotFound(ConfigError):
    code = "project_not_found"


class InputError(PercorsoError, ValueError):
    """A user-supplied argument (file, identifier, option) is not usable."""

    code = "input_invalid"
    exit_code = 2


class NotFound(PercorsoError, LookupError):
    """A customer, identifier, table or file the user named does not exist."""

    code = "not_found"
    exit_code = 3


class EngineError(PercorsoError):
    """The database could not do what was asked."""

    code = "engine_error"


class DatabaseDamaged(EngineError):
    """The project database is damaged (cut short, unreadable blocks): nothing is written into it."""

    code = "database_damaged"
    exit_code = 5


class DatabaseLocked(EngineError):
    """Another process (usually ``percorso serve``) holds the single-writer lock."""

    code = "database_locked"
    exit_code = 4


class AccessDenied(PercorsoError):
    """Who asks may not see what they asked for (e.g. contact fields in an export)."""

    code = "access_denied"
    exit_code = 6


class DiskFull(EngineError):
    """The disk holding the database (or its temporary files) has no space left."""

    code = "disk_full"
    exit_code = 7


class OutOfMemory(EngineError):
    """The engine ran out of memory (and could not spill to disk)."""

    code = "out_of_memory"


INTERNAL_EXIT = 70
"""Exit code of an unexpected error (a bug): sysexits' EX_SOFTWARE."""

EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "the command could not complete: a problem in the data or the database (the message says which)",
    2: "bad usage: unknown command or option, bad argument value, invalid configuration (percorso.toml)",
    3: "not found: a file, customer, source, table or name the command was given does not exist",
    4: "database locked: another percorso process is writing to the project",
    5: "database damaged: the project database is cut short or unreadable; nothing was written into it",
    6: "access denied: your role may not see what was asked (e.g. contact fields)",
    7: "disk full: free some space, then re-run the same command (ingest and build are idempotent)",
    INTERNAL_EXIT: "internal error (a bug): re-run with --debug or PERCORSO_DEBUG=1 for the traceback and report it",
    130: "interrupted (Ctrl-C)",
}
"""Every exit code the command line uses, documented in ``--help`` and ``docs/cli.md``."""


def disk_full_text(exc: BaseException) -> bool:
    """True when ``exc`` (or an error it wraps) says the disk is full.

    Why by text too: the database reports a full disk as an I/O error whose message carries
    the operating system's "No space left on device", or, when spilling, as an out-of-memory
    error naming its temporary-directory size limit (which defaults to the free disk space).
    """
    import errno

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        text = str(exc)
        if "No space left on device" in text or "max_temp_directory_size" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def suggest(value: str, allowed: Iterable[str], *, limit: int | None = None) -> str:
    """Return a "did you mean …" phrase plus the valid values, for error messages.

    ``limit`` caps how many valid values are listed, for vocabularies taken from the data
    (pages, campaigns) that can run to thousands.

    Examples
    --------
    >>> suggest("purchse", ["purchase", "page_view"])
    "did you mean 'purchase'? valid: page_view, purchase"
    >>> suggest("pag_1", [f"page_{i}" for i in range(30)], limit=2)
    "did you mean 'page_1'? valid: page_0, page_1, … (30 in all)"
    """
    allowed = sorted(set(allowed))
    close = difflib.get_close_matches(str(value), allowed, n=1)
    valid = ", ".join(allowed[:limit])
    if limit is not None and len(allowed) > limit:
        valid += f", … ({len(allowed)} in all)"
    if close:
        return f"did you mean '{close[0]}'? valid: {valid}"
    return f"valid: {valid}"
