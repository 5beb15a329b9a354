"""A page's table reads its rows and column kinds without pandas' per-cell machinery (ADR 0043):
the same rows as ``to_dict(orient="records")``, the same kinds as the cell-by-cell rules, and the
serving process's start-up heap frozen out of the garbage collector's walks.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.export.columns import column_kind
from percorso.web.tables import _records, table_view


def _same(a: object, b: object) -> bool:
    """Equal values of the same type; NaN equals NaN, NaT is NaT."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    return a is b or a == b


def _mixed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "n_orders": [1, 2, 3], "share": [0.5, np.nan, 0.25], "nullable": pd.array([1, None, 3], dtype="Int64"),
        "flag": [True, False, True], "maybe": pd.array([True, None, False], dtype="boolean"),
        "seen_at": pd.to_datetime(["2026-01-01 10:00", None, "2026-01-03 00:00"]),
        "utc": pd.to_datetime(["2026-01-01", None, "2026-01-03"]).tz_localize("UTC"),
        "name": ["a", None, "c"], "mixed": pd.Series([None, dt.date(2026, 1, 1), "x"], dtype=object),
        "channel": pd.Categorical(["Email", "Store", None]), "wait": pd.to_timedelta([1, None, 3], unit="s"),
        "ratio": pd.array([1.5, None, 2.0], dtype="Float64"), "small": np.array([1, 2, 3], dtype="uint8"),
        "arrow": pd.array([1, None, 3], dtype="int64[pyarrow]"),
    })


def test_rows_are_what_to_dict_gives_for_every_dtype() -> None:
    frame = _mixed_frame()
    cols = list(frame.columns)
    want = frame.to_dict(orient="records")
    got = _records(frame, cols)
    assert len(got) == len(want) == 3
    for g, w in zip(got, want):
        assert list(g) == list(w)
        bad = {c: (g[c], w[c]) for c in cols if not _same(g[c], w[c])}
        assert not bad, bad
    # a subset of the columns, in another order
    assert [list(r) for r in _records(frame, ["name", "n_orders"])] == [["name", "n_orders"]] * 3


def test_a_frame_with_repeated_column_names_falls_back_to_pandas() -> None:
    frame = pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns that one "a" is left out, as before
        assert _records(frame, ["a"]) == frame[["a"]].to_dict(orient="records")


def _kind_cell_by_cell(name: str, values: pd.Series) -> str:
    """The rule written out: the name's kind, else what every non-missing cell is."""
    from percorso.export.columns import NUMERIC_KINDS

    kind = column_kind(name)  # from the name alone ("text" when the name says nothing)
    cells = [v for v in values.astype(object) if not (v is None or v is pd.NA or v is pd.NaT
                                                      or (isinstance(v, float) and math.isnan(v)))]
    numbers = bool(cells) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cells)
    if kind in NUMERIC_KINDS:
        return kind if numbers else "text"
    if kind != "text":
        return kind
    if not cells:
        return "text"
    for k, types in (("flag", bool), ("datetime", dt.datetime), ("date", dt.date)):
        if all(isinstance(v, types) for v in cells):
            return k
    if all(isinstance(v, int) and not isinstance(v, bool) for v in cells):
        return "count"
    return "number" if numbers else "text"


_cells = st.one_of(st.none(), st.text(max_size=3), st.integers(-5, 5), st.booleans(),
                   st.floats(allow_nan=True, allow_infinity=False, width=32),
                   st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)))


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(["label", "revenue", "n_people", "finished_at", "note_date", "trusted"]),
       cells=st.lists(_cells, max_size=6), as_string=st.booleans())
def test_column_kinds_match_the_cell_by_cell_rule(name: str, cells: list, as_string: bool) -> None:
    if as_string:  # a string column (pandas' "str"): strings or missing values only
        values = pd.Series([c if isinstance(c, str) else None for c in cells], dtype="str")
    else:
        values = pd.Series(cells, dtype=object)
    assert column_kind(name, values) == _kind_cell_by_cell(name, values)


def test_table_view_formats_the_rows_it_read() -> None:
    frame = pd.DataFrame({"source_name": ["web", "store"], "accepted": pd.array([1234, None], dtype="Int64"),
                          "finished_at": pd.to_datetime(["2026-12-04 15:25", None])})
    view = table_view(frame, "it")
    assert [[text for text, _numeric, _href in r] for r in view.rows] == [["web", "1.234", "04/12/2026 15:25"],
                                                                          ["store", "—", ""]]
    assert view.total == 2 and [h[1] for h in view.headers] == [False, True, False]
    assert len(table_view(frame, "en", limit=1).rows) == 1
    # a collection stops tracking tuples of plain values (the cells, then on the next pass the
    # rows that hold only them): later full passes skip a cached page's table
    gc.collect()
    gc.collect()
    assert not any(gc.is_tracked(r) for r in view.rows)


def test_an_answers_rows_leave_the_collectors_tracking() -> None:
    from percorso.analysis.wire import frame_from_wire, frame_to_wire

    frame = _mixed_frame()
    wire = frame_to_wire(frame)
    gc.collect()
    assert not any(gc.is_tracked(r) for r in wire["rows"])  # a cached answer's rows: not walked again
    back = frame_from_wire(json.loads(json.dumps(wire)))  # as it travels: JSON arrays
    assert back["n_orders"].tolist() == [1, 2, 3] and back["name"].tolist()[::2] == ["a", "c"]


def test_a_serving_app_freezes_its_start_up_heap(demo_template: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from percorso.server.app import create_app

    root = tmp_path / "demo"
    shutil.copytree(demo_template, root, ignore=shutil.ignore_patterns(".percorso", "*.log"))
    plain = create_app(root)
    with TestClient(plain):
        assert gc.get_freeze_count() == 0  # an app a test makes leaves the process's GC alone
    app = create_app(root)
    app.state.freeze_heap = True  # what percorso serve sets
    try:
        with TestClient(app) as client:
            assert gc.get_freeze_count() > 10_000  # imports, templates, the opened project
            assert client.get("/healthz").status_code == 200
    finally:
        gc.unfreeze()
