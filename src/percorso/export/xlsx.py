"""Result frames as Excel workbooks people can read and compute with.

Why: a number stored as text, or as 93.47 with no format, is what a marketer gets from most
exports; here every column of a result has the number format of its kind (``#,##0.00 €``,
``0.0%``, ``#,##0``, dates: :mod:`percorso.export.columns`), headers are in the project's
language, and a matrix (the journey map) is written as a matrix with a heat-map colour scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from percorso.errors import InputError
from percorso.export.files import XLSX_MAX_ROWS, _escaped

_DATES = {"it": ("dd/mm/yyyy", "dd/mm/yyyy hh:mm:ss"), "en": ("yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss")}
#: Excel's own sheet-name limit.
_SHEET_NAME_MAX = 31


@dataclass
class Sheet:
    """One sheet: a frame, the key each column is shown ``like`` (if not its own), and (``heatmap``) a colour scale over every column
    but the first (a matrix whose first column names the rows)."""

    name: str
    frame: pd.DataFrame
    like: dict[str, str] = field(default_factory=dict)
    heatmap: bool = False


def write_xlsx(frame: pd.DataFrame, path: Path, sheet: str = "percorso", *, locale: str | None = None,
               like: dict[str, str] | None = None) -> None:
    """One frame as a one-sheet workbook with a frozen, filterable header and sensible widths.

    With ``locale`` (a result for people) the headers are in that language and every column
    has the number format of its kind, so Excel sums and sorts real numbers that read like the
    table; durations are in the unit the header names. Without it (a stored table dumped by
    ``percorso export``) the headers stay the keys and the values as stored, with number formats.
    """
    write_workbook(path, [Sheet(sheet, frame, like or {})], locale=locale)


def write_workbook(path: Path, sheets: list[Sheet], *, locale: str | None = None) -> None:
    """Several sheets in one workbook (see :func:`write_xlsx`)."""
    from percorso.export.columns import excel_sheet

    for s in sheets:
        if len(s.frame) > XLSX_MAX_ROWS:
            raise InputError(f"{len(s.frame):,} rows do not fit in one Excel sheet (max {XLSX_MAX_ROWS:,}); "
                             "export to .csv or .parquet instead")
    date_format, datetime_format = _DATES["en" if locale == "en" else "it"]
    with pd.ExcelWriter(path, engine="xlsxwriter", date_format=date_format, datetime_format=datetime_format) as writer:
        for s in sheets:
            data = _escaped(s.frame)
            for col in data.columns:  # Excel has no time zones
                if isinstance(data[col].dtype, pd.DatetimeTZDtype):
                    data[col] = data[col].dt.tz_localize(None)
            data, formats = excel_sheet(data, locale, s.like)
            name = s.name[:_SHEET_NAME_MAX]
            data.to_excel(writer, sheet_name=name, index=False)
            ws = writer.sheets[name]
            ws.freeze_panes(1, 1 if s.heatmap else 0)
            if len(data.columns) and not s.heatmap:
                ws.autofilter(0, 0, max(len(data), 1), len(data.columns) - 1)
            for i, col in enumerate(data.columns):
                sample = data[col].head(200).map(str)
                width = max([len(str(col))] + [len(x) for x in sample]) if len(sample) else len(str(col))
                fmt = writer.book.add_format({"num_format": formats[i]}) if formats[i] else None
                ws.set_column(i, i, min(max(width + 2, 8), 60), fmt)
            if s.heatmap and len(data) and len(data.columns) > 1:
                ws.conditional_format(1, 1, len(data), len(data.columns) - 1, {
                    "type": "3_color_scale", "min_color": "#F8F9FB", "mid_color": "#9CC3E6", "max_color": "#1F4E79"})
