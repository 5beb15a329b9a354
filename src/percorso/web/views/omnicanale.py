"""Omnicanale: customers who buy online, in store or both and what they are worth; research
online and buy in store (ROPO) and the reverse; switches between online and offline; stores
(:class:`OmnichannelQuery`)."""

from __future__ import annotations

from typing import Any

from percorso.journeys.omnichannel import OmnichannelQuery, OmnichannelRunner
from percorso.web.charts import chart, count_text, money_text, share_text, styled
from percorso.web.palette import PLACE_COLOURS
from percorso.web.tables import table_view
from percorso.web.words import say

MIX_COLOURS = {"online_only": PLACE_COLOURS["online"], "store_only": PLACE_COLOURS["store"],
               "omnichannel": PLACE_COLOURS["both"], "no_purchase": "#BAB0AC"}


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    days = ctx.integer("research_days", 30, 1, 365)
    r = await ctx.run(OmnichannelQuery, research_days=days)
    out: dict[str, Any] = {"result": r, "research_days": days, "charts": [], "sections": []}
    if r is None:
        return out
    q = r.query
    f = r.frame
    buyers = f[f["mix"] != "no_purchase"]
    names = [say(m, _) for m in buyers["mix"]]
    links = [ctx.drill_url(q, {"mix": m}) for m in buyers["mix"]]
    colours = [MIX_COLOURS.get(m, "#888") for m in buyers["mix"]]
    fig = go.Figure(go.Bar(x=names, y=buyers["customers"], marker_color=colours, customdata=links,
                           text=count_text(buyers["customers"], loc), textposition="outside"))
    out["charts"].append(chart(styled(fig, loc, x_title=_("Where they buy"), y_title=_("Buyers"), legend=False), ctx,
                               title=_("Buyers online, in store and both"), name="omnichannel-mix", query=q))
    fig2 = go.Figure(go.Bar(x=names, y=buyers["revenue_per_customer"], marker_color=colours, customdata=links,
                            text=money_text(buyers["revenue_per_customer"], loc), textposition="outside"))
    out["charts"].append(chart(styled(fig2, loc, x_title=_("Where they buy"), y_title=_("Revenue per buyer (€)"),
                                      legend=False), ctx, title=_("What a buyer is worth"), name="omnichannel-value",
                               query=q))
    ro = r.ropo
    if ro is not None and len(ro):
        fig3 = go.Figure(go.Bar(x=[say(d, _) for d in ro["direction"]], y=ro["share_of_orders"],
                                marker_color=[PLACE_COLOURS["store"], PLACE_COLOURS["online"]][:len(ro)],
                                text=[f"{a} ({b})" for a, b in zip(share_text(ro["share_of_orders"], loc),
                                                                    count_text(ro["with_cross_research"], loc))],
                                textposition="outside", customdata=[ctx.drill_url(q, {"ropo": d}) for d in ro["direction"]]))
        out["charts"].append(chart(styled(fig3, loc, x_title=_("Direction"), y_title=_("Share of orders"), percent="y",
                                          legend=False), ctx, name="ropo", query=q, table="ropo",
                                   title=_("Researched in the other channel first (within %(d)s days)") % {"d": days}))
    out["sections"] = [
        (_("Customers by where they buy"), table_view(f, loc, ctx=ctx, query=q, drill_by=OmnichannelRunner.drill_by,
                                                      words=("mix",)),
         ctx.export_url(q, "frame", "csv"), ctx.export_url(q, "frame", "xlsx")),
    ]
    if ro is not None:
        out["sections"].append((_("ROPO: orders researched in the other channel"),
                                table_view(ro, loc, ctx=ctx, query=q, words=("direction",),
                                           selector=lambda rec: {"ropo": rec["direction"]}),
                                ctx.export_url(q, "ropo", "csv"), ctx.export_url(q, "ropo", "xlsx")))
    if r.stores is not None and len(r.stores):
        out["sections"].append((_("Stores"), table_view(r.stores, loc, ctx=ctx, query=q,
                                                        selector=lambda rec: {"store": rec["store_id"]}),
                                ctx.export_url(q, "stores", "csv"), ctx.export_url(q, "stores", "xlsx")))
    if r.transitions is not None and len(r.transitions):
        out["sections"].append((_("Switches between online and offline"),
                                table_view(r.transitions, loc, words=("switch", "from_channel", "to_channel")),
                                ctx.export_url(q, "transitions", "csv"), ctx.export_url(q, "transitions", "xlsx")))
    if r.first_purchase is not None and len(r.first_purchase):
        out["sections"].append((_("Touchpoints and channels before the first purchase"),
                                table_view(r.first_purchase, loc, words=("measure",)),
                                ctx.export_url(q, "first_purchase", "csv"), ctx.export_url(q, "first_purchase", "xlsx")))
    return out
