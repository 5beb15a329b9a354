"""What a result column holds (money, share, count, duration, date…) and its name in Italian and English.

Why one place: the same column is printed as a table, written to XLSX and returned as JSON.
Machines get the raw number under a stable English key in every locale (``--format json|csv``,
``--out FILE.csv|.json|.parquet``); people get the same number formatted for its kind, under a
header in the project's language (tables and XLSX). Deciding the kind once, here, is what keeps
a share from being ``0.42`` in one table and ``42 %`` in another, or revenue a plain number in
Excel.

The naming convention the kinds are read from (docs/architecture.md, "Machine output"):

- ``share`` kind: a fraction 0–1 (1 = 100 %) named ``share``, ``*_share``, ``share_of_*``,
  ``*_rate``, ``rate_*``, ``conversion_*``, ``retention``, ``p_alive``, ``roi``, ``lift``…;
  tables print ``42,0 %``, XLSX a percentage format.
- ``duration`` kind: a number in the unit its name ends or contains (``*_seconds``,
  ``*_minutes``, ``*_hours``, ``*_days``); tables print it in minutes, hours or days, whichever
  fits the column, and say which in the header.
- ``money`` kind (euros): ``revenue``, ``cost``, ``margin``, ``clv``, ``cpa``, ``cac``, ``aov``…
- ``count``: whole numbers (integer columns, ``n_*``); ``number``: other numbers.
- ``date`` / ``datetime``: ``date``, ``*_date``, ``*_end``; ``*_at`` (stored in UTC).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["money", "share", "count", "number", "duration", "date", "datetime", "flag", "text"]
NUMERIC_KINDS = frozenset({"money", "share", "count", "number", "duration"})

#: Seconds in each duration unit a column name can carry.
UNIT_SECONDS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0, "weeks": 604800.0}

_MONEY = frozenset({"revenue", "cost", "cpa", "cac", "clv", "monetary", "margin", "aov", "loss", "receipt",
                    "spend", "price", "amount", "discount", "eur", "value_eur"})
_SHARE = frozenset({"share", "rate", "retention", "roi", "lift"})
_EXACT: dict[str, Kind] = {
    "conversion_from_previous": "share", "conversion_overall": "share", "churn_risk": "share",
    "avg_p_alive_model": "share",
    "roas": "number", "spread": "number",
    "avg_overdue": "number", "frequency": "number", "recency": "number", "t": "number",
    "decile": "count", "step": "count", "period": "count", "persona": "count", "line": "count",
    "order": "count", "source_line": "count", "size": "count", "seconds": "duration",
    "calibration_end": "date", "date": "date", "cohort": "text",
}
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def is_machine_key(name: str) -> bool:
    """An English snake_case ASCII identifier, as every ``--format json|csv`` key must be."""
    return bool(_SNAKE.match(name))


def duration_unit(name: str) -> str | None:
    """The unit a duration column's name carries (``median_minutes_from_previous`` → minutes)."""
    tokens = name.split("_")
    return next((u for u in UNIT_SECONDS if u in tokens), None)


def column_kind(name: str, values: pd.Series | None = None) -> Kind:
    """The kind of column ``name`` (see the module docstring), from its name, else its values' type."""
    import pandas as pd

    key = str(name)
    tokens = set(key.split("_"))
    kind: Kind | None = _EXACT.get(key)
    if kind is None:
        if duration_unit(key):
            kind = "duration"
        elif key.endswith("_at"):
            kind = "datetime"
        elif key.endswith("_date"):
            kind = "date"
        elif tokens & _SHARE or key.startswith("conversion_") or key.endswith("p_alive"):
            kind = "share"
        elif tokens & _MONEY:
            kind = "money"
        elif key.startswith("n_"):
            kind = "count"
    if values is None:
        return kind or "text"
    dtype = values.dtype
    if kind in NUMERIC_KINDS and not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
        return "text" if not _all_numbers(values) else kind
    if kind is not None:
        return kind
    if pd.api.types.is_bool_dtype(dtype):
        return "flag"
    if pd.api.types.is_integer_dtype(dtype):
        return "count"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return _kind_of_objects(values)


