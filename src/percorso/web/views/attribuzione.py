"""Attribuzione e ROI: attribution models side by side with the purchases no journey can be
credited for, and campaign ROI with costs and the revenue of online and store purchases
(:class:`AttributionQuery`, :class:`RoiQuery`)."""

from __future__ import annotations

from typing import Any

from percorso.attribution.analysis import AttributionQuery, AttributionRunner
from percorso.attribution.roi import RoiQuery, RoiRunner
from percorso.web.charts import chart, share_text, styled
from percorso.web.palette import channel_colour
from percorso.web.tables import table_view
from percorso.web.words import say

MODELS = ("first", "last", "last_non_direct", "linear", "time_decay", "position", "markov_1", "shapley")
MEASURES = ("conversions", "value")


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    measure = ctx.choice("measure", MEASURES, "conversions")
    model = ctx.choice("model", MODELS, "linear")
    lookback = ctx.integer("lookback", 30, 1, 730)
    common = {"lookback_days": lookback}
    r = await ctx.run(AttributionQuery, **common)
    out: dict[str, Any] = {"result": r, "measure": measure, "model": model, "lookback": lookback,
                           "models": [(m, _(m)) for m in MODELS], "charts": [], "sections": [], "tiles": []}
    if r is None:
        return out
    q = r.query
    long = r.long
    models = [m for m in MODELS if m in set(long["model"])]
    channels = list(long.groupby("node")[measure].sum().sort_values(ascending=False).index)
    fig = go.Figure()
    for node in channels:
        part = long[long["node"] == node].set_index("model").reindex(models)
        fig.add_bar(x=[say(m, _) for m in models], y=part[measure], name=say(node, _), marker_color=channel_colour(node),
                    customdata=[ctx.drill_url(q, {"node": node})] * len(models),
                    hovertemplate=f"{say(node, _)}: %{{y:,.1f}}<extra>%{{x}}</extra>")
    fig.update_layout(barmode="stack")
    y_title = _("Purchases credited") if measure == "conversions" else _("Revenue credited (€)")
    out["charts"].append(chart(styled(fig, loc, x_title=_("Attribution model"), y_title=y_title, height=520), ctx,
                               title=_("Models side by side: credit per channel"), name="attribution", query=q,
                               table="long"))
    totals = r.totals
    if totals is not None and len(totals):
        first = totals[totals["model"] == totals["model"].iloc[0]].set_index("row")
        for row, label in (("total", _("Purchases in the period")), ("attributed", _("Credited to a journey")),
                           ("not_attributable", _("Not attributable (no touchpoint before them)"))):
            if row in first.index:
                out["tiles"].append({"label": label, "value": ctx.fmt(first.loc[row, "conversions"], "count"),
                                     "hint": ctx.fmt(first.loc[row, "value"], "money"),
                                     "href": ctx.drill_url(q, {"node": row})})
    out["sections"].append((_("Credit per channel and model"), table_view(
        r.frame, loc, ctx=ctx, query=q, drill_by=AttributionRunner.drill_by, words=("node",),
        labels={m: _(m) for m in r.frame.columns if m in MODELS}), ctx.export_url(q, "frame", "csv"),
        ctx.export_url(q, "frame", "xlsx")))
    # campaign ROI: revenue of all purchases, and of online and store purchases credited separately
    roi = await ctx.run(RoiQuery, models=(model,), **common)
    online = await ctx.run(RoiQuery, models=(model,), conversion="purchase_online", **common)
    store = await ctx.run(RoiQuery, models=(model,), conversion="purchase_store", **common)
    if roi is not None and len(roi.frame):
        f = roi.frame.copy()
        keys = ["channel", "campaign"]
        for name, part in (("revenue_online", online), ("revenue_store", store)):
            if part is not None:
                f = f.merge(part.frame[keys + ["revenue"]].rename(columns={"revenue": name}), on=keys, how="left")
        cols = [c for c in ("channel", "campaign", "cost", "conversions", "revenue", "revenue_online", "revenue_store",
                            "roi", "roas", "cpa", "new_customers", "cac") if c in f.columns]
        f = f[cols].sort_values(["cost", "revenue"], ascending=False, na_position="last").reset_index(drop=True)
        campaigns = f[~f["channel"].astype(str).str.startswith("(")]  # not the total / not-attributable rows
        costly = campaigns[campaigns["cost"].fillna(0) > 0].sort_values("cost", ascending=False).head(15).iloc[::-1]
        if len(costly):
            names = [f"{c} · {k}" for c, k in zip(costly["channel"], costly["campaign"])]
            fig2 = go.Figure(go.Bar(x=costly["roi"], y=names, orientation="h",
                                    marker_color=[channel_colour(c) for c in costly["channel"]],
                                    text=share_text(costly["roi"], loc), textposition="auto",
                                    customdata=[ctx.drill_url(roi.query, {"channel": c, "campaign": k})
                                                for c, k in zip(costly["channel"], costly["campaign"])]))
            out["charts"].append(chart(styled(fig2, loc, x_title=_("ROI: (revenue − cost) / cost"), y_title=_("Campaign"),
                                              percent="x", height=160 + 28 * len(costly), legend=False), ctx,
                                       title=_("ROI of the campaigns that cost the most (%(model)s model)")
                                       % {"model": _(model)}, name="roi", query=roi.query))
        out["sections"].append((_("Campaign ROI: costs, revenue of all purchases, online and in store"),
                                table_view(f, loc, ctx=ctx, query=roi.query, drill_by=RoiRunner.drill_by,
                                           words=("channel",),
                                           labels={"revenue_online": _("revenue of online purchases"),
                                                   "revenue_store": _("revenue of store purchases")}),
                                ctx.export_url(roi.query, "frame", "csv"), ctx.export_url(roi.query, "frame", "xlsx")))
    return out
