"""Acquisition cohorts and retention.

A customer's cohort is the month of their first purchase (``by="month"``) or the first
channel they were seen on (``by="channel"``, from ``customers.first_channel``). For each
cohort and month offset k ≥ 0 since acquisition: customers who bought in that month,
retention = that count / cohort size, revenue, and cumulative revenue per cohort customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.errors import InputError
from percorso.value.rfm import purchases

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table


class CohortQuery(AnalysisQuery):
    kind: ClassVar[str] = "cohorts"
    by: Literal["month", "channel"] = "month"


def _month_index(ts: Any) -> Any:
    return ts.year() * 12 + ts.month() - 1


@dataclass
class CohortResult(AnalysisResult):
    def figure(self) -> go.Figure:
        import plotly.express as px

        piv = self.frame.pivot(index="cohort", columns="period", values="retention")
        return px.imshow(piv, text_auto=".0%", aspect="auto", color_continuous_scale="Blues",
                         labels={"x": "months since acquisition / mesi", "y": "cohort / coorte"},
                         title="Retention per cohort / retention per coorte")


class CohortRunner(Runner[CohortQuery, CohortResult]):
    query_type = CohortQuery

    def _activity(self) -> Table:
        o = purchases(self.engine)
        o = o.mutate(mi=_month_index(o.occurred_at))
        first = o.group_by("customer_id").aggregate(first_mi=o.mi.min())
        if self.query.by == "month":
            first = first.mutate(cohort=(first.first_mi // 12).cast("string") + "-"
                                 + ((first.first_mi % 12) + 1).cast("string").lpad(2, "0"))
        else:
            c = self.engine.table("customers")
            first = first.join(c.select("customer_id", "first_channel"), "customer_id")
            first = first.mutate(cohort=first.first_channel.fill_null("Unassigned")).drop("first_channel")
        j = o.join(first, "customer_id")
        return j.mutate(period=j.mi - j.first_mi)

    def calculate(self) -> CohortResult:
        a = self._activity()
        size = a.group_by("cohort").aggregate(cohort_size=a.customer_id.nunique())
        per = a.group_by(["cohort", "period"]).aggregate(active=a.customer_id.nunique(), revenue=a.revenue.sum())
        per = per.join(size, "cohort")
        df = self.engine.execute(per.order_by(["cohort", "period"]))
        df["retention"] = df["active"] / df["cohort_size"]
        df["cum_revenue_per_customer"] = df.groupby("cohort")["revenue"].cumsum() / df["cohort_size"]
        return CohortResult(frame=df, query=self.query)

    def customers_expr(self, **selector: Any) -> Table:
        a = self._activity()
        cohort, period = selector.pop("cohort", None), selector.pop("period", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: cohort, period")
        if cohort is not None:
            a = a.filter(a.cohort == str(cohort))
        if period is not None:
            a = a.filter(a.period == int(period))
        return a.select("customer_id").distinct()
