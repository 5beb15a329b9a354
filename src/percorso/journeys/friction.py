"""Friction points: where journeys go worse than comparable journeys, loops, cross-channel chains.

Why: "where do customers get stuck" needs a comparison, not a count. For each node (and each
transition A → B) the conversion of journeys passing through it is compared with journeys of
the *same length* that do not (direct standardisation over length buckets, so long journeys,
which pass through everything and convert more, do not make every node look good). The gap,
times the journeys affected, is the conversions at stake; times the average order value, the
revenue at stake.

- A journey's steps for nodes and transitions are those before its first purchase (all of
  them when it never buys); conversion = the journey has a purchase.
- *Loops*: a node that occurs at least ``loop_min`` times in one journey (repeated checkout
  errors, repeated calls), anywhere in it; compared with the journeys without that loop.
- *Cross-channel chains*: the journey is cut into runs of touchpoints of the same channel and
  online flag; a chain is three consecutive runs (so each element is a different channel from
  the one before) that cover both online and offline within ``chain_days`` from the first to
  the third, labelled by each run's first touchpoint: ``online purchase → offline call →
  offline return``. Compared with the journeys without that chain.
- *The company's outbound actions* (:data:`percorso.events.types.OUTBOUND_EVENT_TYPES`: an
  e-mail sent, an ad impression, a flyer mailed, a delivery) are not steps the customer took:
  nodes, transitions, loops and chains are computed on the customer's own steps only (the
  journey length buckets too). Ranked with them, an e-mail sent to everyone who has not yet
  bought "converts worse" by construction and topped every friction table. They are reported
  apart (``outbound``: by event type, the same comparison) unless ``outbound=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisResult, Runner
from percorso.errors import InputError
from percorso.events.types import OUTBOUND_EVENT_TYPES
from percorso.journeys.controls import JourneyQuery, journey_steps, step_order
from percorso.journeys.transitions import transition_rows

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

#: Journey length buckets (steps before the first purchase) for comparable journeys.
LENGTH_EDGES = (2, 5, 10)


class FrictionQuery(JourneyQuery):
    """Friction points over the common journey controls.

    ``min_journeys``: support threshold (items, loops and chains seen in fewer journeys are
    left out); ``top``: rows per table; ``loop_min``: occurrences in one journey that make a
    loop; ``chain_days``: the longest span of a cross-channel chain; ``outbound``: also report
    the company's outbound actions (sends, impressions…) in a table of their own (they are
    never ranked with the customer's steps).
    """

    kind: ClassVar[str] = "friction"
    min_journeys: int = Field(20, ge=1)
    top: int = Field(20, ge=1, le=500)
    loop_min: int = Field(2, ge=2, le=20)
    chain_days: int = Field(30, ge=1, le=365)
    outbound: bool = True


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
    """Per (kind, item) with journeys containing it: journeys, converted, and the conversions
    *expected* had they converted like the journeys of the same length bucket without it
    (``comparable`` = the journeys in buckets where such journeys exist, ``converted_comparable``
    = their conversions)."""
    with_ = items.join(per, "journey_id").group_by("kind", "item", "bucket").aggregate(
        j=ibis._.journey_id.nunique(), c=ibis._.journey_id.nunique(where=ibis._.converted))
    tot = per.group_by("bucket").aggregate(tj=per.count(), tc=per.converted.sum().cast("int64"))
    x = with_.join(tot, "bucket")
    wo_j, wo_c = x.tj - x.j, x.tc - x.c
    rate_wo = (wo_j > 0).ifelse(wo_c / wo_j, ibis.null())
    return x.group_by("kind", "item").aggregate(
        journeys=x.j.sum().cast("int64"), converted=x.c.sum().cast("int64"),
        expected=(x.j * rate_wo).sum().cast("float64"),
        converted_comparable=x.c.sum(where=rate_wo.notnull()).cast("int64"),
        comparable=x.j.sum(where=rate_wo.notnull()).cast("int64"))


@dataclass
class FrictionResult(AnalysisResult):
    """``frame``: nodes and transitions ranked by conversions at stake; ``loops``; ``chains``.

    Every table has journeys, customers, conversion with and without, conversions at stake and
    revenue at stake; ``meta`` holds the journeys, their conversion rate and the average order value.
    """

    loops: pd.DataFrame | None = None
    chains: pd.DataFrame | None = None
    outbound: pd.DataFrame | None = None

    def sections(self) -> dict[str, pd.DataFrame]:
        """Secondary tables the CLI prints after the main one."""
        out = {"cicli / loops": self.loops, "catene tra canali / cross-channel chains": self.chains}
        if self.outbound is not None:
            out["azioni dell'azienda (invii, impression) / the company's outbound actions"] = self.outbound
        return out

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        f = self.frame.head(15).iloc[::-1]
        fig = go.Figure(go.Bar(x=f["conversions_at_stake"], y=f["kind"] + ": " + f["item"], orientation="h",
                               customdata=f[["journeys", "rate_with", "rate_without"]],
                               hovertemplate="%{y}<br>conversioni a rischio / at stake: %{x:.1f}<br>percorsi / "
                               "journeys: %{customdata[0]}<br>con / with: %{customdata[1]:.1%} · senza / without: "
                               "%{customdata[2]:.1%}<extra></extra>"))
        fig.update_layout(title="Punti di attrito: conversioni a rischio / friction: conversions at stake",
                          xaxis_title="conversioni a rischio / conversions at stake", height=max(400, 30 * len(f)))
        return fig


def _at_stake(f: pd.DataFrame, journeys: int, converted: int, aov: float) -> pd.DataFrame:
    """Add rate, rate of the other journeys and what is at stake to a loops/chains table."""
    f = f.astype({"journeys": "int64", "customers": "int64", "converted": "int64"})
    f["rate_with"] = f["converted"] / f["journeys"]
    others = journeys - f["journeys"]
    f["rate_without"] = ((converted - f["converted"]) / others.where(others > 0)).astype("float64")
    f["conversions_at_stake"] = ((f["rate_without"] - f["rate_with"]).clip(lower=0) * f["journeys"]).fillna(0.0)
    f["revenue_at_stake"] = f["conversions_at_stake"] * aov
    return f


class FrictionRunner(Runner[FrictionQuery, FrictionResult]):
    query_type = FrictionQuery

    def _items(self, pre: ir.Table) -> ir.Table:
        nodes = pre.select("journey_id", "customer_id", item=pre.node, kind=ibis.literal("node"))
        tr = transition_rows(pre)
        pairs = tr.select("journey_id", "customer_id", item=tr.from_node + " → " + tr.to_node,
                          kind=ibis.literal("transition"))
        return nodes.union(pairs)

    def calculate(self) -> FrictionResult:
        steps = self.engine.temp_table(journey_steps(self.engine, self.query, drop_types=OUTBOUND_EVENT_TYPES))
        pre, per = journey_outcomes(steps)
        per = self.engine.temp_table(per)
        try:
            return self._calculate(steps, pre, per)
        finally:
            self.engine.drop_temp(per)
            self.engine.drop_temp(steps)

    def _outbound_items(self, steps: ir.Table) -> ir.Table:
        """journey_id, customer_id, kind "outbound", item (event type): outbound actions before the
        journey's first purchase (all of them when it never buys), in journeys with an own step
        (those are the journeys compared)."""
        t = journey_steps(self.engine, self.query)
        t = t.filter(t.event_type.isin(OUTBOUND_EVENT_TYPES)).semi_join(steps.select("journey_id"), "journey_id")
        buy = steps.filter(steps.is_purchase).group_by("journey_id").aggregate(_buy=steps.occurred_at.min())
        t = t.left_join(buy, "journey_id").drop("journey_id_right")
        t = t.filter(t._buy.isnull() | (t.occurred_at < t._buy))
        return t.select("journey_id", "customer_id", item=t.event_type, kind=ibis.literal("outbound"))

    def _ranked(self, items: ir.Table, per: ir.Table, aov: float) -> pd.DataFrame:
        """Items (kind, item per journey) compared with same-length journeys without them, ranked by
        conversions at stake."""
        q = self.query
        st = standardised(items.select("journey_id", "kind", "item").distinct(), per)
        who = items.group_by("kind", "item").aggregate(customers=items.customer_id.nunique())
        st = st.filter(st.journeys >= q.min_journeys).join(who, ["kind", "item"])
        frame = self.engine.execute(st).astype({"journeys": "int64", "customers": "int64", "converted": "int64",
                                                "expected": "float64", "comparable": "float64"})
        frame["rate_with"] = frame["converted"] / frame["journeys"]
        frame["rate_without"] = frame["expected"] / frame["comparable"].where(frame["comparable"] > 0)
        frame["lift"] = frame["rate_with"] - frame["rate_without"]
        # conversions the comparable journeys through the item would have had at the rate of
        # same-length journeys without it, minus those they had
        gap = frame["expected"] - frame["converted_comparable"].astype("float64")
        frame["conversions_at_stake"] = gap.where(frame["comparable"] > 0, 0.0).clip(lower=0)
        frame["revenue_at_stake"] = frame["conversions_at_stake"] * aov
        frame = frame.sort_values(["conversions_at_stake", "journeys", "kind", "item"],
                                  ascending=[False, False, True, True]).head(q.top)
        return frame[["kind", "item", "journeys", "customers", "converted", "rate_with", "rate_without", "lift",
                      "conversions_at_stake", "revenue_at_stake"]].reset_index(drop=True)

    def _calculate(self, steps: ir.Table, pre: ir.Table, per: ir.Table) -> FrictionResult:
        q = self.query
        buys = steps.filter(steps.is_purchase & steps.revenue.notnull())
        tot = self.engine.execute(per.aggregate(journeys=per.count(), converted=per.converted.sum().cast("int64"))).iloc[0]
        money = self.engine.execute(buys.aggregate(orders=buys.count(), revenue=buys.revenue.sum())).iloc[0]
        n_j, n_c = int(tot["journeys"]), int(tot["converted"] or 0)
        aov = float(money["revenue"]) / int(money["orders"]) if int(money["orders"]) else 0.0

        frame = self._ranked(self._items(pre), per, aov)
        outbound = self._ranked(self._outbound_items(steps), per, aov).drop(columns="kind") if q.outbound else None
        loops = self._summary(self._loop_rows(steps).rename(name="loop"), per, "name", n_j, n_c, aov)
        chains = self._summary(self._chain_rows(steps).rename(name="chain"), per, "name", n_j, n_c, aov,
                               by_customers=True)
        return FrictionResult(frame=frame, query=q, loops=loops.rename(columns={"name": "loop"}),
                              chains=chains.rename(columns={"name": "chain"}),
                              outbound=None if outbound is None else outbound.rename(columns={"item": "action"}),
                              meta={"journeys": n_j, "conversion_rate": n_c / n_j if n_j else 0.0,
                                    "average_order_value": aov, "outbound_types": list(OUTBOUND_EVENT_TYPES)})

    def _summary(self, rows: ir.Table, per: ir.Table, key: str, n_j: int, n_c: int, aov: float, *,
                 by_customers: bool = False) -> pd.DataFrame:
        """Journeys, customers, conversions and revenue per loop/chain, with what is at stake."""
        j = rows.join(per.select("journey_id", "converted", "revenue"), "journey_id")
        agg = j.group_by(key).aggregate(journeys=j.journey_id.nunique(), customers=j.customer_id.nunique(),
                                        converted=j.converted.sum().cast("int64"), revenue=j.revenue.sum())
        agg = agg.filter(agg.journeys >= self.query.min_journeys)
        if by_customers:  # chains: the most travelled first, as the marketer asked
            f = self.engine.execute(agg.order_by([ibis.desc("customers"), key]).limit(self.query.top))
            f = _at_stake(f, n_j, n_c, aov)
        else:
            f = _at_stake(self.engine.execute(agg), n_j, n_c, aov)
            f = f.sort_values(["conversions_at_stake", "journeys", key], ascending=[False, False, True]).head(self.query.top)
        f["revenue"] = f["revenue"].astype("float64").fillna(0.0)
        return f[[key, "journeys", "customers", "converted", "rate_with", "rate_without", "conversions_at_stake",
                  "revenue_at_stake", "revenue"]].reset_index(drop=True)

    def _loop_rows(self, steps: ir.Table) -> ir.Table:
        """journey_id, customer_id, loop: nodes seen at least ``loop_min`` times in the journey."""
        counts = steps.group_by("journey_id", "customer_id", "node").aggregate(_n=steps.count())
        return counts.filter(counts._n >= self.query.loop_min).select("journey_id", "customer_id", loop=counts.node)

    def _chain_rows(self, steps: ir.Table) -> ir.Table:
        """journey_id, customer_id, chain: three consecutive channel runs spanning online and offline."""
        online = steps.online.fill_null(False)
        key = steps.channel.fill_null("(none)") + online.ifelse("|on", "|off")
        s = steps.mutate(_on=online, _k=key)
        w = ibis.window(group_by=s.journey_id, order_by=step_order(s))
        s = s.mutate(_prev=s._k.lag().over(w))
        runs = s.filter(s._prev.isnull() | (s._prev != s._k))  # the first touchpoint of each run
        w = ibis.window(group_by=runs.journey_id, order_by=step_order(runs))
        lab = runs._on.ifelse("online ", "offline ") + runs.event_type.fill_null("(none)")
        r = runs.mutate(_l0=lab, _l1=lab.lead(1).over(w), _l2=lab.lead(2).over(w), _o1=runs._on.lead(1).over(w),
                        _o2=runs._on.lead(2).over(w), _t2=runs.occurred_at.lead(2).over(w))
        both = (r._on != r._o1) | (r._o1 != r._o2)
        span = r._t2 <= r.occurred_at + ibis.interval(days=self.query.chain_days)
        r = r.filter(r._l2.notnull() & both & span)
        return r.select("journey_id", "customer_id", chain=r._l0 + " → " + r._l1 + " → " + r._l2).distinct()

    def customers_expr(self, *, node: str | None = None, transition: str | None = None, loop: str | None = None,
                       chain: str | None = None, outbound: str | None = None, **selector: Any) -> ir.Table:
        given = [k for k, v in {"node": node, "transition": transition, "loop": loop, "chain": chain,
                                "outbound": outbound}.items() if v is not None]
        if selector or len(given) != 1:
            raise InputError("friction drill-down takes one of node=, transition='A → B', loop=, chain= or "
                             f"outbound=email_sent (got {', '.join([*given, *selector]) or 'none'})")
        steps = journey_steps(self.engine, self.query, drop_types=OUTBOUND_EVENT_TYPES)
        if outbound is not None:
            rows = self._outbound_items(steps)
            return rows.filter(rows.item == outbound).select("customer_id").distinct()
        if loop is not None:
            rows = self._loop_rows(steps)
            return rows.filter(rows.loop == loop).select("customer_id").distinct()
        if chain is not None:
            rows = self._chain_rows(steps)
            return rows.filter(rows.chain == chain).select("customer_id").distinct()
        pre, _per = journey_outcomes(steps)
        items = self._items(pre)
        kind, item = ("node", node) if node is not None else ("transition", transition)
        return items.filter((items.kind == kind) & (items.item == item)).select("customer_id").distinct()