def _all_numbers(values: pd.Series) -> bool:
    """An object column whose non-null cells are all numbers (pivoted or merged frames)."""
    cells = _cells(values)
    return len(cells) > 0 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cells)


def _cells(values: pd.Series) -> list[Any]:
    """The column's non-missing cells as plain Python values.

    A string column holds strings or missing values only, so it answers without looking (a
    page's tables are mostly string columns: ``dropna`` and iterating Arrow strings cell by
    cell were most of formatting a small table, ~0.3 ms a column on the shared box)."""
    import pandas as pd

    if isinstance(values.dtype, pd.StringDtype):
        return [v for v in values.tolist() if isinstance(v, str)]
    return values.dropna().tolist()


def _kind_of_objects(values: pd.Series) -> Kind:
    from datetime import date, datetime

    import pandas as pd

    if isinstance(values.dtype, pd.StringDtype):
        return "text"  # strings or nothing: text either way
    cells = _cells(values)
    if len(cells) == 0:
        return "text"
    if all(isinstance(v, bool) for v in cells):
        return "flag"
    if all(isinstance(v, datetime) for v in cells):
        return "datetime"
    if all(isinstance(v, date) for v in cells):
        return "date"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in cells):
        return "count"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cells):
        return "number"
    return "text"




@dataclass(frozen=True)
class DurationScale:
    """How a duration column is shown: values divided by ``factor`` (from the column's own unit)."""

    unit: str           # minutes | hours | days
    factor: float       # column unit → shown unit


def duration_scale(name: str, values: pd.Series) -> DurationScale:
    """Minutes, hours or days, whichever fits the column's median: one unit for the whole column,
    so rows compare at a glance (a cell in minutes next to one in days misleads)."""
    import pandas as pd

    seconds = UNIT_SECONDS[duration_unit(name) or "seconds"]
    numbers = pd.to_numeric(values, errors="coerce").dropna().abs()
    typical = float(numbers.median()) * seconds if len(numbers) else 0.0
    unit = "minutes" if typical < 3 * 3600 else "hours" if typical < 3 * 86400 else "days"
    return DurationScale(unit, UNIT_SECONDS[unit] / seconds)


@dataclass(frozen=True)
class Shown:
    """How one column is shown to people: its kind and, for a duration, the unit."""

    kind: Kind
    scale: DurationScale | None = None


def shown_columns(frame: pd.DataFrame, like: dict[str, str] | None = None) -> dict[str, Shown]:
    """How every column of ``frame`` is shown. ``like`` says a column holds what a column named
    otherwise holds: a stage × channel matrix of ``median_days_to_next_stage`` has channel
    columns in days. Columns like the same key share one duration unit (a matrix in one unit)."""
    import pandas as pd

    like = like or {}
    keys = {str(c): like.get(str(c), str(c)) for c in frame.columns}
    kinds = {str(c): column_kind(keys[str(c)], frame[c]) for c in frame.columns}
    scales: dict[str, DurationScale] = {}
    for key in {keys[c] for c, k in kinds.items() if k == "duration"}:
        cols = [c for c in frame.columns if keys[str(c)] == key and kinds[str(c)] == "duration"]
        scales[key] = duration_scale(key, pd.concat([frame[c] for c in cols], ignore_index=True))
    return {c: Shown(k, scales.get(keys[c]) if k == "duration" else None) for c, k in kinds.items()}


_UNIT_SHORT = {"it": {"minutes": "min", "hours": "ore", "days": "giorni"},
               "en": {"minutes": "min", "hours": "h", "days": "days"}}


def unit_label(unit: str, locale: str) -> str:
    """The header suffix of a duration shown in ``unit`` (``ore`` / ``h``)."""
    return _UNIT_SHORT.get(locale, _UNIT_SHORT["en"])[unit]


