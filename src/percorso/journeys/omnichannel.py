"""Omnichannel: how online and offline work together, customer by customer.

Why: the retailer's questions are "are customers who buy in both places worth more", "how
many touchpoints and channels before a first purchase", "how many store sales were
researched online first (ROPO), and the reverse", "which stores sell to web visitors".

Definitions (checked by the oracle tests):
- *mix* of a customer from their orders (returns excluded): ``online_only``, ``store_only``,
  ``omnichannel`` (both) or ``no_purchase``;
- *research online → buy in store*: a store order with an online touchpoint of the same
  customer (not a purchase) in the ``research_days`` before it; *store → online*: an online
  order with an offline touchpoint (not a purchase) in the days before it;
- *before first purchase*: touchpoints and distinct channels strictly before the customer's
  first order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.build.definitions import GROSS_REVENUE, WITH_TOUCHPOINTS, named
from percorso.build.orders import MIXES, purchase_mix
from percorso.errors import InputError, suggest
from percorso.journeys.controls import PURCHASE_TYPES, scoped_touchpoints

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

ROPO_DIRECTIONS = ("online_to_store", "store_to_online")


class OmnichannelQuery(AnalysisQuery):
    kind: ClassVar[str] = "omnichannel"
    research_days: int = Field(30, ge=1, le=365)


def _orders(engine: Any, q: OmnichannelQuery) -> ir.Table:
    """Orders (not returns) whose purchase touchpoint is in scope: the date range and segment
    apply to orders exactly as to touchpoints (every order has its touchpoint, ``event_id``)."""
    o = engine.table("orders")
    o = o.filter(~o.is_return & o.customer_id.notnull())
    t = scoped_touchpoints(engine, q).select("event_id")
    return o.semi_join(t, "event_id")


def customer_mix(engine: Any, q: OmnichannelQuery) -> ir.Table:
    """customer_id, mix, orders, revenue for every customer with touchpoints in scope (the mix
    is :func:`percorso.build.orders.purchase_mix`'s; ``no_purchase`` for the others)."""
    t = scoped_touchpoints(engine, q)
    people = t.select("customer_id").distinct()
    per = purchase_mix(_orders(engine, q))
    j = people.left_join(per, "customer_id").drop("customer_id_right")
    return j.select("customer_id", mix=j.mix.fill_null("no_purchase"), orders=j.orders.fill_null(0),
                    revenue=j.revenue.fill_null(0.0))


def ropo(engine: Any, q: OmnichannelQuery) -> ir.Table:
    """Each order with flags: online research before a store order, offline contact before an online one."""
    o = _orders(engine, q).select("customer_id", "order_id", "online", "store_id", "revenue", _at="occurred_at")
    t = scoped_touchpoints(engine, q)
    t = t.filter(~t.event_type.isin(PURCHASE_TYPES)).select("customer_id", _t_online="online", _t_at="occurred_at")
    span = ibis.interval(days=q.research_days)
    j = o.left_join(t, [o.customer_id == t.customer_id, t._t_at < o._at, t._t_at >= o._at - span,
                        t._t_online != o.online])
    flagged = j.group_by("customer_id", "order_id", "online", "store_id", "revenue", "_at").aggregate(
        cross=j._t_at.notnull().any())
    direction = flagged.online.ifelse("store_to_online", "online_to_store")
    return flagged.mutate(direction=direction)


@dataclass
class OmnichannelResult(AnalysisResult):
    """``frame``: per mix customers, orders, revenue, average receipt, frequency, revenue per customer.
    ``first_purchase``: distributions before a first purchase. ``ropo``: both directions.
    ``transitions``: online/offline switches between consecutive touchpoints. ``stores``: per store."""

    first_purchase: pd.DataFrame | None = None
    ropo: pd.DataFrame | None = None
    transitions: pd.DataFrame | None = None
    stores: pd.DataFrame | None = None

    def sections(self) -> dict[str, pd.DataFrame]:
        return {"prima del primo acquisto: clienti per numero / before the first purchase: customers by count":
                self.first_purchase_table(),
                "ricerca online → negozio e viceversa / ROPO": self.ropo,
                "passaggi online ↔ offline / channel switches": self.transitions,
                "negozi / stores": self.stores}

    def first_purchase_table(self, cap: int = 10) -> pd.DataFrame:
        """``first_purchase`` side by side: how many customers had 0, 1, … ``cap``+ touchpoints and
        distinct channels before their first order (the long tail folded into ``cap+``)."""
        import pandas as pd

        f = self.first_purchase
        if f is None or f.empty:
            return pd.DataFrame(columns=["count", "touchpoints", "channels"])
        label = f["value"].clip(upper=cap).map(lambda v: f"{cap}+" if v >= cap else str(int(v)))
        m = f.assign(count=label).pivot_table(index="count", columns="measure", values="customers",
                                              aggfunc="sum", fill_value=0)
        m = m.reindex(columns=["touchpoints", "channels"], fill_value=0).astype("int64")
        m = m.reindex(sorted(m.index, key=lambda x: int(x.rstrip("+"))))
        m.columns.name = None
        return m.reset_index()

    def figure(self) -> go.Figure:
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=2, subplot_titles=("ricavi per cliente / revenue per customer",
                                                            "acquisti con ricerca incrociata / cross-channel research"))
        f = self.frame[self.frame["mix"] != "no_purchase"]
        fig.add_bar(x=f["mix"], y=f["revenue_per_customer"], name="€ per cliente", row=1, col=1)
        if self.ropo is not None:
            fig.add_bar(x=self.ropo["direction"], y=self.ropo["share_of_orders"], name="quota ordini", row=1, col=2)
        fig.update_layout(title="Omnicanalità / omnichannel", showlegend=False)
        return fig


