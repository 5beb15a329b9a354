"""Results and queries as JSON, and back: the one wire format of REST, the client and the CLI.

Why one module: the REST API must answer with exactly what the Python API computes, and the
Python client must hand a notebook the same result class it would get locally
(``.to_frame()``, ``.figure()``, ``.customers()``). A result is a dataclass of tables
(pandas frames), the query, ``meta`` and a few typed fields; each table travels as
``{"columns", "dtypes", "rows"}`` with Python's own float text (no rounding), times as ISO
8601 and missing values as ``null``. Results hold aggregates and pages only, so walking
their cells in Python is cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from percorso.analysis.base import AnalysisQuery, AnalysisResult, _RUNNERS, runner_for
from percorso.errors import InputError

#: Modules whose import registers the runners (``Runner.__init_subclass__``).
ANALYSIS_MODULES = (
    "percorso.journeys.paths", "percorso.journeys.transitions", "percorso.journeys.sankey",
    "percorso.journeys.funnel", "percorso.journeys.friction", "percorso.journeys.journey_map",
    "percorso.journeys.omnichannel", "percorso.attribution.analysis", "percorso.attribution.roi",
    "percorso.value.rfm", "percorso.value.clv.analysis", "percorso.value.churn", "percorso.value.cohorts",
    "percorso.value.cost_to_serve", "percorso.value.health", "percorso.value.personas",
    "percorso.value.segments.analysis", "percorso.journeys.overview",
)

_FRAME = "__frame__"


def load_analyses() -> dict[str, type[AnalysisQuery]]:
    """Import every analysis module; returns ``{kind: query class}`` of the registered runners."""
    for name in ANALYSIS_MODULES:
        importlib.import_module(name)
    return {kind: runner.query_type for kind, runner in sorted(_RUNNERS.items())}


def query_from_wire(kind: str, body: dict[str, Any] | None) -> AnalysisQuery:
    """Validate a JSON body as the query of ``kind`` (unknown fields refused, as in Python)."""
    load_analyses()
    return runner_for(kind).query_type.model_validate(body or {})


# -- values ----------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """A Python/numpy/pandas value as plain JSON types (frames as tables)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Decimal)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (timedelta, pd.Timedelta)):
        return value.total_seconds()
    if isinstance(value, pd.DataFrame):
        return {_FRAME: frame_to_wire(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        return [jsonable(v) for v in (sorted(value, key=str) if isinstance(value, (set, frozenset)) else value)]
    if isinstance(value, AnalysisQuery):
        return value.model_dump(mode="json")
    if value is pd.NA or value is pd.NaT:
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.name.startswith("_")}
    if hasattr(value, "item"):  # other numpy scalars
        return jsonable(value.item())
    return str(value)


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_FRAME}:
            return frame_from_wire(value[_FRAME])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


# -- tables ----------------------------------------------------------------------------------
def frame_to_wire(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame as ``{"columns", "dtypes", "rows"}`` (index dropped: results keep data in columns).

    Rows are tuples (JSON arrays when sent): the server keeps answers in its cache, and a tuple
    of plain values leaves the garbage collector's tracking, so a full collection does not walk
    every row of every cached answer (ADR 0043)."""
    frame = frame.reset_index(drop=True) if not isinstance(frame.index, pd.RangeIndex) else frame
    columns = [str(c) for c in frame.columns]
    rows = [tuple([jsonable(v) for v in row]) for row in frame.itertuples(index=False, name=None)]
    return {"columns": columns, "dtypes": [str(t) for t in frame.dtypes], "rows": rows}


def frame_from_wire(table: dict[str, Any]) -> pd.DataFrame:
    """Rebuild a frame with the dtypes it left with (ints with gaps become nullable ints)."""
    frame = pd.DataFrame(table["rows"], columns=table["columns"])
    if not table["rows"]:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in table["columns"]})
    for col, dtype in zip(table["columns"], table["dtypes"]):
        s = frame[col]
        try:
            if dtype.startswith("datetime64"):
                frame[col] = (pd.to_datetime(s, format="ISO8601").astype(dtype) if "UTC" not in dtype
                              else pd.to_datetime(s, utc=True, format="ISO8601"))
            elif dtype.startswith("timedelta"):
                frame[col] = pd.to_timedelta(s, unit="s")
            elif dtype in ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint8"):
                frame[col] = s.astype(dtype) if s.notna().all() else s.astype("Int64")
            elif dtype.lower().startswith(("int", "uint", "float", "bool")) or dtype == "boolean":
                frame[col] = s.astype(dtype)
            elif dtype == "category":
                frame[col] = s.astype("category")
            elif dtype in ("str", "string"):
                frame[col] = s.astype(dtype)
        except (TypeError, ValueError):
            pass  # keep the JSON values as they came (a mixed column stays object)
    return frame


# -- results ---------------------------------------------------------------------------------
def result_to_wire(result: AnalysisResult) -> dict[str, Any]:
    """The JSON of a result: its kind, query, main table, other fields and meta."""
    fields = {}
    for f in dataclasses.fields(result):
        if f.name in ("frame", "query", "meta") or f.name.startswith("_"):
            continue
        fields[f.name] = jsonable(getattr(result, f.name))
    return {
        "kind": result.query.kind,
        "result_type": type(result).__name__,
        "query": result.query.model_dump(mode="json"),
        "frame": frame_to_wire(result.frame),
        "fields": fields,
        "meta": jsonable(result.meta),
    }


def _result_classes() -> dict[str, type[AnalysisResult]]:
    seen: dict[str, type[AnalysisResult]] = {}
    stack = [AnalysisResult]
    while stack:
        cls = stack.pop()
        seen[cls.__name__] = cls
        stack.extend(cls.__subclasses__())
    return seen


def result_from_wire(payload: dict[str, Any]) -> AnalysisResult:
    """Rebuild the typed result a runner would have returned (without its runner: see the client)."""
    load_analyses()
    cls = _result_classes().get(payload.get("result_type", ""))
    if cls is None:
        raise InputError(f"unknown result type {payload.get('result_type')!r} in a server answer")
    query = query_from_wire(payload["kind"], payload["query"])
    kwargs = {name: _from_jsonable(v) for name, v in payload.get("fields", {}).items()}
    return cls(frame=frame_from_wire(payload["frame"]), query=query, meta=_from_jsonable(payload["meta"]), **kwargs)
