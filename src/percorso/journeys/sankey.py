"""Sankey of journeys: N steps after a start node, before an end node, or between two.

Why: a marketer reads flows better than tables ("what happens after an e-mail click", "what
comes before an in-store purchase"). Each position keeps its ``top_k`` nodes and folds the
rest into ``other``, so every journey is still counted; journeys that stop early flow into
``(end)`` (or come from ``(start)`` when anchored on an end node), so drop-outs are visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisResult, Runner
from percorso.errors import InputError
from percorso.journeys.controls import AnchoredQuery, journey_steps
from percorso.journeys.paths import anchored_steps
from percorso.journeys.transitions import END, START

if TYPE_CHECKING:
    import plotly.graph_objects as go

OTHER = "other"


class SankeyQuery(AnchoredQuery):
    """``steps`` positions; anchored on ``start`` (positions 1..N from it), on ``end``
    (the N positions ending at it) or on both (from start up to end, at most N)."""

    kind: ClassVar[str] = "paths_sankey"
    steps: int = Field(5, ge=2, le=20)
    top_k: int = Field(8, ge=1, le=50)


def positioned(engine: Any, q: SankeyQuery) -> ir.Table:
    """journey_id, customer_id, pos (1..N), node — padded with (end)/(start), other-folded."""
    s = anchored_steps(journey_steps(engine, q), q.start, q.end)
    n = q.steps
    if q.end is not None and q.start is None:
        # count back from the end node: the end sits at position N
        last = s.group_by("journey_id").aggregate(_last=s.step.max())
        s = s.join(last, "journey_id")
        s = s.mutate(pos=s.step - s._last + n).drop("_last")
        s = s.filter(s.pos >= 1)
        short = s.group_by("journey_id", "customer_id").aggregate(_first=s.pos.min())
        pad = short.filter(short._first > 1).select(
            "journey_id", "customer_id", pos=short._first - 1, node=ibis.literal(START))
    else:
        s = s.mutate(pos=s.step).filter(s.step <= n)
        short = s.group_by("journey_id", "customer_id").aggregate(_last=s.pos.max())
        pad = short.filter(short._last < n).select(
            "journey_id", "customer_id", pos=short._last + 1, node=ibis.literal(END))
    rows = s.select("journey_id", "customer_id", "pos", "node").union(pad)
    # the top_k real nodes per position are kept; (start)/(end) are always shown and take no slot
    real = rows.filter(~rows.node.isin([START, END]))
    counts = real.group_by("pos", "node").aggregate(_j=real.count())
    # row_number is 0-based: ranks 0 .. top_k-1 are kept
    rank = ibis.row_number().over(ibis.window(group_by=counts.pos, order_by=[ibis.desc(counts._j), counts.node]))
    keep = counts.mutate(_rank=rank)
    keep = keep.filter(keep._rank < q.top_k).select("pos", "node", _keep=True)
    rows = rows.left_join(keep, ["pos", "node"]).select(
        "journey_id", "customer_id", "pos",
        node=(ibis._._keep.notnull() | ibis._.node.isin([START, END])).ifelse(ibis._.node, OTHER))
    return rows


@dataclass
class SankeyResult(AnalysisResult):
    """``frame``: step (position of the source), source, target, journeys."""

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        f = self.frame
        labels: list[str] = []
        index: dict[tuple[int, str], int] = {}

        def node(pos: int, name: str) -> int:
            if (pos, name) not in index:
                index[(pos, name)] = len(labels)
                labels.append(f"{pos} · {name}")
            return index[(pos, name)]

        src = [node(int(r.step), str(r.source)) for r in f.itertuples()]
        dst = [node(int(r.step) + 1, str(r.target)) for r in f.itertuples()]
        fig = go.Figure(go.Sankey(node=dict(label=labels, pad=12), link=dict(source=src, target=dst,
                                                                            value=list(f["journeys"]))))
        fig.update_layout(title="Flussi del percorso / journey flows")
        return fig


class SankeyRunner(Runner[SankeyQuery, SankeyResult]):
    query_type = SankeyQuery

    def calculate(self) -> SankeyResult:
        rows = self.engine.temp_table(positioned(self.engine, self.query))
        try:
            return self._calculate(rows)
        finally:
            self.engine.drop_temp(rows)

    def _calculate(self, rows: ir.Table) -> SankeyResult:
        frame = self.engine.execute(links(rows).order_by(["step", ibis.desc("journeys"), "source", "target"]))
        # every journey has exactly one link leaving its first position: 1, or N-1 when anchored
        # on the end node alone (there every journey reaches position N)
        first = self.query.steps - 1 if self.query.end is not None and self.query.start is None else 1
        journeys = int(frame.loc[frame["step"] == first, "journeys"].sum())
        return SankeyResult(frame=frame, query=self.query, meta={"journeys": journeys})

    def customers_expr(self, *, step: int | None = None, node: str | None = None, source: str | None = None,
                       target: str | None = None, **selector: Any) -> ir.Table:
        """``step=N, node=X``: the customers at position N on X; ``step=N, source=X, target=Y``: on a link."""
        by_node = node is not None and source is None and target is None
        by_link = node is None and source is not None and target is not None
        if selector or step is None or not (by_node or by_link):
            given = {"step": step, "node": node, "source": source, "target": target}
            got = sorted([k for k, v in given.items() if v is not None] + list(selector))
            raise InputError("sankey drill-down takes step=N and node='…', or step=N, source='…' and target='…'; "
                             f"got {got}")
        rows = positioned(self.engine, self.query)
        if by_node:
            return rows.filter((rows.pos == step) & (rows.node == node)).select("customer_id").distinct()
        here = rows.filter((rows.pos == step) & (rows.node == source)).select("journey_id", "customer_id")
        there = rows.filter((rows.pos == step + 1) & (rows.node == target)).select("journey_id")
        return here.semi_join(there, "journey_id").select("customer_id").distinct()


def links(rows: ir.Table) -> ir.Table:
    """(step, source, target, journeys) from positioned rows: position p → p + 1 of the same journey."""
    nxt = rows.mutate(pos=rows.pos - 1).select("journey_id", "pos", target="node")
    joined = rows.join(nxt, ["journey_id", "pos"])
    return joined.group_by(step=joined.pos, source=joined.node, target=joined.target).aggregate(
        journeys=joined.count())
