"""Acquisition cohorts and retention, as a complete cohort × month table.

A customer's cohort is the month of their first purchase (``by="month"``) or the first
channel they were seen on (``by="channel"``, from ``customers.first_channel``). Period ``k``
is the k-th calendar month after the first purchase (0 = the month of acquisition).

Why a complete grid: a month in which nobody of a cohort bought is a retention of 0, not a
missing row, and cumulative revenue must carry over it. Why ``eligible``: a cohort by channel
mixes customers acquired in different months, and one acquired three months before the end
of the data cannot have bought in its month 12; dividing by everyone would bias late periods
down. So, for each cohort and period k (up to the last month of the data):

* ``eligible`` = cohort customers acquired at least k months before the last month of data
  (for a month cohort: all of it, ``cohort_size``);
* ``active`` = customers of the cohort who bought in their month k; ``retention`` =
  active / eligible; ``revenue`` = their purchase revenue in that month;
* ``cum_revenue_per_customer`` = the sum over months j = 0..k of ``revenue`` / ``eligible``
  at j: what a customer of the cohort has spent on average by month k (a life table: each
  month's spend per customer is measured on those who have lived that month). It never
  decreases. Dividing the revenue of months 0..k of the customers eligible at k by
  ``eligible`` at k did: the denominator changed with k, and the customers left in late
  periods (acquired early) spent less, so a "cumulative" figure fell (712 → 485 → 226 on the
  demo's channel cohorts).

Everything is computed in the engine at the granularity (cohort, acquisition month, period).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner, register_drill_check, require_value
from percorso.build.definitions import BUYERS, GROSS_REVENUE, named
from percorso.errors import InputError, suggest
from percorso.value.rfm import purchases

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

METRICS = ("retention", "cum_revenue_per_customer", "active", "revenue")


class CohortQuery(AnalysisQuery):
    """Retention and cumulative revenue per acquisition cohort (``segment``: only its members)."""

    kind: ClassVar[str] = "cohorts"
    by: Literal["month", "channel"] = "month"


def _month_index(ts: Any) -> Any:
    return ts.year() * 12 + ts.month() - 1


@dataclass
class CohortResult(AnalysisResult):
    def figure(self, metric: str = "retention") -> go.Figure:
        """Heatmap of one metric (``retention`` or ``cum_revenue_per_customer``, also
        ``active``, ``revenue``): cohorts down, months since acquisition across."""
        import plotly.express as px

        if metric not in METRICS:
            raise InputError(f"unknown cohort metric '{metric}'; {suggest(metric, METRICS)}")
        piv = self.frame.pivot(index="cohort", columns="period", values=metric)
        titles = {"retention": "Retention per cohort / retention per coorte",
                  "cum_revenue_per_customer": "Cumulative revenue per customer / ricavo cumulato per cliente",
                  "active": "Active customers / clienti attivi", "revenue": "Revenue / ricavi"}
        fmt = ".0%" if metric == "retention" else ".0f"
        return px.imshow(piv, text_auto=fmt, aspect="auto", color_continuous_scale="Blues",
                         labels={"x": "months since acquisition / mesi dall'acquisizione", "y": "cohort / coorte",
                                 "color": metric}, title=titles[metric])


class CohortRunner(Runner[CohortQuery, CohortResult]):
    query_type = CohortQuery
    drill_by = ('cohort', 'period')  # frame columns that name a cell's customers (selectors)

    def _activity(self) -> Table:
        """One row per purchase: customer, cohort, acquisition month index, period, revenue."""
        from percorso.value.segments.store import in_segment

        o = in_segment(self.engine, purchases(self.engine), self.query.segment, self.settings)
        o = o.mutate(mi=_month_index(o.occurred_at_local))  # months of the project's calendar
        first = o.group_by("customer_id").aggregate(first_mi=o.mi.min())
        if self.query.by == "month":
            first = first.mutate(cohort=(first.first_mi // 12).cast("string") + "-"
                                 + ((first.first_mi % 12) + 1).cast("string").lpad(2, "0"))
        else:
            c = self.engine.table("customers")
            first = first.left_join(c.select("customer_id", "first_channel"), "customer_id")
            first = first.mutate(cohort=first.first_channel.fill_null("Unassigned")).select(
                "customer_id", "first_mi", "cohort")
        j = o.join(first, "customer_id")
        return j.mutate(period=j.mi - j.first_mi)

    def calculate(self) -> CohortResult:
        a = self._activity()
        last_mi = int(self.engine.execute(a.mi.max()) or 0)
        sub = a.group_by(["cohort", "first_mi", "period"]).aggregate(
            active=a.customer_id.nunique(), revenue=a.revenue.sum())
        size = a.group_by(["cohort", "first_mi"]).aggregate(n=a.customer_id.nunique())
        start = size.group_by("cohort").aggregate(first=size.first_mi.min(), cohort_size=size.n.sum())
        span = int(self.engine.execute(last_mi - start.first.min()) or 0) if self.engine.execute(start.count()) else 0
        periods = ibis.memtable({"period": list(range(span + 1))})
        grid = start.cross_join(periods)
        grid = grid.filter(grid.period <= last_mi - grid.first)
        # eligible at k: acquired at least k months before the last month of data
        el = grid.join(size, [grid.cohort == size.cohort, size.first_mi <= last_mi - grid.period])
        el = el.group_by([grid.cohort, grid.period]).aggregate(eligible=el.n.sum())
        at = sub.group_by(["cohort", "period"]).aggregate(active=sub.active.sum(), revenue=sub.revenue.sum())
        t = grid.select("cohort", "period", "cohort_size")
        t = t.left_join(el, ["cohort", "period"]).select(t, el.eligible)
        t = t.left_join(at, ["cohort", "period"]).select(t, active=at.active.fill_null(0),
                                                         revenue=at.revenue.fill_null(0.0))
        t = t.mutate(retention=t.active / t.eligible, per_customer=t.revenue / t.eligible)
        t = t.mutate(cum_revenue_per_customer=t.per_customer.cumsum(group_by="cohort", order_by="period"))
        df = self.engine.execute(t.drop("per_customer").order_by(["cohort", "period"]))
        defs = named(revenue=GROSS_REVENUE, customers=BUYERS)  # cohorts of buyers, by first purchase
        return CohortResult(frame=df, query=self.query, meta={"last_month_index": last_mi, "definitions": defs})

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


def _check_drill(runner: CohortRunner, selector: dict[str, Any]) -> None:
    """A cohort no purchase falls in is a typo: say so (see ``register_drill_check``)."""
    if selector.get("cohort") is not None:
        require_value(runner.engine, runner._activity().cohort, selector["cohort"], what="cohort")


register_drill_check(("cohorts",), _check_drill)