def format_value(value: Any, kind: Kind, locale: str = "it", *, scale: DurationScale | None = None) -> str:
    """One cell as text for people: ``1.234,50 €``, ``42,0 %``, ``1.234``, ``3,5`` (hours), dates."""
    import pandas as pd

    from percorso.export.files import format_cell, format_eur, format_it_number

    if hasattr(value, "item") and not hasattr(value, "strftime"):  # numpy scalars → Python
        value = value.item()
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "" if kind not in NUMERIC_KINDS else "—"
    if kind not in NUMERIC_KINDS or not isinstance(value, (int, float)) or isinstance(value, bool):
        return format_cell(value, locale=locale)
    if kind == "money":
        return format_eur(float(value), locale=locale)
    if kind == "share":
        text = format_it_number(float(value) * 100, 1, locale=locale)
        return f"{text} %" if locale == "it" else f"{text}%"
    if kind == "duration":
        shown = float(value) / (scale.factor if scale else 1.0)
        if 0 < abs(shown) < 0.05:  # a minute in a column of days: not "0,0"
            return "<" + format_it_number(0.1, 1, locale=locale)
        return format_it_number(shown, 1, locale=locale)
    if kind == "count":
        whole = float(value).is_integer()
        return format_it_number(float(value), 0 if whole else 1, locale=locale)
    return format_cell(value, locale=locale)


def column_label(name: str, locale: str = "it") -> str:
    """The header of column ``name`` in ``locale``; a name with no label (a channel as a pivot
    column, a model name) is shown as it is."""
    from percorso.export.labels import LABELS

    pair = LABELS.get(str(name))
    if pair is None:
        return str(name)
    return pair[0] if locale == "it" else pair[1]


def header(name: str, kind: Kind, locale: str, scale: DurationScale | None = None) -> str:
    """``column_label`` plus the unit a duration is shown in (``tempo mediano (ore)``)."""
    text = column_label(name, locale)
    if kind == "duration" and scale is not None:
        text = f"{text} ({unit_label(scale.unit, locale)})"
    return text


def formatted_frame(frame: pd.DataFrame, locale: str = "it", like: dict[str, str] | None = None, *,
                    headers: bool = True) -> pd.DataFrame:
    """``frame`` as text for people: every cell formatted for its column's kind, and (``headers``)
    the columns named in ``locale`` (durations with the unit they are shown in)."""
    import pandas as pd

    shown = shown_columns(frame, like)
    names, cells = [], []
    for col in frame.columns:
        kind, scale = shown[str(col)].kind, shown[str(col)].scale
        names.append(header(str(col), kind, locale, scale) if headers else col)
        cells.append([format_value(v, kind, locale, scale=scale) for v in frame[col]])
    return pd.DataFrame(dict(enumerate(cells)), index=frame.index).set_axis(names, axis=1)


#: Excel number format of each kind, per locale (Excel shows separators in the reader's own locale).
_EXCEL = {
    "money": {"it": '#,##0.00 "€"', "en": '"€"#,##0.00'},
    "share": {"it": "0.0%", "en": "0.0%"},
    "count": {"it": "#,##0", "en": "#,##0"},
    "number": {"it": "#,##0.00", "en": "#,##0.00"},
    "duration": {"it": "#,##0.0", "en": "#,##0.0"},
}


def excel_sheet(frame: pd.DataFrame, locale: str | None, like: dict[str, str] | None = None
                ) -> tuple[pd.DataFrame, list[str | None]]:
    """``frame`` ready for a people's XLSX in ``locale``: headers in that language, durations in
    the unit their header names, and each column's number format (``None``: none; dates get
    the writer's date format). ``locale=None`` (a stored table dumped by ``percorso export``)
    keeps the keys as headers and the values as stored, with the number formats."""
    shown = shown_columns(frame, like)
    out = frame.copy()
    names, formats = [], []
    for col in frame.columns:
        kind, scale = shown[str(col)].kind, shown[str(col)].scale
        if locale is None:
            names.append(str(col))
            formats.append(_EXCEL[kind]["it"] if kind in _EXCEL and kind != "duration" else None)
            continue
        if scale is not None:
            import pandas as pd

            out[col] = pd.to_numeric(frame[col], errors="coerce") / scale.factor
        names.append(header(str(col), kind, locale, scale))
        formats.append(_EXCEL[kind]["en" if locale == "en" else "it"] if kind in _EXCEL else None)
    return out.set_axis(names, axis=1), formats
