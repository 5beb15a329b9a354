"""Segments stored in the project database as JSON (table ``segments``), with size history
(table ``segment_sizes``: one row per save or show, so size over time is a query)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from percorso.errors import InputError, NotFound, suggest
from percorso.value.segments.compile import members_expr
from percorso.value.segments.definition import parse_rule

if TYPE_CHECKING:
    import pandas as pd
    from ibis.expr.types import Table

    from percorso.engine import Engine

_SEG = (("name", "VARCHAR"), ("definition", "VARCHAR"), ("updated_at", "TIMESTAMP"))
_SIZES = (("name", "VARCHAR"), ("computed_at", "TIMESTAMP"), ("size", "BIGINT"))


def _ensure(engine: Engine) -> None:
    engine.create_empty_table("segments", _SEG, replace=False)
    engine.create_empty_table("segment_sizes", _SIZES, replace=False)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _record_size(engine: Engine, name: str, rule: Any) -> int:
    n = int(engine.execute(members_expr(engine, rule).count()))
    engine.append_arrow("segment_sizes", pa.table({"name": [name], "computed_at": pa.array([_now()], pa.timestamp("us")),
                                                   "size": pa.array([n], pa.int64())}))
    return n


def save_segment(engine: Engine, name: str, rule_json: str | dict) -> int:
    """Validate, store (replacing a same-named segment) and return the current size."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"bad segment name '{name}'; use letters, digits, '-' and '_'")
    rule = parse_rule(rule_json)
    n_check = members_expr(engine, rule)  # compile now: fail before storing
    del n_check
    _ensure(engine)
    seg = engine.table("segments")
    keep = seg.filter(seg.name != name)
    row = pa.table({"name": [name], "definition": [rule.model_dump_json()],
                    "updated_at": pa.array([_now()], pa.timestamp("us"))})
    others = engine.to_arrow(keep)
    engine.create_table("segments", pa.concat_tables([others.cast(row.schema), row]))
    return _record_size(engine, name, rule)


def load_rule(engine: Engine, name: str) -> Any:
    _ensure(engine)
    seg = engine.table("segments")
    df = engine.execute(seg.select("name", "definition"))
    hit = df[df["name"] == name]
    if hit.empty:
        raise NotFound(f"no segment named '{name}'; {suggest(name, list(df['name']))}")
    return parse_rule(hit.iloc[0]["definition"])


def members(engine: Engine, name: str) -> Any:
    """The current members of a stored segment (Ibis expression with ``customer_id``)."""
    return members_expr(engine, load_rule(engine, name)).select("customer_id")


def in_segment(engine: Engine, t: Table, name: str | None) -> Table:
    """``t`` (with ``customer_id``) restricted to a segment's members; ``t`` itself without one."""
    return t if name is None else t.semi_join(members(engine, name), "customer_id")


def list_segments(engine: Engine) -> pd.DataFrame:
    _ensure(engine)
    seg, sz = engine.table("segments"), engine.table("segment_sizes")
    last = sz.group_by("name").aggregate(computed_at=sz.computed_at.max())
    last = last.join(sz, ["name", "computed_at"]).select("name", "size", "computed_at")
    return engine.execute(seg.left_join(last, "name").select(seg.name, seg.updated_at, last.size,
                                                             last.computed_at).order_by("name"))


def show_segment(engine: Engine, name: str) -> pd.DataFrame:
    """Definition, current size (recorded) and the size history."""
    rule = load_rule(engine, name)
    _record_size(engine, name, rule)
    sz = engine.table("segment_sizes")
    df = engine.execute(sz.filter(sz.name == name).order_by("computed_at"))
    df["definition"] = rule.model_dump_json()
    return df
