"""Funnel builder: steps chosen from the data (autocomplete), conversion window, order mode,
exclusions, breakdown and time to convert (:class:`FunnelQuery`).

URL: ``step`` repeated (``a|b`` = either), ``window`` (days), ``order`` (ordered / strict / any),
``excl`` repeated ``label:i:j`` (a chain with ``label`` between steps i and j does not count),
``breakdown`` (a node definition, e.g. ``channel``), ``battr`` (first_touch / last_touch / step:N)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from percorso.journeys.funnel import FunnelQuery, FunnelRunner
from percorso.web.pages import N_
from percorso.web.charts import chart, count_text, share_text, styled
from percorso.web.palette import channel_colour
from percorso.web.tables import table_view
from percorso.web.views.journey_controls import NODE_NAMES, NODES, journey_fields, journey_form, node_labels
from percorso.web.words import say

DEFAULT_STEPS = ("page_view", "add_to_cart", "purchase")
ORDERS = ("ordered", "strict", "any")


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    fields = journey_fields(ctx)
    steps = ctx.listing("step") or list(DEFAULT_STEPS)
    window = ctx.integer("window", 30, 1, 730)
    order = ctx.choice("order", ORDERS, "ordered")
    breakdown = ctx.get("breakdown") or None
    if breakdown is not None and breakdown not in NODES:
        ctx.errors.append(_("“%(value)s” is not a valid %(name)s; valid: %(options)s")
                          % {"value": breakdown, "name": "breakdown", "options": ", ".join(NODES)})
        breakdown = None
    battr = ctx.get("battr", "first_touch")
    exclusions = []
    for raw in ctx.listing("excl"):
        label, _s, rest = raw.rpartition(":")
        label, _s2, i = label.rpartition(":")
        try:
            exclusions.append((label, int(i), int(rest)))
        except ValueError:
            ctx.errors.append(_("Exclusion “%(x)s” is not “step:i:j”; it was ignored") % {"x": raw})
    r = await ctx.run(FunnelQuery, **fields, steps=tuple(steps), window=timedelta(days=window), order=order,
                      exclusions=tuple(exclusions), breakdown=breakdown, breakdown_attribution=battr)
    out: dict[str, Any] = {**journey_form(ctx), "labels": await node_labels(ctx, fields), "steps": steps,
                           "window": window, "order": order, "orders": [(o, _(ORDER_NAMES[o])) for o in ORDERS],
                           "breakdown": breakdown or "", "battr": battr,
                           "breakdowns": [(n, _(NODE_NAMES[n])) for n in NODES if n != "event"],
                           "exclusions": ctx.listing("excl"), "result": r, "charts": []}
    if r is None or r.frame.empty:
        return out
    q = r.query
    f = r.frame
    fig = go.Figure()
    for value, part in f.groupby("breakdown", sort=False):
        names = [f"{s}. {say(lbl, _)}" for s, lbl in zip(part["step"], part["label"])]
        colour = channel_colour(value) if value != "(all)" else "#4E79A7"
        text = [f"{a} · {b}" for a, b in zip(count_text(part["reached"], loc), share_text(part["conversion_overall"], loc))]
        fig.add_bar(y=names, x=part["reached"], orientation="h", name=say(value, _), marker_color=colour, text=text,
                    textposition="auto",
                    customdata=[ctx.drill_url(q, {"step": int(s), **({"breakdown": value} if breakdown else {})})
                                for s in part["step"]])
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="group")
    n_groups = f["breakdown"].nunique()
    out["charts"].append(chart(styled(fig, loc, x_title=_("Journeys that reach the step"), y_title=_("Step"),
                                      height=140 + 50 * len(steps) * min(n_groups, 6), legend=n_groups > 1),
                               ctx, title=_("Funnel: journeys at each step (share of step 1)"), name="funnel", query=q))
    ttc = r.time_to_convert
    if ttc is not None and len(ttc):
        fig2 = go.Figure(go.Bar(x=[say(b, _) for b in ttc["bucket"]], y=ttc["journeys"], marker_color="#59A14F",
                                text=count_text(ttc["journeys"], loc), textposition="outside"))
        out["charts"].append(chart(styled(fig2, loc, x_title=_("Time from step 1 to the last step"),
                                          y_title=_("Journeys that convert"), legend=False), ctx,
                                   title=_("Time to convert"), name="time-to-convert", query=q, table="time_to_convert"))
    out["steps_table"] = table_view(f, loc, ctx=ctx, query=q, drill_by=FunnelRunner.drill_by, words=("label", "breakdown"))
    out["csv"], out["xlsx"] = ctx.export_url(q, "frame", "csv"), ctx.export_url(q, "frame", "xlsx")
    out["dropped_links"] = [] if ctx.viewer else [
        (f"{s}. {say(lbl, _)}", ctx.drill_url(q, {"step": int(s), "dropped": True,
                                                  **({"breakdown": b} if breakdown else {})}))
        for s, lbl, b in zip(f["step"], f["label"], f["breakdown"]) if int(s) > 1 and b == f["breakdown"].iloc[0]]
    return out


ORDER_NAMES = {"ordered": N_("in order, other steps may come between"), "strict": N_("in order, nothing between"),
               "any": N_("in any order")}
