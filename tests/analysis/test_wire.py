"""The wire format: queries and result tables survive JSON unchanged (REST, client, CLI bridge)."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.analysis.wire import (
    frame_from_wire, frame_to_wire, load_analyses, query_from_wire, result_from_wire, result_to_wire,
)

SAMPLES = {"funnel": {"steps": ["page_view", "purchase"], "window": "12h", "order": "strict"},
           "segment": {"name": "vip"}, "paths_top": {"top": 3, "start": "purchase:store"}}


def test_every_query_round_trips_through_its_json() -> None:
    for kind, cls in load_analyses().items():
        query = query_from_wire(kind, SAMPLES.get(kind, {}))
        again = query_from_wire(kind, json.loads(json.dumps(query.model_dump(mode="json"))))
        assert again == query, kind
        assert type(again) is cls


def test_a_table_keeps_values_and_types() -> None:
    frame = pd.DataFrame({
        "channel": ["Email", "Direct", None],
        "customers": np.array([3, 0, 7], dtype="int64"),
        "share": [0.1, math.nan, 1 / 3],
        "first": pd.to_datetime(["2024-03-31 01:30:00", None, "2024-10-27 02:15:00.123456"], format="ISO8601"),
        "online": [True, False, True],
    })
    back = frame_from_wire(json.loads(json.dumps(frame_to_wire(frame))))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["customers"].dtype == "int64" and back["first"].dtype.kind == "M"
    assert back.loc[2, "share"] == 1 / 3  # Python's float text, not rounded


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-2**53, 2**53), st.floats(allow_nan=False, allow_infinity=False),
                          st.one_of(st.none(), st.text(max_size=8))), max_size=20))
def test_random_tables_round_trip(rows: list[tuple[int, float, str | None]]) -> None:
    frame = pd.DataFrame(rows, columns=["n", "x", "label"])
    if not rows:
        frame = frame.astype({"n": "int64", "x": "float64"})
    back = frame_from_wire(json.loads(json.dumps(frame_to_wire(frame))))
    assert back["n"].tolist() == frame["n"].tolist()
    assert back["x"].tolist() == frame["x"].tolist()
    assert back["label"].tolist() == frame["label"].tolist()


def test_a_result_comes_back_as_its_class() -> None:
    from percorso.journeys.funnel import FunnelQuery, FunnelResult

    query = FunnelQuery(steps=("page_view", "purchase"))
    frame = pd.DataFrame({"step": [1, 2], "label": ["page_view", "purchase"], "customers": [10, 4]})
    fields = {f: None for f in FunnelResult.__dataclass_fields__ if f not in ("frame", "query", "meta", "_runner")}
    result = FunnelResult(frame=frame, query=query, meta={"computed": datetime(2024, 1, 2, 3, 4)}, **fields)
    back = result_from_wire(json.loads(json.dumps(result_to_wire(result))))
    assert type(back) is FunnelResult and back.query == query
    pd.testing.assert_frame_equal(back.frame, frame)
    assert back.meta == {"computed": "2024-01-02T03:04:00"}
