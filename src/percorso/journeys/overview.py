"""The overview a marketer opens first: customers, buyers online / in store / both, revenue,
conversion, the monthly trend, how fresh the data is and what was rejected.

Why a query of its own: the dashboard's first page, ``POST /v1/analyses/overview`` and the
Python API must agree, and every number on it must list its customers. The customer split is
the omnichannel analysis's own (:func:`percorso.journeys.omnichannel.customer_mix`, people with
touchpoints in scope, gross revenue of purchase orders), so the overview and the Omnichannel page
print the same figures. Months are local months of the project (``occurred_at_local``, ADR 0012).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.build.definitions import GROSS_REVENUE, WITH_TOUCHPOINTS, named
from percorso.errors import InputError, suggest

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

#: Drill-down groups of the headline figures (``customers(group=...)``).
GROUPS = ("with_touchpoints", "buyers", "online_only", "store_only", "omnichannel")


class OverviewQuery(AnalysisQuery):
    """The overview; it takes only the common controls (date range, segment)."""

    kind: ClassVar[str] = "overview"


@dataclass
class OverviewResult(AnalysisResult):
    """``frame``: per local month, customers with touchpoints, buyers, orders and gross revenue
    online and in store. ``totals``: one row of headline figures. ``freshness``: last event (local
    time), last build and last import (UTC). ``quarantine``: rejected rows per source and reason."""

    totals: pd.DataFrame | None = None
    freshness: pd.DataFrame | None = None
    quarantine: pd.DataFrame | None = None


def _month(ts: Any) -> Any:
    return ts.truncate("M").cast("date")


class OverviewRunner(Runner[OverviewQuery, OverviewResult]):
    query_type = OverviewQuery
    drill_by = ("period",)

    def calculate(self) -> OverviewResult:
        import pandas as pd

        from percorso.journeys.controls import scoped_touchpoints
        from percorso.journeys.omnichannel import _orders, customer_mix

        e, q = self.engine, self.query
        m = customer_mix(e, q)
        totals = e.execute(m.aggregate(
            with_touchpoints=m.count(), buyers=m.count(where=m.mix != "no_purchase"),
            online_only=m.count(where=m.mix == "online_only"), store_only=m.count(where=m.mix == "store_only"),
            omnichannel=m.count(where=m.mix == "omnichannel"), orders=m.orders.sum(), gross_revenue=m.revenue.sum()))
        totals["orders"] = totals["orders"].fillna(0).astype("int64")
        totals["gross_revenue"] = totals["gross_revenue"].fillna(0.0).astype(float)
        totals["buyer_rate"] = (totals["buyers"] / totals["with_touchpoints"]).where(totals["with_touchpoints"] > 0)
        t = scoped_touchpoints(e, q)
        active = t.group_by(period=_month(t.occurred_at_local)).aggregate(customers=t.customer_id.nunique())
        o = _orders(e, q)
        sold = o.group_by(period=_month(o.occurred_at_local)).aggregate(
            buyers=o.customer_id.nunique(), orders_online=o.count(where=o.online), orders_store=o.count(where=~o.online),
            revenue_online=o.revenue.sum(where=o.online), revenue_store=o.revenue.sum(where=~o.online))
        j = active.outer_join(sold, "period")
        frame = e.execute(j.select(period=ibis.coalesce(j.period, j.period_right), customers=j.customers.fill_null(0),
                                   buyers=j.buyers.fill_null(0), orders_online=j.orders_online.fill_null(0),
                                   orders_store=j.orders_store.fill_null(0),
                                   revenue_online=j.revenue_online.fill_null(0.0),
                                   revenue_store=j.revenue_store.fill_null(0.0)).order_by("period"))
        frame["period"] = pd.to_datetime(frame["period"]).dt.date
        return OverviewResult(frame=frame, query=q, totals=totals, freshness=self._freshness(),
                              quarantine=self._quarantine(),
                              meta={"definitions": named(revenue=GROSS_REVENUE, customers=WITH_TOUCHPOINTS)})

    def _freshness(self) -> pd.DataFrame:
        import pandas as pd

        e = self.engine
        tp = e.table("touchpoints")
        row = e.execute(tp.aggregate(touchpoints=tp.count(), first_event_at_local=tp.occurred_at_local.min(),
                                     last_event_at_local=tp.occurred_at_local.max())).iloc[0].to_dict()
        for table, col, key in (("builds", "finished_at", "last_build_at"), ("ingest_runs", "finished_at", "last_import_at")):
            row[key] = e.execute(e.table(table)[col].max().name("v").as_table())["v"].iloc[0] if e.has_table(table) else None
        return pd.DataFrame([row])

    def _quarantine(self) -> pd.DataFrame:
        import pandas as pd

        from percorso.demo.summary import quarantine_by_reason

        rows = quarantine_by_reason(self.engine)
        return pd.DataFrame(rows, columns=["source_name", "reason_code", "rows"])

    def customers_expr(self, *, group: str | None = None, period: Any = None, **selector: Any) -> ir.Table:
        from percorso.journeys.omnichannel import _orders, customer_mix

        if selector or (group is None and period is None):
            raise InputError("overview drill-down takes group= (" + ", ".join(GROUPS) + ") or period=YYYY-MM-01")
        if period is not None:  # the buyers of one local month
            from datetime import date

            day = period if isinstance(period, date) else date.fromisoformat(str(period)[:10])
            o = _orders(self.engine, self.query)
            return o.filter(_month(o.occurred_at_local) == day).select("customer_id").distinct()
        if group not in GROUPS:
            raise InputError(f"unknown group '{group}'; {suggest(str(group), GROUPS)}", code="selector_invalid")
        m = customer_mix(self.engine, self.query)
        if group == "buyers":
            m = m.filter(m.mix != "no_purchase")
        elif group != "with_touchpoints":
            m = m.filter(m.mix == group)
        return m.select("customer_id")
