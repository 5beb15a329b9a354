"""RFM per customer, computed in the engine, and the BG/NBD calibration summary.

Why in the engine: RFM is a group-by over every order; only the per-segment aggregates (and,
for the CLV models, the grouped sufficient statistics) ever leave DuckDB.

Definitions (``as_of`` is the analysis date, default: the day after the last order):

* ``recency_days``: days from the customer's last purchase to ``as_of``;
* ``frequency``: number of purchase orders (returns excluded);
* ``monetary``: net revenue (purchases minus returns);
* ``tenure_days``: days from the first purchase to ``as_of``;
* ``online_orders`` / ``store_orders`` and the matching revenue: the channel split.

Days are local days of the project time zone (``orders.occurred_at_local``): a purchase at
00:30 in Rome on 1 October is a 1 October purchase, whatever its UTC date.

Scores 1–5 are rank quintiles with ties kept together: ``score = 1 + floor(5 * rank / n)``
where ``rank`` is the 0-based minimum rank (ascending frequency / monetary; descending
recency, so the most recent buyers score 5). They are computed without ranking anyone:
``score ≥ k`` ⟺ ``5·rank/n ≥ k−1`` ⟺ ``rank ≥ c_k`` with ``c_k = ceil((k−1)·n/5)``, and
``rank(v) ≥ c`` (at least ``c`` values strictly below ``v``) ⟺ ``v > y[c−1]``, the value at
0-based position ``c−1`` of the sorted column. So four exact order statistics per measure
(:func:`percorso.engine.dialect.order_statistics`, quantiles 0.2…0.8, positions ``c_k−1``)
and ``score = 1 + #{cut-offs strictly below v}``: tied customers compare alike with every
cut-off, so ties share a score. Recency is scored on ``−recency_days``. Selecting four
values is linear; the three window ranks it replaces sorted every customer three times.

``monetary`` treats a missing revenue as 0, so every buyer has a value to score.
Named segments, first rule that matches wins:

=====================  ====================================
Champions              R ≥ 4 and F ≥ 4 and M ≥ 4
Loyal                  R ≥ 3 and F ≥ 3
New                    R ≥ 4 and F = 1
Potential loyalists    R ≥ 3 (and F ≤ 2)
Can't lose them        R = 1 and F ≥ 4
At risk                R ≤ 2 and F ≥ 3
Hibernating            R = 2 (and F ≤ 2)
Lost                   R = 1 (and F ≤ 2)
=====================  ====================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.build.definitions import BUYERS, NET_REVENUE, named
from percorso.engine.dialect import order_statistics
from percorso.errors import InputError, suggest

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

    from percorso.engine import Engine

SEGMENTS = (
    "Champions", "Loyal", "New", "Potential loyalists",
    "Can't lose them", "At risk", "Hibernating", "Lost",
)


def purchases(engine: Engine, *, start: date | None = None, end: date | None = None) -> Table:
    """Purchase orders (no returns) of identified customers, optionally within [start, end]
    (local days of the project time zone, like every day here)."""
    o = engine.table("orders")
    o = o.filter(o.customer_id.notnull(), ~o.is_return.fill_null(False))
    if start is not None:
        o = o.filter(o.occurred_at_local.date() >= start)
    if end is not None:
        o = o.filter(o.occurred_at_local.date() <= end)
    return o


def purchase_days(engine: Engine, *, start: date | None = None, end: date | None = None) -> Table:
    """One row per customer and purchase day with the day's revenue.

    Several purchases on one day count as one transaction (Fader, Hardie & Lee 2005).
    """
    o = purchases(engine, start=start, end=end)
    o = o.mutate(day=o.occurred_at_local.date())
    return o.group_by(["customer_id", "day"]).aggregate(value=o.revenue.sum())


def summary_expr(engine: Engine, calibration_end: date, *, start: date | None = None) -> Table:
    """BG/NBD / Gamma-Gamma inputs per customer, in whole days.

    Columns: ``customer_id``, ``frequency`` (repeat purchase days), ``recency_days`` (first to
    last purchase day), ``T_days`` (first purchase day to ``calibration_end``), ``monetary``
    (mean value of the repeat purchase days; 0 when there are none), ``first_day``.
    """
    d = purchase_days(engine, start=start, end=calibration_end)
    # the first day's value via arg_min: an aggregate, much cheaper than a partitioned window
    g = d.group_by("customer_id").aggregate(
        n=d.day.count(),
        first_day=d.day.min(),
        last_day=d.day.max(),
        total=d.value.sum(),
        first_value=d.value.argmin(d.day),
    )
    g = g.mutate(repeat_value=g.total - g.first_value)
    end = ibis.literal(calibration_end)
    freq = (g.n - 1).cast("int64")
    return g.select(
        "customer_id",
        frequency=freq,
        recency_days=g.last_day.delta(g.first_day, unit="day").cast("int64"),
        T_days=end.delta(g.first_day, unit="day").cast("int64"),
        monetary=ibis.cases((freq > 0, g.repeat_value / freq), else_=0.0),
        first_day=g.first_day,
    )


QUINTILES = ("0.2", "0.4", "0.6", "0.8")


def _score(value: Any, cuts: Any) -> Any:
    """1 + the number of quintile cut-offs strictly below ``value`` (see the module doc)."""
    out = ibis.literal(1, type="int8")
    for i in range(len(QUINTILES)):
        out = out + (value > cuts[i]).cast("int8")
    return out


def rfm_expr(engine: Engine, as_of: date | None = None, *, start: date | None = None) -> Table:
    """Per-customer RFM with quintile scores and the named segment (see the module doc)."""
    o = engine.table("orders").filter(lambda t: t.customer_id.notnull())
    if start is not None:
        o = o.filter(o.occurred_at_local.date() >= start)
    if as_of is not None:
        o = o.filter(o.occurred_at_local.date() < as_of)
    ret = o.is_return.fill_null(False)
    online = o.online.fill_null(False)
    g = o.group_by("customer_id").aggregate(
        first_at=o.occurred_at.min(where=~ret),
        last_at=o.occurred_at.max(where=~ret),
        _first_day=o.occurred_at_local.min(where=~ret).date(),
        _last_day=o.occurred_at_local.max(where=~ret).date(),
        frequency=(~ret).cast("int64").sum(),
        monetary=o.revenue.sum().fill_null(0.0),
        online_orders=(online & ~ret).cast("int64").sum(),
        store_orders=(~online & ~ret).cast("int64").sum(),
        online_revenue=o.revenue.sum(where=online).fill_null(0.0),
        store_revenue=o.revenue.sum(where=~online).fill_null(0.0),
    )
    g = g.filter(g.frequency > 0)
    ref = ibis.literal(as_of) if as_of is not None else (g._last_day.max() + ibis.interval(days=1))
    g = g.mutate(
        recency_days=ref.delta(g._last_day, unit="day").cast("int64"),
        tenure_days=ref.delta(g._first_day, unit="day").cast("int64"),
    ).drop("_first_day", "_last_day")
    cuts = g.aggregate(
        r_cuts=order_statistics(-g.recency_days, QUINTILES),
        f_cuts=order_statistics(g.frequency, QUINTILES),
        m_cuts=order_statistics(g.monetary, QUINTILES),
    )
    g = g.cross_join(cuts)
    g = g.mutate(
        r_score=_score(-g.recency_days, g.r_cuts),
        f_score=_score(g.frequency, g.f_cuts),
        m_score=_score(g.monetary, g.m_cuts),
    ).drop("r_cuts", "f_cuts", "m_cuts")
    r, f, m = g.r_score, g.f_score, g.m_score
    seg = ibis.cases(
        ((r >= 4) & (f >= 4) & (m >= 4), "Champions"),
        ((r >= 3) & (f >= 3), "Loyal"),
        ((r >= 4) & (f == 1), "New"),
        (r >= 3, "Potential loyalists"),
        ((r == 1) & (f >= 4), "Can't lose them"),
        (f >= 3, "At risk"),
        (r == 2, "Hibernating"),
        else_="Lost",
    )
    return g.mutate(rfm_segment=seg, rfm_score=r.cast("string") + f.cast("string") + m.cast("string"))


class RFMQuery(AnalysisQuery):
    """RFM segments: counts and value per named segment."""

    kind: ClassVar[str] = "rfm"
    as_of: date | None = None


@dataclass
class RFMResult(AnalysisResult):
    def figure(self) -> go.Figure:
        import plotly.express as px

        return px.treemap(self.frame, path=["segment"], values="customers", color="avg_monetary",
                          title="RFM segments / segmenti RFM")


class RFMRunner(Runner[RFMQuery, RFMResult]):
    query_type = RFMQuery
    drill_by = ('segment',)  # frame columns that name a cell's customers (selectors)

    def _rfm(self) -> Table:
        start = self.query.date_from
        as_of = self.query.as_of
        if as_of is None and self.query.date_to is not None:
            dt = self.query.date_to
            as_of = (dt.date() if isinstance(dt, datetime) else dt) + timedelta(days=1)
        if isinstance(start, datetime):
            start = start.date()
        return rfm_expr(self.engine, as_of, start=start)

    def _scored(self) -> Table:
        """Scores against every buyer; the query's ``segment`` then keeps its members only
        (a Champion is a Champion of the whole base, not of the segment)."""
        from percorso.value.segments.store import in_segment

        return in_segment(self.engine, self._rfm(), self.query.segment, self.settings)

    def calculate(self) -> RFMResult:
        t = self._scored()
        agg = t.group_by(segment=t.rfm_segment).aggregate(
            customers=t.customer_id.count(),
            revenue=t.monetary.sum(),
            avg_monetary=t.monetary.mean(),
            avg_frequency=t.frequency.mean(),
            avg_recency_days=t.recency_days.mean(),
            online_orders=t.online_orders.sum(),
            store_orders=t.store_orders.sum(),
            online_revenue=t.online_revenue.sum(),
            store_revenue=t.store_revenue.sum(),
            online_share=t.online_orders.sum() / t.frequency.sum(),
        )
        df = self.engine.execute(agg)
        order = {s: i for i, s in enumerate(SEGMENTS)}
        df = df.sort_values("segment", key=lambda s: s.map(order)).reset_index(drop=True)
        total = df["customers"].sum()
        df.insert(2, "share", df["customers"] / total if total else 0.0)
        return RFMResult(frame=df, query=self.query, meta={
            "customers": int(total), "definitions": named(revenue=NET_REVENUE, customers=BUYERS)})

    def customers_expr(self, **selector: Any) -> Table:
        t = self._scored()
        seg = selector.pop("segment", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: segment")
        if seg is not None:
            if seg not in SEGMENTS:
                raise InputError(f"unknown RFM segment '{seg}'; {suggest(seg, SEGMENTS)}")
            t = t.filter(t.rfm_segment == seg)
        return t
