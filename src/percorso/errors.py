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
