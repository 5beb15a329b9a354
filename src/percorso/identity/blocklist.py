"""Generic identifier values that must never link two records (``guest``, ``0``, ``test@test.com``).

Why a CSV: which placeholder values a shop's systems write is local knowledge; marketers add
rows in Excel (``rules/identity_blocklist.csv``: ``id_type`` or ``*``, ``pattern``, ``match``
= ``exact`` | ``regex``, ``note``). Matching is case-insensitive and on the whole value.

E-mail, phone and tax code are stored only as keyed hashes, so for those kinds the list is
applied by ingest on the normalised raw value through :func:`is_blocked`, before hashing.
Non-hashed kinds are filtered again in the engine (:meth:`Blocklist.engine_rules`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from percorso.errors import ConfigError, suggest
from percorso.events.schema import IDENTIFIER_COLUMNS
from percorso.identity.kinds import HASHED, canonical_kind

FILE_NAME = "identity_blocklist.csv"
_MATCHES = ("exact", "regex")


@dataclass
class Blocklist:
    """Parsed blocklist: exact values and regexes per identifier kind (``*`` = every kind)."""

    exact: dict[str, set[str]] = field(default_factory=dict)
    regex: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""
    _compiled: dict[str, re.Pattern[str] | None] = field(default_factory=dict, repr=False)

    def patterns_for(self, kind: str) -> tuple[set[str], list[str]]:
        kind = canonical_kind(kind)
        return (self.exact.get("*", set()) | self.exact.get(kind, set()),
                self.regex.get("*", []) + self.regex.get(kind, []))

    def combined_regex(self, kind: str) -> str | None:
        """One alternation for all the regexes of a kind (one match per value, RE2 and ``re`` alike)."""
        _, rx = self.patterns_for(kind)
        return "(?i)(?:" + "|".join(f"(?:{r})" for r in rx) + ")" if rx else None

    def is_blocked(self, kind: str, value: str | None) -> bool:
        """True when ``value`` (normalised, before any hashing) is a generic value for ``kind``."""
        if value is None:
            return True
        v = str(value).strip()
        if not v:
            return True
        kind = canonical_kind(kind)
        exact, _ = self.patterns_for(kind)
        if v.lower() in exact:
            return True
        if kind not in self._compiled:
            rx = self.combined_regex(kind)
            self._compiled[kind] = re.compile(rx) if rx else None
        pat = self._compiled[kind]
        return bool(pat and pat.fullmatch(v))

    def engine_rules(self) -> list[tuple[str, list[str], str | None]]:
        """(kind, lowercased exact values, combined regex) for every non-hashed identifier column."""
        out = []
        for kind in IDENTIFIER_COLUMNS:
            exact, _ = self.patterns_for(kind)
            out.append((kind, sorted(exact), self.combined_regex(kind)))
        return out


_VALID_KINDS = tuple(IDENTIFIER_COLUMNS) + tuple(HASHED) + ("*",)


def load_blocklist(path: str | Path) -> Blocklist:
    """Read a blocklist CSV; errors name the file, the line and what is valid."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"identity blocklist {path} does not exist; copy the default with `percorso init --force`"
                          " or fix identity.blocklist_file", code="blocklist_missing")
    bl = Blocklist(source=str(path))
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            kind = (row.get("id_type") or "").strip()
            pattern = (row.get("pattern") or "").strip()
            match = (row.get("match") or "exact").strip().lower() or "exact"
            if not pattern or kind.startswith("#"):
                continue
            if kind not in _VALID_KINDS:
                raise ConfigError(f"{path}:{line_no}: unknown id_type '{kind}'; {suggest(kind, _VALID_KINDS)}",
                                  code="blocklist_invalid")
            if match not in _MATCHES:
                raise ConfigError(f"{path}:{line_no}: match '{match}' is not valid; valid: exact, regex",
                                  code="blocklist_invalid")
            kind = canonical_kind(kind)
            if match == "exact":
                bl.exact.setdefault(kind, set()).add(pattern.lower())
            else:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(f"{path}:{line_no}: pattern '{pattern}' is not a valid regex: {exc}",
                                      code="blocklist_invalid") from None
                if "(?" in pattern or "\\1" in pattern:
                    raise ConfigError(f"{path}:{line_no}: pattern '{pattern}' uses a construct the engine "
                                      "(RE2) lacks; valid: plain regex without look-around or back-references",
                                      code="blocklist_invalid")
                bl.regex.setdefault(kind, []).append(pattern)
    return bl


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float) -> Blocklist:
    return load_blocklist(path)


def default_blocklist_path() -> Path:
    from percorso.project import packaged_rule_file

    return packaged_rule_file(FILE_NAME)


def blocklist_for(project: object | None = None) -> Blocklist:
    """The project's blocklist (``identity.blocklist_file``), else the packaged default."""
    path = default_blocklist_path()
    if project is not None:
        root = Path(project.root)  # type: ignore[attr-defined]
        configured = root / project.settings.identity.blocklist_file  # type: ignore[attr-defined]
        path = configured if configured.exists() else path
    return _cached(str(path), path.stat().st_mtime)


def is_blocked(kind: str, raw_value: str | None, project: object | None = None) -> bool:
    """Is ``raw_value`` (normalised, not hashed) a generic value that must never link?

    Ingest calls this for ``email``/``phone``/``tax_code`` before hashing, so that a
    placeholder such as ``noemail@shop.it`` never becomes an ``email_key``.

    Examples
    --------
    >>> is_blocked("email", "noemail@negozio.it"), is_blocked("loyalty_card", "0000000")
    (True, True)
    >>> is_blocked("email", "mario.rossi@example.org"), is_blocked("user_id", "u_123")
    (True, False)
    """
    return blocklist_for(project).is_blocked(kind, raw_value)
