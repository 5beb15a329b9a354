"""The customer journey map, built from data: stage × channel, with conversion and friction.

Why: the journey map of the marketing literature is drawn in workshops; here it is computed.
Each cell (stage, channel) says how many touchpoints and customers it has, which share of
those customers goes on to purchase afterwards, and how long they take to reach a later
stage. A cell is marked as *friction* when its purchase share is below half its stage's
average while holding at least ``min_customers`` customers, in a stage before the purchase:
customers pass there and do not move on. Stage-to-stage conversion, time in stage and the stage mix over time complete it.

Definitions (checked by the oracle tests):
- a customer *enters* a cell at their first touchpoint in it;
- *goes on to purchase*: a purchase or receipt strictly after that entry;
- *next stage*: the customer's first touchpoint after the entry whose stage comes later in
  the stage order; ``median_days_to_next_stage`` is over the customers who got there;
- *stage conversion*: customers with a touchpoint in stage *i* who later have one in any later
  stage; *time in stage*: days from the first touchpoint in the stage to that later one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.engine.dialect import epoch_seconds
from percorso.errors import InputError
from percorso.journeys.controls import PURCHASE_TYPES, scoped_touchpoints
from percorso.journeys.stages import stage_rank, stage_settings

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

FRICTION_RATIO = 0.5
#: Label of customers none of whose touchpoints matched a stage rule.
NO_STAGE = "(nessuna / none)"
#: Periods of the stage mix printed in table mode (the frame keeps them all).
TABLE_PERIODS = 24


class JourneyMapQuery(AnalysisQuery):
    kind: ClassVar[str] = "journey_map"
    min_customers: int = Field(20, ge=1)
    period: Literal["week", "month", "quarter"] = "month"


def _entries(engine: Any, q: JourneyMapQuery, order: tuple[str, ...]) -> tuple[ir.Table, ir.Table]:
    """(touchpoints with stage rank, per customer × stage × channel entry with outcomes)."""
    t = scoped_touchpoints(engine, q)
    t = t.filter(t.stage.notnull()).mutate(rank=stage_rank(t.stage, order))
    t = t.filter(t.rank.notnull())
    entry = t.group_by("customer_id", "stage", "channel", "rank").aggregate(
        touchpoints=t.count(), entered_at=t.occurred_at.min())
    purchases = engine.table("touchpoints")
    purchases = purchases.filter(purchases.event_type.isin(PURCHASE_TYPES)).select(
        "customer_id", _bought_at=purchases.occurred_at)
    j = entry.left_join(purchases, [entry.customer_id == purchases.customer_id,
                                    purchases._bought_at > entry.entered_at])
    bought = j.group_by("customer_id", "stage", "channel").aggregate(purchased=j._bought_at.notnull().any())
    later = t.select("customer_id", _r=t.rank, _at=t.occurred_at)
    k = entry.left_join(later, [entry.customer_id == later.customer_id, later._r > entry.rank,
                                later._at > entry.entered_at])
    nxt = k.group_by("customer_id", "stage", "channel").aggregate(next_at=k._at.min())
    cells = entry.join(bought, ["customer_id", "stage", "channel"]).join(nxt, ["customer_id", "stage", "channel"])
    return t, cells


@dataclass
class JourneyMapResult(AnalysisResult):
    """``frame``: stage, channel, touchpoints, customers, purchase_share, median_days_to_next_stage,
    friction. ``stages``: per stage conversion and time in stage. ``over_time``: period × stage.
    ``current``: customers per current stage."""

    stages: pd.DataFrame | None = None
    over_time: pd.DataFrame | None = None
    current: pd.DataFrame | None = None
    order: tuple[str, ...] = ()

    def sections(self) -> dict[str, pd.DataFrame]:
        recent = self.over_time.tail(TABLE_PERIODS) if self.over_time is not None else None
        return {"conversione tra fasi e tempo in fase / stage conversion and time in stage": self.stages,
                "clienti per fase attuale / customers per current stage": self.current,
                f"mix delle fasi nel tempo (ultimi {TABLE_PERIODS} periodi; tutti: --long --format csv) / "
                f"stage mix over time (last {TABLE_PERIODS} periods)": recent}

    def pivot(self, value: str = "customers") -> pd.DataFrame:
        """The stage × channel matrix of one measure (rows in stage order)."""
        m = self.frame.pivot_table(index="stage", columns="channel", values=value, aggfunc="sum")
        m = m.reindex([s for s in self.order if s in m.index])
        m.columns.name = None
        # a count is 0 where a stage has no touchpoints in a channel; a share or a time stays empty
        return m.fillna(0).astype("int64") if value in ("customers", "touchpoints") else m

    def figure(self) -> go.Figure:
        import pandas as pd
        import plotly.graph_objects as go

        share = self.pivot("purchase_share")
        customers = self.pivot("customers").reindex_like(share).fillna(0)
        friction = self.frame.set_index(["stage", "channel"])["friction"]

        def label(s: str, c: str) -> str:
            n, z = int(customers.loc[s, c]), share.loc[s, c]
            mark = "⚠ " if friction.get((s, c), False) else ""
            return "" if n == 0 or pd.isna(z) else f"{mark}{n}<br>{z:.0%}"

        text = [[label(s, c) for c in share.columns] for s in share.index]
        fig = go.Figure(go.Heatmap(z=share.values, x=list(share.columns), y=list(share.index), text=text,
                                   texttemplate="%{text}", colorscale="RdYlGn", zmin=0, zmax=1,
                                   colorbar=dict(title="acquista dopo / buys after"),
                                   hovertemplate="%{y} × %{x}<br>clienti / customers, quota che acquista / "
                                                 "share who buy: %{text}<extra></extra>"))
        fig.update_layout(title="Mappa del percorso: fase × canale (clienti; ⚠ attrito) / journey map",
                          yaxis=dict(autorange="reversed"))
        return fig


class JourneyMapRunner(Runner[JourneyMapQuery, JourneyMapResult]):
    query_type = JourneyMapQuery
    drill_by = ('stage', 'channel')  # frame columns that name a cell's customers (selectors)

    def _order(self) -> tuple[str, ...]:
        raw = getattr(self.settings, "stages", None) if self.settings is not None else None
        return stage_settings(raw).order

    def calculate(self) -> JourneyMapResult:
        q = self.query
        order = self._order()
        t, cells = _entries(self.engine, q, order)
        days = (epoch_seconds(cells.next_at) - epoch_seconds(cells.entered_at)) / 86400.0
        agg = cells.group_by("stage", "channel", "rank").aggregate(
            touchpoints=cells.touchpoints.sum(), customers=cells.count(),
            purchasers=cells.purchased.sum().cast("int64"), median_days_to_next_stage=days.median())
        frame = self.engine.execute(agg.order_by(["rank", ibis.desc("customers"), "channel"]))
        frame["purchase_share"] = frame["purchasers"] / frame["customers"]
        stage_avg = frame.groupby("stage")["purchasers"].transform("sum") / frame.groupby("stage")["customers"].transform("sum")
        # friction is about not moving on towards a purchase: only stages before the purchase stage
        before = order[: order.index("purchase")] if "purchase" in order else order
        frame["friction"] = ((frame["purchase_share"] < FRICTION_RATIO * stage_avg)
                             & (frame["customers"] >= q.min_customers) & frame["stage"].isin(before))
        frame = frame.drop(columns=["rank"])[["stage", "channel", "touchpoints", "customers", "purchase_share",
                                                 "median_days_to_next_stage", "friction"]]
        return JourneyMapResult(frame=frame, query=q, stages=self._stages(t, order), over_time=self._over_time(t, order),
                                current=self._current(order), order=order)

    def _stages(self, t: ir.Table, order: tuple[str, ...]) -> pd.DataFrame:
        first = t.group_by("customer_id", "stage", "rank").aggregate(first_at=t.occurred_at.min())
        later = t.select("customer_id", _r=t.rank, _at=t.occurred_at)
        j = first.left_join(later, [first.customer_id == later.customer_id, later._r > first.rank,
                                    later._at > first.first_at])
        per = j.group_by("customer_id", "stage", "rank", "first_at").aggregate(next_at=j._at.min())
        days = (epoch_seconds(per.next_at) - epoch_seconds(per.first_at)) / 86400.0
        agg = per.group_by("stage", "rank").aggregate(
            customers=per.count(), moved_on=per.next_at.notnull().sum().cast("int64"), median_days_in_stage=days.median())
        f = self.engine.execute(agg.order_by("rank")).drop(columns=["rank"])
        f["conversion_to_later_stage"] = f["moved_on"] / f["customers"]
        return f[["stage", "customers", "moved_on", "conversion_to_later_stage", "median_days_in_stage"]]

    def _over_time(self, t: ir.Table, order: tuple[str, ...]) -> pd.DataFrame:
        import pandas as pd

        # weeks, months and quarters of the project's calendar (local time, see engine/localtime.py)
        unit = {"week": "W", "month": "M", "quarter": "Q"}[self.query.period]
        period = t.occurred_at_local.truncate(unit).date()
        agg = t.group_by(period=period, stage=t.stage).aggregate(touchpoints=t.count())
        f = self.engine.execute(agg)
        m = f.pivot_table(index="period", columns="stage", values="touchpoints", fill_value=0, aggfunc="sum")
        m = m.reindex(columns=[s for s in order if s in m.columns]).astype("int64")
        m.columns.name = None
        m = m.reset_index()
        m["period"] = pd.to_datetime(m["period"]).dt.date  # a period is a day, not a time
        return m

    def _current(self, order: tuple[str, ...]) -> pd.DataFrame:
        """Customers per current stage (the stage of their latest staged touchpoint, as built),
        for the customers with touchpoints in the query's scope; rows in stage order."""
        c = self.engine.table("customers")
        if "current_stage" not in c.columns:
            return self.engine.execute(c.aggregate(customers=c.count()))
        scoped = scoped_touchpoints(self.engine, self.query).select("customer_id").distinct()
        c = c.semi_join(scoped, "customer_id")
        f = self.engine.execute(c.group_by("current_stage").aggregate(customers=c.count()))
        rank = {s: i for i, s in enumerate(order)}
        f = f.assign(_r=f["current_stage"].map(lambda s: rank.get(s, len(order)) if isinstance(s, str) else len(order) + 1))
        f["current_stage"] = f["current_stage"].where(f["current_stage"].notna(), NO_STAGE)
        f["share"] = f["customers"] / max(int(f["customers"].sum()), 1)
        return f.sort_values(["_r", "current_stage"]).drop(columns="_r").reset_index(drop=True)

    def customers_expr(self, *, stage: str | None = None, channel: str | None = None, **selector: Any) -> ir.Table:
        if selector or stage is None:
            raise InputError("journey-map drill-down takes stage= and optionally channel=")
        _t, cells = _entries(self.engine, self.query, self._order())
        cells = cells.filter(cells.stage == stage)
        if channel is not None:
            cells = cells.filter(cells.channel == channel)
        return cells.select("customer_id").distinct()
