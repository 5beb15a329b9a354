"""A stored segment as an analysis: its size over time, the chart, and the customers behind it.

Why: segments get the same three faces as every analysis (``.to_frame()``, ``.figure()``,
drill-down), read from what the refreshes recorded; running the query changes nothing
(``percorso segment refresh`` / ``show`` record a new point).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.errors import InputError, suggest
from percorso.value.segments.store import load_rule, members, members_at, segment_history, size_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

STATUSES = ("member", "entered", "left")


class SegmentQuery(AnalysisQuery):
    """Size over time of the stored segment ``name`` (one row per refresh)."""

    kind: ClassVar[str] = "segment"
    name: str


@dataclass
class SegmentResult(AnalysisResult):
    def figure(self) -> go.Figure:
        return size_figure(self.frame, self.query.name)  # type: ignore[attr-defined]


class SegmentRunner(Runner[SegmentQuery, SegmentResult]):
    query_type = SegmentQuery

    def calculate(self) -> SegmentResult:
        rule = load_rule(self.engine, self.query.name)
        df = self.engine.execute(segment_history(self.engine, self.query.name))
        return SegmentResult(frame=df, query=self.query, meta={"definition": rule.model_dump_json()})

    def customers_expr(self, **selector: Any) -> Table:
        """``status``: member (default), entered or left; ``at``: a refresh time (or any time
        for members); without ``at``, the current members."""
        status = selector.pop("status", "member")
        at = selector.pop("at", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: status, at")
        if status not in STATUSES:
            raise InputError(f"unknown status '{status}'; {suggest(str(status), STATUSES)}")
        name = self.query.name
        if status == "member":
            return members(self.engine, name, self.settings) if at is None else members_at(self.engine, name, _ts(at))
        if at is None:
            raise InputError(f"status={status} needs at=TIME (a refresh time from the history)")
        m = self.engine.table("segment_membership")
        col = m.entered_at if status == "entered" else m.left_at
        return m.filter(m.name == name, col == _ts(at)).select("customer_id")


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"bad time '{value}'; use YYYY-MM-DD HH:MM:SS as in the history") from None
