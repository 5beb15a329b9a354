"""Transitions: from one touchpoint to the next, how often, by how many customers, how fast.

Why: the transition table is the skeleton of every journey (Markov attribution, friction,
the Sankey all read it). For each pair of consecutive steps in a journey it counts the
transitions, the distinct customers making them, the share of the *from* node's outgoing
transitions and the median minutes between the two touchpoints. With ``include_ends`` the
pseudo-nodes ``(start)`` and ``(end)`` show where journeys begin and stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisResult, Runner
from percorso.engine.dialect import epoch_seconds
from percorso.errors import InputError
from percorso.journeys.controls import JourneyQuery, journey_steps

if TYPE_CHECKING:
    import plotly.graph_objects as go

START, END = "(start)", "(end)"


class TransitionsQuery(JourneyQuery):
    """From → to pairs of consecutive steps.

    Parameters
    ----------
    top
        Pairs shown, most frequent first; the rest are summed in one *other* row.
    include_ends
        Add ``(start) → first node`` and ``last node → (end)`` so journey starts and drop-outs
        show in the same table (and count in ``share_of_from``).
    """

    kind: ClassVar[str] = "paths_transitions"
    top: int = Field(50, ge=1, le=10_000)
    include_ends: bool = False


def transition_rows(steps: ir.Table, include_ends: bool = False) -> ir.Table:
    """One row per transition: journey_id, customer_id, from_node, to_node, minutes."""
    # the same ordering as the step numbers, so the engine sorts once for both
    w = ibis.window(group_by=steps.journey_id, order_by=[steps.occurred_at, steps.event_id])
    nxt = steps.mutate(to_node=steps.node.lead().over(w), to_at=steps.occurred_at.lead().over(w))
    minutes = (epoch_seconds(nxt.to_at) - epoch_seconds(nxt.occurred_at)) / 60.0
    rows = nxt.filter(nxt.to_node.notnull()).select(
        "journey_id", "customer_id", "breakdown", from_node=nxt.node, to_node=nxt.to_node, minutes=minutes)
    if include_ends:
        first = steps.filter(steps.step == 1).select(
            "journey_id", "customer_id", "breakdown", from_node=ibis.literal(START), to_node=steps.node,
            minutes=ibis.null().cast("float64"))
        last = nxt.filter(nxt.to_node.isnull()).select(
            "journey_id", "customer_id", "breakdown", from_node=nxt.node, to_node=ibis.literal(END),
            minutes=ibis.null().cast("float64"))
        rows = rows.union(first).union(last)
    return rows


@dataclass
class TransitionsResult(AnalysisResult):
    """``frame``: from_node, to_node, transitions, customers, share_of_from, median_minutes."""

    def figure(self, kind: str = "graph") -> go.Figure:
        """The transition graph (nodes on a circle, arrows as wide as their share), or ``kind="matrix"``."""
        import math

        import plotly.graph_objects as go

        f = self.frame[~self.frame["from_node"].str.startswith("other")]
        if kind == "matrix":
            m = f.pivot_table(index="from_node", columns="to_node", values="transitions", aggfunc="sum", fill_value=0)
            fig = go.Figure(go.Heatmap(z=m.values, x=list(m.columns), y=list(m.index), colorscale="Blues",
                                       hovertemplate="%{y} → %{x}: %{z}<extra></extra>"))
            fig.update_layout(title="Transizioni / transitions (da → a)", xaxis_title="a / to", yaxis_title="da / from")
            return fig
        nodes = sorted(set(f["from_node"]) | set(f["to_node"]))
        pos = {n: (math.cos(2 * math.pi * i / max(len(nodes), 1)), math.sin(2 * math.pi * i / max(len(nodes), 1)))
               for i, n in enumerate(nodes)}
        top = float(f["transitions"].max()) if len(f) else 1.0
        fig = go.Figure()
        for r in f.itertuples():
            (x0, y0), (x1, y1) = pos[r.from_node], pos[r.to_node]
            fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                               arrowhead=2, arrowwidth=1 + 7 * float(r.transitions) / top, opacity=0.5,
                               hovertext=f"{r.from_node} → {r.to_node}: {r.transitions}")
        fig.add_scatter(x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], text=nodes,
                        mode="markers+text", textposition="top center", marker=dict(size=18))
        fig.update_layout(title="Grafo delle transizioni / transition graph", showlegend=False,
                          xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"))
        return fig


class TransitionsRunner(Runner[TransitionsQuery, TransitionsResult]):
    query_type = TransitionsQuery
    drill_by = ('from_node', 'to_node')  # frame columns that name a cell's customers (selectors)

    def _rows(self) -> ir.Table:
        q = self.query
        return transition_rows(journey_steps(self.engine, q, breakdown=q.breakdown), q.include_ends)

    def calculate(self) -> TransitionsResult:
        q = self.query
        rows = self._rows()
        # only what the aggregates read is written: fewer columns, a cheaper temporary table
        rows = self.engine.temp_table(rows.select("customer_id", "from_node", "to_node", "minutes",
                                                  *(["breakdown"] if q.breakdown else [])))
        try:
            return self._calculate(rows)
        finally:
            self.engine.drop_temp(rows)

    def _calculate(self, rows: ir.Table) -> TransitionsResult:
        import pandas as pd

        q = self.query
        keys = ["breakdown", "from_node", "to_node"] if q.breakdown else ["from_node", "to_node"]
        grouped = rows.group_by(keys).aggregate(
            transitions=rows.count(), customers=rows.customer_id.nunique(), median_minutes=rows.minutes.median())
        out_w = ibis.window(group_by=[grouped[k] for k in keys[:-1]])
        grouped = grouped.mutate(share_of_from=grouped.transitions / grouped.transitions.sum().over(out_w))
        # one row per pair: small, so the top rows and the pair count are read from it, not from the rows
        pairs = self.engine.temp_table(grouped)
        try:
            top = self.engine.execute(pairs.order_by([ibis.desc("transitions"), *keys]).limit(q.top))
            n_pairs = int(self.engine.execute(pairs.count()))
        finally:
            self.engine.drop_temp(pairs)
        totals = self._totals(rows, top, keys, rest=n_pairs > len(top))
        frame = top[[*keys, "transitions", "customers", "share_of_from", "median_minutes"]]
        if n_pairs > len(top):
            frame = pd.concat([frame, pd.DataFrame([{
                "from_node": f"other ({n_pairs - len(top)} coppie / pairs)", "to_node": "",
                "transitions": totals["transitions"] - int(top["transitions"].sum()),
                "customers": totals["other_customers"],
            }])], ignore_index=True)
        frame = frame.astype({"transitions": "Int64", "customers": "Int64"})
        return TransitionsResult(frame=frame, query=q, meta={
            "transitions": totals["transitions"], "customers": totals["customers"]})

    def _totals(self, rows: ir.Table, top: Any, keys: list[str], *, rest: bool) -> dict[str, int]:
        """Transitions and distinct customers overall and outside the shown pairs, in one pass."""
        metrics = {"transitions": rows.count(), "customers": rows.customer_id.nunique()}
        if rest:
            import pyarrow as pa

            shown = top[keys].copy()
            shown["_shown"] = True
            mem = ibis.memtable(pa.Table.from_pandas(shown, preserve_index=False))
            rows = rows.left_join(mem, [rows[k] == mem[k] for k in keys]).select(*rows.columns, "_shown")
            metrics = {"transitions": rows.count(), "customers": rows.customer_id.nunique(),
                       "other_customers": rows.customer_id.nunique(where=rows._shown.isnull())}
        got = self.engine.execute(rows.aggregate(**metrics)).iloc[0]
        return {k: int(v) for k, v in got.items()}

    def customers_expr(self, *, from_node: str | None = None, to_node: str | None = None, **selector: Any) -> ir.Table:
        if selector or (from_node is None and to_node is None):
            raise InputError("transitions drill-down takes from_node= and/or to_node=")
        rows = self._rows()
        if from_node is not None:
            rows = rows.filter(rows.from_node == from_node)
        if to_node is not None:
            rows = rows.filter(rows.to_node == to_node)
        return rows.select("customer_id").distinct()
