"""Reading the small rule tables (CSV) that marketers edit in Excel.

Why a module of its own: the rule, category and offline tables share the same habits of
the files people save from Excel (``;`` or ``,`` separator, UTF-8 with or without BOM,
sometimes Windows-1252), and every error must point at file, line and column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from percorso.errors import ConfigError, suggest

#: RE2 (the database's regex engine) lacks these Python constructs.
_RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]|\(\?P=")


@dataclass(frozen=True)
class CsvRow:
    """One data row: its 1-based line number in the file (header = line 1) and its cells."""

    line: int
    cells: dict[str, str]


def read_text(path: Path) -> str:
    """Decode a CSV saved by Excel or an editor (UTF-8, UTF-8 with BOM, or Windows-1252)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def sniff_delimiter(header_line: str) -> str:
    """``;`` (Excel with an Italian locale) or ``,``, whichever the header uses more."""
    return ";" if header_line.count(";") >= header_line.count(",") and ";" in header_line else ","


def read_table(path: Path, *, allowed: Iterable[str], required: Iterable[str]) -> list[CsvRow]:
    """Read a rule table; headers are case-insensitive, unknown or missing ones are errors.

    Blank lines are skipped; cells are stripped of surrounding spaces.
    """
    text = read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ConfigError(f"{path}: the file is empty; expected a header row with {', '.join(required)}")
    delim = sniff_delimiter(lines[0])
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    header = [h.strip().lower() for h in next(reader)]
    allowed = list(allowed)
    for col in header:
        if col and col not in allowed:
            raise ConfigError(f"{path}: line 1: unknown column '{col}'; {suggest(col, allowed)}")
    for col in required:
        if col not in header:
            raise ConfigError(f"{path}: line 1: column '{col}' is missing (columns found: {', '.join(header)})")
    rows: list[CsvRow] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            raise ConfigError(
                f"{path}: line {line}: {len(cells)} cells but the header has {len(header)} columns "
                f"(a '{delim}' inside a value? put the value in double quotes)"
            )
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}
        rows.append(CsvRow(line, row))
    return rows


def split_list(value: str) -> tuple[str, ...]:
    """Split a ``a|b|c`` cell into lower-case items (the rules are case-insensitive)."""
    return tuple(v.strip().lower() for v in value.split("|") if v.strip())


def check_regex(pattern: str, where: str) -> str:
    """Validate a regex for both Python (``re``) and the database (RE2); return it case-insensitive."""
    bad = _RE2_UNSUPPORTED.search(pattern)
    if bad:
        raise ConfigError(
            f"{where}: the regular expression {pattern!r} uses {bad.group(0)!r} (look-around or "
            "back-reference), which the database's regex engine (RE2) does not support"
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: bad regular expression {pattern!r}: {exc}") from exc
    return "(?i)" + pattern


def parse_bool(value: str, where: str, *, default: bool | None) -> bool | None:
    """``yes/no/true/false/1/0/sì/si`` (any case); empty → ``default``."""
    v = value.strip().lower()
    if not v:
        return default
    if v in {"yes", "y", "true", "1", "si", "sì", "x"}:
        return True
    if v in {"no", "n", "false", "0"}:
        return False
    raise ConfigError(f"{where}: '{value}' is not yes/no; valid: yes, no (or sì, true, false, 1, 0)")
