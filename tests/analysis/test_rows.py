"""A result's rows (percorso.analysis.rows) against the pandas frame they stand for.

The oracle is pandas itself: the frame the rows make, its JSON and CSV text (what a result
printed before its runner gave rows), and numpy's sum of a float64 column."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd
import pytest

from percorso.analysis.rows import FrameField, Rows, float_sum
from percorso.export.files import frame_to_csv_text, frame_to_json

ROWS = Rows(("breakdown", "path", "journeys", "share", "median", "rate"), ("str", "str", "Int64", "float64", "float64",
                                                                          "object"),
            [("Email", "=cmd → a, \"b\"", 3, 0.1 + 0.2, 1e16, None), (None, "other (2 varianti)", 7, 1e-05, None, None),
             ("Paid", "-x", 0, 0.0, 123456789012345.6, None)])


def test_rows_make_the_frame_their_dtypes_say():
    frame = ROWS.to_pandas()
    assert [str(t) for t in frame.dtypes] == ["str", "str", "Int64", "float64", "float64", "object"]
    assert frame["breakdown"].isna().tolist() == [False, True, False]
    assert frame["median"].isna().tolist() == [False, True, False]
    assert ROWS.column("journeys") == [3, 7, 0] and len(ROWS) == 3


@pytest.mark.parametrize("rows", [ROWS, Rows(("a", "b"), ("str", "int64"), []), Rows((), (), [])])
def test_rows_print_the_json_and_csv_of_their_frame(rows):
    frame = rows.to_pandas()
    assert frame_to_json(rows) == frame_to_json(frame)
    assert frame_to_csv_text(rows) == frame_to_csv_text(frame)
    assert frame_to_csv_text(rows, "it") == frame_to_csv_text(frame, "it")   # through pandas


def test_rows_with_a_time_are_written_by_pandas():
    from datetime import datetime

    rows = Rows(("at", "n"), ("datetime64[us]", "int64"), [(datetime(2024, 1, 2, 3, 4, 5), 1)])
    assert frame_to_csv_text(rows) == frame_to_csv_text(rows.to_pandas())


def test_float_sum_is_the_sum_of_a_float64_column():
    rng = random.Random(15)
    for n in (0, 1, 7, 8, 9, 16, 17, 20, 127, 128, 129, 257, 1000, 1001):
        for _ in range(20):
            values = [round(rng.uniform(-1, 1) * 10 ** rng.randint(0, 12), 6) for _ in range(n)]
            assert float_sum(values) == float(pd.Series(values, dtype="float64").sum())


@dataclass
class _Result:
    frame: pd.DataFrame = FrameField()  # type: ignore[assignment]
    extra: pd.DataFrame | None = FrameField(None)  # type: ignore[assignment]


def test_a_frame_field_reads_rows_as_a_frame_once_and_keeps_a_frame():
    from percorso.analysis.rows import held

    r = _Result(frame=ROWS)
    assert r.extra is None and held(r, "frame") is ROWS
    first = r.frame
    assert isinstance(first, pd.DataFrame) and r.frame is first and held(r, "frame") is first
    with pytest.raises(TypeError):
        _Result()   # no default for the main table
    given = pd.DataFrame({"a": [1]})
    assert _Result(frame=given, extra=ROWS).frame is given and isinstance(_Result(frame=given, extra=ROWS).extra,
                                                                           pd.DataFrame)


def test_the_engine_reads_a_table_as_ibis_does_without_arrow(tmp_path):
    from percorso.engine.backend import Engine

    engine = Engine(str(tmp_path / "t.duckdb"))
    engine.con.execute("CREATE TABLE t (a BIGINT NOT NULL, b VARCHAR, c ENUM('x', 'y'), d DECIMAL(18, 6), "
                       "e TIMESTAMPTZ, f INTEGER[], g STRUCT(k VARCHAR))")
    ours, theirs = engine.table("t"), engine.ibis.table("t")
    assert ours.schema() == theirs.schema() and ours.equals(theirs)
    assert engine.compile(ours.filter(ours.a > 1)) == engine.compile(theirs.filter(theirs.a > 1))
    engine.close()