class OmnichannelRunner(Runner[OmnichannelQuery, OmnichannelResult]):
    query_type = OmnichannelQuery
    drill_by = ('mix',)  # frame columns that name a cell's customers (selectors)

    def calculate(self) -> OmnichannelResult:
        import pandas as pd

        q = self.query
        m = customer_mix(self.engine, q)
        f = self.engine.execute(m.group_by("mix").aggregate(customers=m.count(), orders=m.orders.sum(),
                                                            revenue=m.revenue.sum()))
        f = f.set_index("mix").reindex(list(MIXES), fill_value=0).reset_index()
        f["average_receipt"] = (f["revenue"] / f["orders"]).where(f["orders"] > 0)
        f["purchase_frequency"] = (f["orders"] / f["customers"]).where(f["customers"] > 0)
        f["revenue_per_customer"] = (f["revenue"] / f["customers"]).where(f["customers"] > 0)
        f["share_of_customers"] = f["customers"] / max(int(f["customers"].sum()), 1)
        r = ropo(self.engine, q)
        ro = self.engine.execute(r.group_by("direction").aggregate(
            orders=r.count(), with_cross_research=r.cross.sum().cast("int64"),
            customers=r.customer_id.nunique(where=r.cross)))
        # a direction without orders is counts of 0 (whole numbers: the left join made them 0,00 and
        # 30.199,00 on a clickstream with online orders only) and no share (0 of 0 is not 0 %)
        counts = ["orders", "with_cross_research", "customers"]
        ro = pd.DataFrame({"direction": ["online_to_store", "store_to_online"]}).merge(ro, how="left")
        ro[counts] = ro[counts].fillna(0).astype("int64")
        ro["share_of_orders"] = (ro["with_cross_research"] / ro["orders"]).where(ro["orders"] > 0)
        defs = named(revenue=GROSS_REVENUE, customers=WITH_TOUCHPOINTS)
        return OmnichannelResult(frame=f, query=q, meta={"definitions": defs},
                                 first_purchase=self._first_purchase(), ropo=ro,
                                 transitions=self._transitions(), stores=self._stores(r))

    def _first_purchase(self) -> pd.DataFrame:
        t = scoped_touchpoints(self.engine, self.query)
        o = _orders(self.engine, self.query)
        first = o.group_by("customer_id").aggregate(_first=o.occurred_at.min())
        before = t.select("customer_id", "channel", _at="occurred_at")  # predicates on the joined relation itself:
        j = first.left_join(before, [first.customer_id == before.customer_id, before._at < first._first])  # (segment)
        per = j.group_by(j.customer_id).aggregate(touchpoints=j._at.count(), channels=j.channel.nunique())
        a = self.engine.execute(per.group_by("touchpoints").aggregate(customers=per.count()))
        b = self.engine.execute(per.group_by("channels").aggregate(customers=per.count()))
        a = a.assign(measure="touchpoints", value=a["touchpoints"]).drop(columns="touchpoints")
        b = b.assign(measure="channels", value=b["channels"]).drop(columns="channels")
        import pandas as pd

        return pd.concat([b, a]).sort_values(["measure", "value"])[["measure", "value", "customers"]].reset_index(drop=True)

    def _transitions(self) -> pd.DataFrame:
        t = scoped_touchpoints(self.engine, self.query)
        w = ibis.window(group_by=t.customer_id, order_by=[t.occurred_at, t.event_id])
        n = t.mutate(_next_online=t.online.lead().over(w), _next_channel=t.channel.lead().over(w))
        n = n.filter(n._next_online.notnull() & (n._next_online != n.online))
        kind = n.online.ifelse("online → offline", "offline → online")
        agg = n.group_by(switch=kind, from_channel=n.channel, to_channel=n._next_channel).aggregate(
            transitions=n.count(), customers=n.customer_id.nunique())
        return self.engine.execute(agg.order_by([ibis.desc("transitions"), "from_channel", "to_channel"]).limit(30))

    def _stores(self, r: ir.Table) -> pd.DataFrame:
        m = customer_mix(self.engine, self.query)
        st = r.filter(~r.online & r.store_id.notnull())
        j = st.join(m.select("customer_id", "mix"), "customer_id")
        agg = j.group_by("store_id").aggregate(
            orders=j.count(), revenue=j.revenue.sum(), customers=j.customer_id.nunique(),
            omnichannel_customers=j.customer_id.nunique(where=j.mix == "omnichannel"),
            researched_online=j.cross.sum().cast("int64"),
            customers_researched_online=j.customer_id.nunique(where=j.cross))
        f = self.engine.execute(agg.order_by([ibis.desc("revenue"), "store_id"]))
        f["share_customers_also_online"] = f["omnichannel_customers"] / f["customers"]
        f["share_orders_researched_online"] = f["researched_online"] / f["orders"]
        f["share_customers_researched_online"] = f["customers_researched_online"] / f["customers"]
        return f

    def customers_expr(self, *, mix: str | None = None, ropo: str | None = None, store: str | None = None,
                       **selector: Any) -> ir.Table:
        if selector or (mix is None and ropo is None and store is None):
            raise InputError("omnichannel drill-down takes mix=, ropo=online_to_store|store_to_online or store=")
        # a misspelt value would list nobody, as if the cell were empty
        if mix is not None and mix not in MIXES:
            raise InputError(f"unknown mix '{mix}'; {suggest(mix, MIXES)}")
        if ropo is not None and ropo not in ROPO_DIRECTIONS:
            raise InputError(f"unknown ropo direction '{ropo}'; {suggest(ropo, ROPO_DIRECTIONS)}")
        if mix is not None:
            m = customer_mix(self.engine, self.query)
            return m.filter(m.mix == mix).select("customer_id")
        r = globals()["ropo"](self.engine, self.query)
        if ropo is not None:
            r = r.filter((r.direction == ropo) & r.cross)
        if store is not None:
            r = r.filter(~r.online & (r.store_id == store))
        return r.select("customer_id").distinct()
