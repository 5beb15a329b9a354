"""Friction points: where journeys go worse than comparable journeys, loops, cross-channel chains.

Why: "where do customers get stuck" needs a comparison, not a count. For each node (and each
transition A → B) the conversion of journeys passing through it is compared with journeys of
the *same length* that do not (direct standardisation over length buckets, so long journeys,
which pass through everything and convert more, do not make every node look good). The gap,
times the journeys affected, is the conversions at stake; times the average order value, the
revenue at stake. Loops (the same node several times in a row: repeated checkout errors,
repeated calls) and cross-channel chains (three consecutive touchpoints switching between
online and offline within ``chain_days``, e.g. online order → call → store return) are listed
with their conversion and the customers affected.

A journey's steps are those before its first purchase (all of them when it never buys);
conversion = the journey has a purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisResult, Runner
from percorso.errors import InputError
from percorso.journeys.controls import JourneyQuery, journey_steps
from percorso.journeys.transitions import transition_rows

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

#: Journey length buckets (steps before the first purchase) for comparable journeys.
LENGTH_EDGES = (2, 5, 10)


class FrictionQuery(JourneyQuery):
    kind: ClassVar[str] = "friction"
    min_journeys: int = Field(20, ge=1)
    top: int = Field(20, ge=1, le=500)
    loop_min: int = Field(2, ge=2, le=20)
    chain_days: int = Field(30, ge=1, le=365)


def journey_outcomes(steps: ir.Table) -> tuple[ir.Table, ir.Table]:
    """(pre-purchase steps, per journey: converted, revenue, length bucket)."""
    first_buy = steps.filter(steps.is_purchase).group_by("journey_id").aggregate(_buy=steps.step.min())
    s = steps.left_join(first_buy, "journey_id").drop("journey_id_right")
    pre = s.filter(s._buy.isnull() | (s.step < s._buy)).drop("_buy")
    per = steps.group_by("journey_id").aggregate(
        customer_id=steps.customer_id.min(), converted=steps.is_purchase.any(),
        revenue=steps.revenue.sum(where=steps.is_purchase))
    length = pre.group_by("journey_id").aggregate(_n=pre.count())
    per = per.left_join(length, "journey_id").drop("journey_id_right")
    n = per._n.fill_null(0)
    bucket = ibis.cases(*((n <= edge, k) for k, edge in enumerate(LENGTH_EDGES)), else_=len(LENGTH_EDGES))
    return pre, per.mutate(bucket=bucket).drop("_n")


def standardised(items: ir.Table, per: ir.Table) -> ir.Table:
    """Per item (journeys containing it): rate with, rate without at the same length mix."""
    with_ = items.join(per, "journey_id").group_by("item", "bucket").aggregate(
        j=ibis._.journey_id.nunique(), c=ibis._.journey_id.nunique(where=ibis._.converted))
    tot = per.group_by("bucket").aggregate(tj=per.count(), tc=per.converted.sum().cast("int64"))
    x = with_.join(tot, "bucket")
    wo_j, wo_c = x.tj - x.j, x.tc - x.c
    rate_wo = (wo_j > 0).ifelse(wo_c / wo_j, ibis.null())
    return x.group_by("item").aggregate(
        journeys=x.j.sum().cast("int64"), converted=x.c.sum().cast("int64"),
        expected=(x.j * rate_wo).sum().cast("float64"),
        comparable=x.j.sum(where=rate_wo.notnull()).cast("int64"))


@dataclass
class FrictionResult(AnalysisResult):
    """``frame``: nodes and transitions ranked by conversions at stake; ``loops``; ``chains``."""

    loops: pd.DataFrame | None = None
    chains: pd.DataFrame | None = None

    def sections(self) -> dict[str, pd.DataFrame]:
        return {"cicli / loops": self.loops, "catene tra canali / cross-channel chains": self.chains}

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        f = self.frame.head(15).iloc[::-1]
        fig = go.Figure(go.Bar(x=f["conversions_at_stake"], y=f["kind"] + ": " + f["item"], orientation="h"))
        fig.update_layout(title="Punti di attrito: conversioni a rischio / friction: conversions at stake",
                          height=max(400, 30 * len(f)))
        return fig


class FrictionRunner(Runner[FrictionQuery, FrictionResult]):
    query_type = FrictionQuery

    def _base(self) -> tuple[ir.Table, ir.Table, ir.Table]:
        steps = journey_steps(self.engine, self.query)
        pre, per = journey_outcomes(steps)
        return steps, pre, per

    def _items(self, pre: ir.Table) -> ir.Table:
        nodes = pre.select("journey_id", "customer_id", item=pre.node, kind=ibis.literal("node"))
        tr = transition_rows(pre)
        pairs = tr.select("journey_id", "customer_id", item=tr.from_node + " → " + tr.to_node,
                          kind=ibis.literal("transition"))
        return nodes.union(pairs)

    def calculate(self) -> FrictionResult:
        q = self.query
        steps, pre, per = self._base()
        items = self._items(pre)
        kinds = items.select("item", "kind").distinct()
        st = standardised(items.select("journey_id", "item").distinct(), per).join(kinds, "item")
        st = st.filter(st.journeys >= q.min_journeys)
        frame = self.engine.execute(st)
        frame = frame.astype({"journeys": "int64", "converted": "int64", "expected": "float64",
                              "comparable": "float64"})
        totals = self.engine.execute(per.aggregate(orders=per.converted.sum().cast("int64"), revenue=per.revenue.sum())).iloc[0]
        aov = float(totals["revenue"] or 0.0) / int(totals["orders"]) if int(totals["orders"] or 0) else 0.0
        frame["rate_with"] = frame["converted"] / frame["journeys"]
        frame["rate_comparable"] = frame["expected"] / frame["comparable"]
        frame["lift"] = frame["rate_with"] - frame["rate_comparable"]
        frame["conversions_at_stake"] = (-frame["lift"]).clip(lower=0) * frame["journeys"]
        frame["revenue_at_stake"] = frame["conversions_at_stake"] * aov
        frame = frame.sort_values(["conversions_at_stake", "item"], ascending=[False, True]).head(q.top)
        frame = frame[["kind", "item", "journeys", "rate_with", "rate_comparable", "lift", "conversions_at_stake",
                       "revenue_at_stake"]].reset_index(drop=True)
        return FrictionResult(frame=frame, query=q, loops=self._loops(steps, per), chains=self._chains(steps, per),
                              meta={"average_order_value": aov})

    def _loop_rows(self, steps: ir.Table) -> ir.Table:
        w = ibis.window(group_by=steps.journey_id, order_by=steps.step)
        s = steps.mutate(_new=(steps.node.lag().over(w).isnull() | (steps.node.lag().over(w) != steps.node)).cast("int64"))
        s = s.mutate(_run=s._new.sum().over(ibis.window(group_by=s.journey_id, order_by=s.step, rows=(None, 0))))
        runs = s.group_by("journey_id", "customer_id", "node", "_run").aggregate(n=s.count())
        return runs.filter(runs.n >= self.query.loop_min).select("journey_id", "customer_id", loop="node").distinct()

    def _loops(self, steps: ir.Table, per: ir.Table) -> pd.DataFrame:
        loops = self._loop_rows(steps).join(per.select("journey_id", "converted"), "journey_id")
        agg = loops.group_by("loop").aggregate(journeys=loops.journey_id.nunique(), customers=loops.customer_id.nunique(),
                                               converted=loops.converted.sum().cast("int64"))
        f = self.engine.execute(agg.order_by([ibis.desc("journeys"), "loop"]).limit(self.query.top))
        overall = self.engine.execute(per.converted.mean())
        f["conversion_rate"] = f["converted"] / f["journeys"]
        f["conversion_rate_all"] = float(overall or 0.0)
        return f

    def _chain_rows(self, steps: ir.Table) -> ir.Table:
        w = ibis.window(group_by=steps.journey_id, order_by=steps.step)
        lab = steps.online.ifelse("online ", "offline ") + steps.event_type
        s = steps.mutate(_l0=lab, _l1=lab.lead(1).over(w), _l2=lab.lead(2).over(w),
                         _o1=steps.online.lead(1).over(w), _o2=steps.online.lead(2).over(w),
                         _t2=steps.occurred_at.lead(2).over(w))
        switch = (s.online != s._o1) | (s._o1 != s._o2)
        span = s._t2 <= s.occurred_at + ibis.interval(days=self.query.chain_days)
        s = s.filter(s._l2.notnull() & switch & span)
        return s.select("journey_id", "customer_id", chain=s._l0 + " → " + s._l1 + " → " + s._l2).distinct()

    def _chains(self, steps: ir.Table, per: ir.Table) -> pd.DataFrame:
        ch = self._chain_rows(steps).join(per.select("journey_id", "converted", "revenue"), "journey_id")
        agg = ch.group_by("chain").aggregate(customers=ch.customer_id.nunique(), journeys=ch.journey_id.nunique(),
                                             converted=ch.converted.sum().cast("int64"), revenue=ch.revenue.sum())
        f = self.engine.execute(agg.order_by([ibis.desc("customers"), "chain"]).limit(self.query.top))
        f["conversion_rate"] = f["converted"] / f["journeys"]
        return f

    def customers_expr(self, *, node: str | None = None, transition: str | None = None, loop: str | None = None,
                       chain: str | None = None, **selector: Any) -> ir.Table:
        steps, pre, _per = self._base()
        if loop is not None:
            rows = self._loop_rows(steps)
            return rows.filter(rows.loop == loop).select("customer_id").distinct()
        if chain is not None:
            rows = self._chain_rows(steps)
            return rows.filter(rows.chain == chain).select("customer_id").distinct()
        if selector or (node is None and transition is None):
            raise InputError("friction drill-down takes node=, transition='A → B', loop= or chain=")
        items = self._items(pre)
        return items.filter(items.item == (node if node is not None else transition)).select("customer_id").distinct()
