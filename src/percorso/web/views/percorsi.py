"""Percorsi: top paths with "other", a Sankey whose columns are steps with start / end anchors,
the largest transitions with their counts, and path cleaning (:class:`PathsQuery`,
:class:`SankeyQuery`, :class:`TransitionsQuery`)."""

from __future__ import annotations

from typing import Any

from percorso.journeys.paths import PathsQuery, PathsRunner
from percorso.journeys.sankey import SankeyQuery
from percorso.journeys.transitions import TransitionsQuery, TransitionsRunner
from percorso.web.pages import N_
from percorso.web.charts import chart, count_text, styled
from percorso.web.palette import channel_colour, with_alpha
from percorso.web.tables import table_view
from percorso.web.views.journey_controls import journey_fields, journey_form, node_labels
from percorso.web.words import say

ANCHORS = ("purchase:any", "purchase:online", "purchase:store")


async def view(ctx: Any) -> dict[str, Any]:
    _, loc = ctx._, ctx.locale
    fields = journey_fields(ctx)
    steps = ctx.integer("steps", 5, 2, 12)
    top = ctx.integer("top", 15, 1, 200)
    start, end = ctx.get("start") or None, ctx.get("end") or None
    converting = ctx.flag("converting")
    paths = await ctx.run(PathsQuery, **fields, max_steps=steps, top=top, start=start, end=end,
                          converting_only=converting)
    sankey = await ctx.run(SankeyQuery, **fields, steps=steps, top_k=min(top, 10), start=start, end=end)
    trans = await ctx.run(TransitionsQuery, **fields, top=top)
    out: dict[str, Any] = {**journey_form(ctx), "labels": await node_labels(ctx, fields), "steps": steps, "top": top,
                           "start": start or "", "end": end or "", "converting": converting,
                           "anchors": [(a, _(ANCHOR_NAMES[a])) for a in ANCHORS], "charts": [],
                           "paths": None, "transitions": None}
    if paths is not None:
        q = paths.query
        f = paths.frame.copy()
        out["paths"] = table_view(f, loc, ctx=ctx, query=q, drill_by=PathsRunner.drill_by, words=("path",),
                                  labels={"path": _("Path")})
        out["paths_csv"], out["paths_xlsx"] = ctx.export_url(q, "frame", "csv"), ctx.export_url(q, "frame", "xlsx")
        out["paths_meta"] = paths.meta
    if sankey is not None and len(sankey.frame):
        out["charts"].append(_sankey(ctx, sankey, steps))
    if trans is not None and len(trans.frame):
        q = trans.query
        f = trans.frame
        shown = f[f["from_node"] != "other"].head(15).iloc[::-1]
        import plotly.graph_objects as go

        names = [f"{say(a, _)} → {say(b, _)}" for a, b in zip(shown["from_node"], shown["to_node"])]
        colour = ([channel_colour(a) for a in shown["from_node"]] if fields["node"] == "channel" else "#4E79A7")
        fig = go.Figure(go.Bar(x=shown["transitions"], y=names, orientation="h", marker_color=colour,
                               text=count_text(shown["transitions"], loc), textposition="outside",
                               customdata=[ctx.drill_url(q, {"from_node": a, "to_node": b})
                                           for a, b in zip(shown["from_node"], shown["to_node"])]))
        out["charts"].append(chart(styled(fig, loc, x_title=_("Transitions (consecutive steps)"), y_title=_("From → to"),
                                          height=160 + 26 * len(shown), legend=False), ctx,
                                   title=_("The largest transitions"), name="transitions", query=q))
        out["transitions"] = table_view(f, loc, ctx=ctx, query=q, drill_by=TransitionsRunner.drill_by,
                                        words=("from_node", "to_node"))
        out["trans_csv"], out["trans_xlsx"] = ctx.export_url(q, "frame", "csv"), ctx.export_url(q, "frame", "xlsx")
    return out


ANCHOR_NAMES = {"purchase:any": N_("a purchase (online or in store)"), "purchase:online": N_("a purchase online"),
                "purchase:store": N_("a purchase in store")}


def _sankey(ctx: Any, result: Any, steps: int) -> Any:
    """Columns are steps: node (position, label) sits at x = its position, stacked by size."""
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    f = result.frame
    q = result.query
    into: dict[tuple[int, str], float] = {}
    out_of: dict[tuple[int, str], float] = {}
    for s, a, b, n in zip(f["step"], f["source"], f["target"], f["journeys"]):
        out_of[(int(s), str(a))] = out_of.get((int(s), str(a)), 0.0) + float(n)
        into[(int(s) + 1, str(b))] = into.get((int(s) + 1, str(b)), 0.0) + float(n)
    size = {k: max(into.get(k, 0.0), out_of.get(k, 0.0)) for k in set(into) | set(out_of)}
    positions = sorted({k[0] for k in size})
    last = max(positions)
    first = min(positions)
    keys, xs, ys = [], [], []
    for pos in positions:
        column = sorted((k for k in size if k[0] == pos), key=lambda k: (k[1] in ("(end)", "other", "(start)"), -size[k]))
        total = sum(size[k] for k in column) or 1.0
        gap = 0.04
        span = 1 - gap * (len(column) - 1) if len(column) > 1 else 1.0
        y = 0.0
        for k in column:
            h = span * size[k] / total
            keys.append(k)
            xs.append(0.001 + 0.998 * (pos - first) / max(last - first, 1))
            ys.append(min(max(y + h / 2, 0.001), 0.999))
            y += h + gap
    index = {k: i for i, k in enumerate(keys)}
    step_word = _("step")
    labels = [say(k[1], _) for k in keys]
    colours = [channel_colour(k[1]) for k in keys]
    node_links = [ctx.drill_url(q, {"step": k[0], "node": k[1]}) if k[1] not in ("(end)", "(start)") else None
                  for k in keys]
    src = [index[(int(s), str(a))] for s, a in zip(f["step"], f["source"])]
    dst = [index[(int(s) + 1, str(b))] for s, b in zip(f["step"], f["target"])]
    sankey = dict(
        type="sankey", arrangement="fixed",
        node=dict(label=labels, x=xs, y=ys, pad=10, thickness=14, color=colours, customdata=node_links,
                  hovertemplate="%{label}<br>%{value:,.0f}<extra></extra>"),
        link=dict(source=src, target=dst, value=[int(v) for v in f["journeys"]],
                  color=[with_alpha(colours[i], 0.35) for i in src],
                  customdata=[ctx.drill_url(q, {"step": int(s), "source": a, "target": b})
                              for s, a, b in zip(f["step"], f["source"], f["target"])],
                  hovertemplate="%{source.label} → %{target.label}<br>%{value:,.0f}<extra></extra>"))
    fig = go.Figure()
    fig.update_layout(annotations=[dict(x=(pos - first) / max(last - first, 1), y=1.06, xref="paper", yref="paper",
                                        text=f"{step_word} {pos}", showarrow=False, font=dict(size=12, color="#4b5563"))
                                   for pos in positions])
    return chart(styled(fig, loc, height=520, legend=False), ctx, title=_("Journey flows step by step"), name="sankey",
                 query=q, traces=[sankey], description=_("Each column is a step of the journey; (end): the journey stops there; "
                                        "other: the less frequent steps together. Numbers are journeys."))
