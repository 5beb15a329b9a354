"""Frizioni: steps, transitions, loops, offline chains and outbound contacts after which
journeys buy less, ranked by the purchases and revenue at stake (:class:`FrictionQuery`)."""

from __future__ import annotations

from typing import Any

from percorso.journeys.friction import FrictionQuery
from percorso.web.charts import chart, money_text, styled
from percorso.web.tables import table_view
from percorso.web.views.journey_controls import journey_fields, journey_form, node_labels
from percorso.web.words import say


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    fields = journey_fields(ctx)
    min_journeys = ctx.integer("min_journeys", 20, 1, 1_000_000)
    top = ctx.integer("top", 20, 1, 500)
    r = await ctx.run(FrictionQuery, **fields, min_journeys=min_journeys, top=top)
    out: dict[str, Any] = {**journey_form(ctx), "labels": await node_labels(ctx, fields), "min_journeys": min_journeys,
                           "top": top, "result": r, "charts": [], "sections": []}
    if r is None:
        return out
    q = r.query
    f = r.frame
    if len(f):
        shown = f.head(12).iloc[::-1]
        names = [f"{say(k, _)}: {say(i, _)}" for k, i in zip(shown["kind"], shown["item"])]
        fig = go.Figure(go.Bar(x=shown["revenue_at_stake"], y=names, orientation="h", marker_color="#E15759",
                               text=money_text(shown["revenue_at_stake"], loc), textposition="auto",
                               customdata=[ctx.drill_url(q, {k: i}) for k, i in zip(shown["kind"], shown["item"])]))
        out["charts"].append(chart(styled(fig, loc, x_title=_("Revenue at stake (€)"), y_title=_("Step or transition"),
                                          height=160 + 28 * len(shown), legend=False), ctx,
                                   title=_("Where journeys buy less: revenue at stake"), name="friction", query=q,
                                   description=_("Revenue at stake: the purchases these journeys would make at the "
                                                 "rate of the others, times the average order value.")))
    rate = r.meta.get("conversion_rate")
    out["summary"] = {"journeys": r.meta.get("journeys"), "rate": rate, "aov": r.meta.get("average_order_value")}
    out["sections"].append((_("Steps and transitions"), table_view(
        f, loc, ctx=ctx, query=q, words=("kind", "item"), selector=lambda rec: {rec["kind"]: rec["item"]}),
        ctx.export_url(q, "frame", "csv"), ctx.export_url(q, "frame", "xlsx")))
    for name, key, title in (("loops", "loop", _("Loops (the same step again and again)")),
                             ("chains", "chain", _("Online → offline chains")),
                             ("outbound", "action", _("Outbound contacts (sends, impressions, flyers)"))):
        frame = getattr(r, name)
        if frame is not None and len(frame):
            sel_key = {"loops": "loop", "chains": "chain", "outbound": "outbound"}[name]
            out["sections"].append((title, table_view(frame, loc, ctx=ctx, query=q, words=(key,),
                                                      selector=lambda rec, k=key, s=sel_key: {s: rec[k]}),
                                    ctx.export_url(q, name, "csv"), ctx.export_url(q, name, "xlsx")))
    return out
