"""Panoramica: customers, buyers online / in store / both, revenue, conversion, the monthly
trend, data freshness and quarantine alerts (:class:`percorso.journeys.overview.OverviewQuery`)."""

from __future__ import annotations

from typing import Any

from percorso.journeys.overview import OverviewQuery
from percorso.web.charts import chart, count_text, styled
from percorso.web.i18n import format_date, format_month, format_number
from percorso.web.palette import PLACE_COLOURS
from percorso.web.tables import table_view


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    r = await ctx.run(OverviewQuery)
    if r is None:
        return {"result": None}
    q = r.query
    t = r.totals.iloc[0].to_dict()

    def tile(key: str, label: str, kind: str = "count", group: str | None = None) -> dict[str, Any]:
        return {"label": label, "value": format_number(t[key], kind, loc),
                "href": ctx.drill_url(q, {"group": group}) if group else None}

    tiles = [
        tile("with_touchpoints", _("Customers with touchpoints"), group="with_touchpoints"),
        tile("buyers", _("Buyers"), group="buyers"),
        tile("online_only", _("Bought online only"), group="online_only"),
        tile("store_only", _("Bought in store only"), group="store_only"),
        tile("omnichannel", _("Bought online and in store"), group="omnichannel"),
        tile("buyer_rate", _("Conversion (buyers / customers)"), "share"),
        tile("orders", _("Orders")),
        tile("gross_revenue", _("Revenue (gross, before returns)"), "money"),
    ]
    f = r.frame
    charts = []
    if len(f):
        months = [format_month(d, loc) for d in f["period"]]
        fig = go.Figure()
        fig.add_bar(x=months, y=f["orders_online"], name=_("Orders online"), marker_color=PLACE_COLOURS["online"],
                    text=count_text(f["orders_online"], loc), textposition="inside")
        fig.add_bar(x=months, y=f["orders_store"], name=_("Orders in store"), marker_color=PLACE_COLOURS["store"],
                    text=count_text(f["orders_store"], loc), textposition="inside")
        fig.update_layout(barmode="stack")
        charts.append(chart(styled(fig, loc, x_title=_("Month"), y_title=_("Orders")), ctx, title=_("Orders per month, online and in store"),
                            name="orders-per-month", query=q))
        fig2 = go.Figure()
        fig2.add_scatter(x=months, y=f["customers"], name=_("Customers with touchpoints"), mode="lines+markers",
                         line_color="#4E79A7")
        fig2.add_scatter(x=months, y=f["buyers"], name=_("Buyers"), mode="lines+markers", line_color="#59A14F")
        charts.append(chart(styled(fig2, loc, x_title=_("Month"), y_title=_("Customers")), ctx,
                            title=_("Active customers and buyers per month"), name="customers-per-month", query=q))
    fresh = r.freshness.iloc[0].to_dict() if r.freshness is not None and len(r.freshness) else {}
    freshness = {
        "last_event": format_date(fresh.get("last_event_at_local"), loc, with_time=True),
        "first_event": format_date(fresh.get("first_event_at_local"), loc),
        "last_build": _utc_local(fresh.get("last_build_at"), ctx),
        "last_import": _utc_local(fresh.get("last_import_at"), ctx),
        "touchpoints": format_number(fresh.get("touchpoints", 0), "count", loc),
    }
    quarantined = int(r.quarantine["rows"].sum()) if r.quarantine is not None and len(r.quarantine) else 0
    return {
        "result": r, "tiles": tiles, "charts": charts, "freshness": freshness,
        "quarantined": format_number(quarantined, "count", loc), "has_quarantine": quarantined > 0,
        "quarantine": table_view(r.quarantine, loc, labels={"rows": _("Rows")}) if quarantined else None,
        "trend": table_view(f.iloc[::-1], loc, ctx=ctx, query=q, drill_by=("period",),
                            shown_as={"period": lambda v: format_month(v, loc)},
                            labels={"period": _("Month"), "customers": _("Customers with touchpoints"),
                                    "buyers": _("Buyers"), "orders_online": _("Orders online"),
                                    "orders_store": _("Orders in store"), "revenue_online": _("Revenue online"),
                                    "revenue_store": _("Revenue in store")}),
        "trend_csv": ctx.export_url(q, "frame", "csv"), "trend_xlsx": ctx.export_url(q, "frame", "xlsx"),
    }


def _utc_local(value: Any, ctx: Any) -> str:
    """A stored UTC time (a build, an import) in the project's time zone, in the reader's format."""
    from percorso.engine.localtime import local_value

    if value is None or value != value:
        return "—"
    zone = ctx.state.project.settings.project.time_zone
    return format_date(local_value(value, zone), ctx.locale, with_time=True)
