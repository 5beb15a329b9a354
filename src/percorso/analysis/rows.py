"""A result's table as plain rows, made a pandas frame only when someone reads it as one.

Why: ``paths transitions``, ``paths top`` and ``funnel`` answer with a few dozen aggregate rows.
Made into a pandas frame, they cost every such command's process the import of pandas (with
numpy and pyarrow, ~0.4 s of CPU, on a thread that competed with DuckDB's on 2 cores) and
Arrow's conversion, only to print them as JSON or CSV. Their runners read the engine's rows as
Python values and give the result a :class:`Rows` with the pandas dtype of each column; the
command line writes JSON and CSV from it (the same text as from the frame:
:func:`percorso.export.files.frame_to_json`, :func:`~percorso.export.files.rows_to_csv_text`),
and ``result.frame`` is the frame it always was, made on first read (:class:`FrameField`) for
the Python API, the REST API and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Rows:
    """Rows of plain Python values (``None`` for a missing one), their column names and the pandas
    dtype each column has as a frame (:meth:`to_pandas`).

    ``columns`` empty: the frame of no rows and no columns (``pd.DataFrame([])``)."""

    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    data: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.data)

    def column(self, name: str) -> list[Any]:
        """The values of one column, in row order."""
        i = self.columns.index(name)
        return [row[i] for row in self.data]

    def itertuples(self, index: bool = False) -> Any:
        """The rows, as a frame's ``itertuples(index=False)`` gives them to a writer."""
        return iter(self.data)

    def to_pandas(self) -> pd.DataFrame:
        """The rows as the pandas frame the runner made before (each column its dtype)."""
        import pandas as pd

        if not self.columns:
            return pd.DataFrame([])
        frame = pd.DataFrame(self.data, columns=list(self.columns))
        return frame.astype(dict(zip(self.columns, self.dtypes)))


def float_sum(values: list[float]) -> float:
    """The sum of ``values`` as pandas gives it for a float64 column (numpy's pairwise summation).

    Why: a result that adds up its shown rows (the *other* row of ``paths top`` is the total less
    them) must give the same last digit as when it summed a frame's column; a sum of doubles
    depends on its order, and numpy's is this one (blocks of eight partial sums).
    """
    n = len(values)
    if n < 8:
        total = 0.0
        for v in values:
            total += v
        return total
    if n > 128:
        half = n // 2
        half -= half % 8
        return float_sum(values[:half]) + float_sum(values[half:])
    part = list(values[:8])
    i = 8
    while i < n - n % 8:
        for j in range(8):
            part[j] += values[i + j]
        i += 8
    total = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]))
    for v in values[i:]:
        total += v
    return total


def table_of(value: Any) -> Any:
    """``value`` as a pandas frame when it is :class:`Rows`, else as it is."""
    return value.to_pandas() if isinstance(value, Rows) else value


class FrameField:
    """A result's table field (``frame``, a funnel's ``time_to_convert``): it holds a pandas frame or
    :class:`Rows`, and reads as a pandas frame (made once, on first read).

    Why a descriptor: every face reads ``result.frame`` as a frame, and :func:`held` (through
    :meth:`percorso.analysis.base.AnalysisResult.table`) gives the command line the rows without
    pandas. As a dataclass field's default it is ``default`` (no default when omitted).
    """

    _NONE = object()

    def __init__(self, default: Any = _NONE) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = _slot(name)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            if self.default is FrameField._NONE:
                raise AttributeError(self.slot)   # the dataclass field has no default
            return self.default
        value = obj.__dict__[self.slot]
        if isinstance(value, Rows):
            value = obj.__dict__[self.slot] = value.to_pandas()
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


def _slot(name: str) -> str:
    return f"_{name}_value"


def held(obj: Any, name: str) -> Any:
    """What the :class:`FrameField` ``name`` of ``obj`` holds: :class:`Rows` until read as a frame,
    or the frame."""
    return obj.__dict__[_slot(name)]
