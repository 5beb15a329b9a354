"""Small result frames to files and text, in the formats marketers and machines expect.

Why two CSV profiles: Italian Excel opens a CSV correctly only with ``;`` as separator,
decimal comma and a UTF-8 BOM (``it``); scripts want ``,``, ``.`` and no BOM
(``standard``). Text cells that a spreadsheet would run as a formula (starting with
``= + - @``, tab or CR) are prefixed with ``'`` in CSV and XLSX: tracking data is
attacker-controlled and must not become code in the user's Excel.

Large tables are not written here but in the engine (:mod:`percorso.export.tables`).
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from percorso.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from percorso.analysis.rows import Rows

CsvProfile = Literal["it", "standard"]
XLSX_MAX_ROWS = 1_048_575
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (CSV/XLSX injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _escaped(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(escape_formula)
    return out


def frame_to_csv_text(frame: pd.DataFrame | Rows, profile: CsvProfile = "standard") -> str:
    """CSV text of a frame; ``it`` uses ``;``, decimal comma and dd/mm/yyyy dates (no BOM in text).

    :class:`~percorso.analysis.rows.Rows` of plain values in the ``standard`` profile are written
    without pandas (:func:`_rows_csv_text`), with the same text."""
    from percorso.analysis.rows import Rows

    if isinstance(frame, Rows):
        text = _rows_csv_text(frame) if profile == "standard" else None
        if text is not None:
            return text
        frame = frame.to_pandas()
    data = _escaped(frame)
    if profile == "it":
        return data.to_csv(index=False, sep=";", decimal=",", date_format="%d/%m/%Y %H:%M:%S")
    return data.to_csv(index=False)


#: Cell types :func:`_rows_csv_text` writes as pandas' ``to_csv`` does.
_CSV_PLAIN = frozenset({str, int, float, bool, type(None)})


def _rows_csv_text(rows: Rows) -> str | None:
    """The ``standard`` CSV of ``rows``, as :func:`frame_to_csv_text` writes their frame, or None
    when a cell is not a plain value (a time: left to pandas).

    pandas writes a float64 cell as numpy's shortest text, which is Python's ``repr``, a missing
    value as nothing, an integer and a boolean as ``str``; its writer is the ``csv`` module's
    with ``\n`` line ends."""
    import csv
    import io

    if any(type(v) not in _CSV_PLAIN for row in rows.data for v in row):
        return None

    def cell(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return repr(value)
        return escape_formula(value)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if rows.columns:
        writer.writerow(rows.columns)
    else:
        out.write("\n")   # the frame of no column: pandas writes an empty header line
    writer.writerows([cell(v) for v in row] for row in rows.data)
    return out.getvalue()


def write_csv(frame: pd.DataFrame, path: Path, profile: CsvProfile = "it") -> None:
    text = frame_to_csv_text(frame, profile)
    encoding = "utf-8-sig" if profile == "it" else "utf-8"
    path.write_text(text, encoding=encoding, newline="")


def write_frame(frame: pd.DataFrame, path: str | Path, *, locale: str = "it", csv_profile: CsvProfile | None = None,
                like: dict[str, str] | None = None) -> Path:
    """Write a result frame by file extension: .csv, .xlsx, .parquet or .json.

    CSV, Parquet and JSON are for programs: the frame's English keys and raw numbers in every
    locale. XLSX is for people: headers in ``locale`` and number formats by column kind.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        write_csv(frame, path, csv_profile or ("it" if locale == "it" else "standard"))
    elif suffix == ".xlsx":
        from percorso.export.xlsx import write_xlsx

        write_xlsx(frame, path, locale=locale, like=like)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(frame_to_json(frame) + "\n", encoding="utf-8")
    else:
        raise InputError(f"cannot write '{path.name}': unknown extension '{suffix}'; valid: .csv, .xlsx, .parquet, .json")
    return path


def _is_nat(value: Any) -> bool:
    """pandas' missing time, told without importing pandas (the text of a build's summary needs none)."""
    return type(value).__name__ == "NaTType"


#: Cell types that are already plain JSON values (the common case, answered first: a page
#: formats thousands of cells).
_PLAIN = frozenset({str, int, bool})


def jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if _is_nat(value):
        return None
    if isinstance(value, (datetime, date)):   # pandas' Timestamp is a datetime
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def frame_records(frame: pd.DataFrame | Rows) -> list[dict[str, Any]]:
    """Row objects ready for JSON: ISO dates, nulls for missing values, Python scalars."""
    return [{str(k): jsonable(v) for k, v in zip(frame.columns, row)} for row in frame.itertuples(index=False)]


def frame_to_json(frame: pd.DataFrame | Rows) -> str:
    """A JSON array of row objects (ISO dates, nulls for missing values)."""
    return json.dumps(frame_records(frame), ensure_ascii=False, default=str)


def format_cell(value: Any, locale: str = "it") -> str:
    """Human text for one cell: Italian thousands/decimal separators, dates dd/mm/yyyy."""
    value = jsonable(value) if not isinstance(value, (datetime, date)) else value
    if value is None or _is_nat(value):  # NaT is a datetime subclass without strftime
        return ""
    if isinstance(value, bool):
        return ("sì" if value else "no") if locale == "it" else ("yes" if value else "no")
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M" if locale == "it" else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y" if locale == "it" else "%Y-%m-%d")
    if isinstance(value, int):
        text = f"{value:,}"
        return text.replace(",", ".") if locale == "it" else text
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"
        if locale == "it":
            text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
        return text
    return str(value)


def format_eur(value: float | None, *, decimals: int = 2, locale: str = "it") -> str:
    """Euros for people: ``1234.5 → '1.234,50 €'`` (``it``) or ``'€1,234.50'`` (``en``); NaN/None → '—'.

    Why a locale: an English project (``[project] locale = "en"``) reads every other table
    with 1,234.50; ``percorso roi`` alone printing 1.234,50 would read as a thousand times less.
    """
    text = format_it_number(None if value is None else abs(value), decimals, locale=locale)
    if text == "—":
        return text
    sign = "-" if value < 0 else ""  # type: ignore[operator]
    return f"{sign}€{text}" if locale == "en" else f"{sign}{text} €"


def format_it_number(value: float | None, decimals: int = 2, *, locale: str = "it") -> str:
    """A number with the thousands and decimal separators of ``locale`` (``it``: 1.234,5)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{abs(value):,.{decimals}f}"
    if locale == "it":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{'-' if value < 0 else ''}{text}"
