"""Result frames as Rich tables that never break a number across lines.

Why: Rich shrinks every column evenly when a table is wider than the terminal, and a folded
cell turns ``1.549,00 €`` into ``1.549`` over ``,00``: a misread figure. Here numbers, dates
and flags never wrap (their headers wrap instead); text columns shrink first (they fold); when
even that does not fit, columns are left out from the right and stderr names them.
Output that is not a terminal (a pipe, a file, a test) is never wrapped: every row is one line.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from percorso.export.columns import NUMERIC_KINDS, format_value, header, shown_columns

if TYPE_CHECKING:
    import pandas as pd

#: A text column keeps at least this many characters before columns are left out.
TEXT_MIN = 10
#: A number column's header wraps to this width (or the numbers' own, if wider).
HEADER_WRAP = 12
#: Box edges and padding: one border per column plus one, and a space each side of a cell.
_PER_COLUMN, _EDGE = 3, 1


def _width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def _fit(need: list[int], limit: int | None) -> int:
    """How many columns, from the left, fit in ``limit`` (at least one). ``need`` is each column's
    narrowest readable width. Results put what a row *is* first (channel, campaign, model) and
    its measures after, so the right end goes first: a row is never left without its name."""
    shown = len(need)
    while limit is not None and shown > 1 and sum(need[:shown]) + _PER_COLUMN * shown + _EDGE > limit:
        shown -= 1
    return shown


def _narrowed(label: str, cells: list[str], rigid: bool, _: int) -> tuple[str, list[str], bool, int]:
    """A column at its narrowest readable width: numbers whole under a header wrapped to them
    (or to :data:`HEADER_WRAP`); text down to :data:`TEXT_MIN` (it folds)."""
    data = max((_width(c) for c in cells), default=0)
    if rigid:
        label = "\n".join(textwrap.wrap(label, width=max(data, HEADER_WRAP), break_long_words=False)) or label
        return label, cells, rigid, max(data, _width(label))
    return label, cells, rigid, min(max(data, _width(label)), TEXT_MIN)


def build_table(frame: pd.DataFrame, *, title: str | None, locale: str, width: int | None,
                like: dict[str, str] | None = None) -> tuple[Any, list[str], int]:
    """The Rich table of ``frame`` for a console ``width`` columns wide (``None``: unlimited).

    ``like`` names the column whose kind a column shares (:func:`~percorso.export.columns.shown_columns`).
    Returns the table, the headers of the columns left out, and the width the whole table needs
    unwrapped (for output that is not a terminal).
    """
    from rich.markup import escape
    from rich.table import Table

    shown = shown_columns(frame, like)
    columns: list[tuple[str, list[str], bool, int]] = []  # header, cells, no_wrap, narrowest width
    for col in frame.columns:
        kind, scale = shown[str(col)].kind, shown[str(col)].scale
        cells = [format_value(v, kind, locale, scale=scale) for v in frame[col]]
        rigid = kind in NUMERIC_KINDS or kind in ("date", "datetime", "flag")
        columns.append((header(str(col), kind, locale, scale), cells, rigid, 0))
    full = _EDGE + sum(max(_width(c[0]), *(_width(x) for x in c[1]), 0) + _PER_COLUMN for c in columns)
    if width is not None and full > width:  # narrow: headers of numbers wrap, the numbers never
        columns = [_narrowed(*c) for c in columns]
    else:
        columns = [(label, cells, rigid, max(_width(label), *(_width(x) for x in cells), 0))
                   for label, cells, rigid, _ in columns]
    visible = range(_fit([c[3] for c in columns], width))
    table = Table(title=title, show_lines=False)
    for i in visible:
        label, _, rigid, _ = columns[i]
        table.add_column(escape(label), no_wrap=rigid, justify="right" if rigid else "left",
                         overflow="ellipsis" if rigid else "fold")
    for r in range(len(frame)):
        # tracking data (URLs, campaign names) is attacker-controlled: never read as markup
        table.add_row(*(escape(columns[i][1][r]) for i in visible))
    dropped = [columns[i][0].replace("\n", " ") for i in range(len(columns)) if i not in visible]
    return table, dropped, max(full, _width(title or ""))


def print_table(frame: pd.DataFrame, *, title: str | None = None, locale: str = "it", max_rows: int = 200,
                like: dict[str, str] | None = None) -> None:
    """Print ``frame`` (its first ``max_rows`` rows) on stdout; what was left out goes to stderr."""
    from percorso.cli.common import cell, console

    out = console(stderr=False)
    terminal = out.is_terminal
    table, dropped, full = build_table(frame.head(max_rows), title=title, locale=locale,
                                       width=out.width if terminal else None, like=like)
    if not terminal:  # a pipe or a file: one line per row, however wide
        from rich.console import Console

        out = Console(file=out.file, width=full, highlight=False, color_system=None)
    out.print(table)
    if dropped:
        console().print(f"colonne non mostrate per la larghezza / columns left out to fit the width: "
                        f"{', '.join(dropped)} (tutte / all: --format csv, --out FILE.xlsx)", markup=False)
    if len(frame) > max_rows:
        console().print(f"… {cell(len(frame) - max_rows)} righe in più / more rows (usa / use --format csv o --out)")
