"""Mappa del percorso: stage × channel with friction cells, stage conversion, time in stage,
customers per current stage and the stage mix over time (:class:`JourneyMapQuery`)."""

from __future__ import annotations

from typing import Any

from percorso.journeys.journey_map import JourneyMapQuery, JourneyMapRunner
from percorso.web.pages import N_
from percorso.web.charts import chart, count_text, share_text, styled
from percorso.web.i18n import format_month, format_number
from percorso.web.tables import table_view
from percorso.web.words import say

MEASURES = ("purchase_share", "customers", "touchpoints", "median_days_to_next_stage")


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    measure = ctx.choice("measure", MEASURES, "purchase_share")
    period = ctx.choice("period", ("week", "month", "quarter"), "month")
    min_customers = ctx.integer("min_customers", 20, 1, 100_000)
    r = await ctx.run(JourneyMapQuery, period=period, min_customers=min_customers)
    out: dict[str, Any] = {"result": r, "measure": measure, "period": period, "min_customers": min_customers,
                           "measures": [(m, _(MEASURE_NAMES[m])) for m in MEASURES]}
    if r is None or r.frame.empty:
        return out
    q = r.query
    f = r.frame
    order = [s for s in r.order if s in set(f["stage"])]
    channels = list(f.groupby("channel")["customers"].sum().sort_values(ascending=False).index)
    cell = {(s, c): row for s, c, row in zip(f["stage"], f["channel"], f.to_dict(orient="records"))}
    z, text, links = [], [], []
    for s in order:
        zr, tr, lr = [], [], []
        for c in channels:
            row = cell.get((s, c))
            if row is None:
                zr.append(None), tr.append(""), lr.append(None)
                continue
            value = row[measure]
            zr.append(value)
            shown = _cell_text(value, measure, loc)
            tr.append(("⚠ " if row["friction"] else "") + shown)
            lr.append(ctx.drill_url(q, {"stage": s, "channel": c}))
        z.append(zr), text.append(tr), links.append(lr)
    scale = "RdYlGn" if measure == "purchase_share" else "Blues"
    fig = go.Figure(go.Heatmap(
        z=z, x=[say(c, _) for c in channels], y=[say(s, _) for s in order], text=text, texttemplate="%{text}",
        customdata=links, colorscale=scale, zmin=0 if measure == "purchase_share" else None,
        zmax=1 if measure == "purchase_share" else None, xgap=2, ygap=2,
        colorbar=dict(title=_(MEASURE_NAMES[measure]), tickformat=".0%" if measure == "purchase_share" else None),
        hovertemplate="%{y} × %{x}<br>%{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-35)
    heat = chart(styled(fig, loc, x_title=_("Channel"), y_title=_("Stage"), height=120 + 60 * len(order), legend=False),
                 ctx, title=_("Journey map: stage × channel (%(measure)s)") % {"measure": _(MEASURE_NAMES[measure])},
                 name="journey-map", query=q,
                 description=_("⚠ friction: customers pass here and buy less than half as often as the stage average "
                               "(at least %(n)s customers).") % {"n": min_customers})
    st = r.stages
    charts = [heat]
    if st is not None and len(st):
        names = [say(s, _) for s in st["stage"]]
        fig2 = go.Figure(go.Bar(x=names, y=st["conversion_to_later_stage"], marker_color="#4E79A7",
                                text=share_text(st["conversion_to_later_stage"], loc), textposition="outside",
                                customdata=[ctx.drill_url(q, {"stage": s}) for s in st["stage"]]))
        charts.append(chart(styled(fig2, loc, x_title=_("Stage"), y_title=_("Customers who reach a later stage"),
                                   percent="y", legend=False), ctx, title=_("Stage conversion"), name="stage-conversion",
                            query=q, table="stages"))
        days = st["median_days_in_stage"]
        fig3 = go.Figure(go.Bar(x=names, y=days, marker_color="#59A14F",
                                text=[format_number(d, "duration", loc, unit="days") for d in days],
                                textposition="outside"))
        charts.append(chart(styled(fig3, loc, x_title=_("Stage"), y_title=_("Median days in stage"), legend=False),
                            ctx, title=_("Time in stage (median)"), name="time-in-stage", query=q, table="stages"))
    if r.current is not None and len(r.current):
        cur = r.current
        fig4 = go.Figure(go.Bar(x=[say(s, _) for s in cur["current_stage"]], y=cur["customers"], marker_color="#B07AA1",
                                text=[f"{a} ({b})" for a, b in zip(count_text(cur["customers"], loc),
                                                                     share_text(cur["share"], loc))],
                                textposition="outside"))
        charts.append(chart(styled(fig4, loc, x_title=_("Current stage"), y_title=_("Customers"), legend=False), ctx,
                            title=_("Customers per current stage"), name="current-stage", query=q, table="current"))
    if r.over_time is not None and len(r.over_time):
        ot = r.over_time.tail(36)
        fig5 = go.Figure()
        for s in [c for c in ot.columns if c != "period"]:
            fig5.add_bar(x=[format_month(p, loc) if period != "week" else str(p)[:10] for p in ot["period"]],
                         y=ot[s], name=say(s, _))
        fig5.update_layout(barmode="stack")
        charts.append(chart(styled(fig5, loc, x_title=_("Period"), y_title=_("Customers")), ctx,
                            title=_("Stage mix over time (customers per stage and period)"), name="stage-mix",
                            query=q, table="over_time"))
    out.update({
        "charts": charts,
        "cells": table_view(f, loc, ctx=ctx, query=q, drill_by=JourneyMapRunner.drill_by, words=("stage", "channel"),
                            row_class="friction", columns=["stage", "channel", "customers", "touchpoints",
                                                           "purchase_share", "median_days_to_next_stage"]),
        "stages": table_view(st, loc, words=("stage",)) if st is not None else None,
        "cells_csv": ctx.export_url(q, "frame", "csv"), "cells_xlsx": ctx.export_url(q, "frame", "xlsx"),
        "frictions": int(f["friction"].sum()),
    })
    return out


MEASURE_NAMES = {"purchase_share": N_("share who buy afterwards"), "customers": N_("customers"),
                 "touchpoints": N_("touchpoints"), "median_days_to_next_stage": N_("median days to the next stage")}


def _cell_text(value: Any, measure: str, loc: str) -> str:
    if measure == "purchase_share":
        return format_number(value, "share", loc)
    if measure == "median_days_to_next_stage":
        return format_number(value, "duration", loc, unit="days")
    return format_number(value, "count", loc)
