"""A result table as a page shows it: headers in the reader's language, every number formatted
for its kind (the CLI's own :mod:`percorso.export.columns`), numbers right-aligned, and a link
to the customers behind each row where the reader may see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from percorso.export.columns import NUMERIC_KINDS, duration_unit, format_value, header, shown_columns
from percorso.web.i18n import format_number

if TYPE_CHECKING:
    import pandas as pd

    from percorso.web.context import PageContext


#: One shown cell: ``(text, numeric, href)``. A plain tuple, as is each row: a cached page holds
#: thousands of cells, and a tuple of plain values leaves the garbage collector's tracking, so a
#: full collection does not walk them (as objects they were ~22k of the ~70k objects a full pass
#: walked after fifty cached views at 10M: ADR 0043). The ``table`` macro unpacks them.
Cell = tuple  # (str, bool, str | None)


@dataclass
class TableView:
    headers: list[tuple[str, bool]]                 # (text, numeric)
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    drill: list[str | None] = field(default_factory=list)   # per row: the customers behind it
    total: int = 0
    marked: list[bool] = field(default_factory=list)       # per row: highlighted (a friction cell)

    @property
    def empty(self) -> bool:
        return not self.rows


def table_view(frame: pd.DataFrame, locale: str, *, columns: list[str] | None = None,
               labels: dict[str, str] | None = None, like: dict[str, str] | None = None,
               ctx: PageContext | None = None, query: Any = None, drill_by: tuple[str, ...] = (),
               limit: int = 200, customer_link: bool = False, words: tuple[str, ...] = (),
               row_class: str | None = None, selector: Any = None, shown_as: dict[str, Any] | None = None) -> TableView:
    """``frame`` for a page. With ``ctx``, ``query`` and ``drill_by`` (the runner's selector
    columns) each row links to its customers; ``labels`` overrides a column's header; the
    values of the ``words`` columns are translated (:func:`percorso.web.words.say`);
    ``row_class`` names a flag column whose true rows are marked (friction cells);
    ``selector(record)`` gives a row's drill-down selector where ``drill_by`` cannot;
    ``shown_as[col](value)`` is the text of a cell where the column's kind is not enough
    (a month as ``dic 2026``); selectors keep the raw value."""
    from percorso.web.words import say
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    if ctx is not None and ctx.viewer:
        cols = [c for c in cols if c != "customer_id"]
    part = frame if len(frame) <= limit and list(frame.columns) == cols else frame[cols].head(limit)
    shown = shown_columns(part, like)
    heads = []
    for c in cols:
        s = shown[str(c)]
        text = (labels or {}).get(c) or header(str(c), s.kind, locale, None)  # durations carry their unit per cell
        heads.append((text, s.kind in NUMERIC_KINDS))
    view = TableView(heads, total=len(frame))
    from percorso.web.i18n import gettext_for

    gettext = gettext_for(locale)
    by = [c for c in drill_by if c in frame.columns]
    for record in _records(part, cols):
        row = []
        for c in cols:
            s = shown[str(c)]
            if shown_as and c in shown_as:
                text = shown_as[c](record[c])
            elif c in words:
                text = say(record[c], gettext)
            elif s.kind == "duration":  # each cell in the unit that fits it, named: "45 min", "3,5 giorni"
                text = format_number(record[c], "duration", locale, unit=duration_unit(str(c)) or "seconds")
            else:
                text = format_value(record[c], s.kind, locale, scale=s.scale)
            href = None
            if customer_link and c == "customer_id" and record[c]:
                from urllib.parse import quote

                href = f"/cliente?id={quote(str(record[c]))}&lang={locale}"
            row.append((text, s.kind in NUMERIC_KINDS, href))
        view.rows.append(tuple(row))
        view.marked.append(bool(row_class and record.get(row_class)))
        link = None
        if ctx is not None and query is not None and (by or selector):
            sel = (selector(record) if selector else
                   {c: _plain(record[c]) for c in by if record[c] is not None and record[c] == record[c]})
            link = ctx.drill_url(query, sel) if sel else None
        view.drill.append(link)
    return view


def _records(part: pd.DataFrame, cols: list[str]) -> list[dict[str, Any]]:
    """The rows as dicts of plain Python values, as ``to_dict(orient="records")`` gives them
    (a missing value of a nullable column is None), built from one ``tolist`` per column: the
    frame's own row walk was a quarter of formatting a small table (ADR 0043)."""
    import pandas as pd

    if not part.columns.is_unique:
        return part[cols].to_dict(orient="records")
    values = []
    for c in cols:
        column = part[c]
        cells = column.tolist()
        if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
            cells = [None if v is pd.NA else v for v in cells]
        values.append(cells)
    return [dict(zip(cols, row)) for row in zip(*values)] if cols else [{} for _ in range(len(part))]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
