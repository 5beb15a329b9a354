"""Segmenti: build a segment from conditions with its size counted as you change them, save it,
and see each saved segment's membership over time.

The builder's conditions are URL parameters (``f1/op1/v1`` … profile field, operator, value;
``a1/d1`` … a behaviour within days), all joined with AND, so a link shares the draft. The
draft becomes the same typed rule as ``percorso segment create``
(:func:`percorso.value.segments.definition.parse_rule`) and is counted in the engine
(:func:`percorso.value.segments.compile.members_expr`); the count is an aggregate, so viewers
see it too. Saving (analysts and up) goes through :func:`percorso.value.segments.store.save_segment`.
"""

from __future__ import annotations

import json
from typing import Any

from percorso.errors import PercorsoError
from percorso.value.segments.definition import ACTIONS, FIELDS, OPS
from percorso.web.charts import chart, styled
from percorso.web.i18n import format_number
from percorso.web.pages import N_
from percorso.web.tables import table_view

COMPARES = 3
BEHAVIOURS = 2
OP_WORDS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "in": N_("one of")}
TRUE = ("true", "1", "yes", "si", "sì", "vero")


def draft_rule(ctx: Any) -> dict[str, Any] | None:
    """The builder's conditions as a rule (None when no condition is set)."""
    nodes: list[dict[str, Any]] = []
    for i in range(1, COMPARES + 1):
        field, raw = ctx.get(f"f{i}"), ctx.get(f"v{i}")
        if not field or raw is None:
            continue
        op = ctx.get(f"op{i}", "eq")
        kind = FIELDS.get(field, ("", "text"))[1]
        value: Any = [x.strip() for x in raw.split(",") if x.strip()] if op == "in" else raw.strip()
        if kind == "number":
            try:
                value = [float(x) for x in value] if op == "in" else float(str(value).replace(",", "."))
            except ValueError:
                ctx.errors.append(ctx._("“%(value)s” is not a number (condition %(n)s)") % {"value": raw, "n": i})
                continue
        elif kind == "bool":
            value = str(value).lower() in TRUE
        nodes.append({"type": "compare", "field": field, "op": op, "value": value})
    for i in range(1, BEHAVIOURS + 1):
        action = ctx.get(f"a{i}")
        if action:
            node: dict[str, Any] = {"type": "behaviour", "action": action}
            days = ctx.integer(f"d{i}", 0, 0, 3650)
            if days:
                node["within_days"] = days
            nodes.append(node)
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else {"type": "and", "rules": nodes}


def count_members(state: Any, rule: dict[str, Any]) -> int:
    from percorso.value.segments.compile import members_expr
    from percorso.value.segments.definition import parse_rule

    engine = state.engine
    return int(engine.scalar(members_expr(engine, parse_rule(rule), state.project.settings).count()))


def _history(state: Any, name: str) -> Any:
    from percorso.value.segments.store import segment_history

    return state.engine.execute(segment_history(state.engine, name))


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    from percorso.value.segments.store import list_segments

    state, _, loc = ctx.state, ctx._, ctx.locale
    rule = draft_rule(ctx)
    count = None
    if rule is not None:
        try:
            count = await state.db(count_members, state, rule)
        except PercorsoError as exc:
            ctx.errors.append(exc.message)
    rows = [{"i": i, "field": ctx.get(f"f{i}", ""), "op": ctx.get(f"op{i}", "eq"), "value": ctx.get(f"v{i}", "")}
            for i in range(1, COMPARES + 1)]
    behaviours = [{"i": i, "action": ctx.get(f"a{i}", ""), "days": ctx.get(f"d{i}", "")} for i in range(1, BEHAVIOURS + 1)]
    saved = await state.db(list_segments, state.engine)
    names = [str(n) for n in saved["name"]]
    chosen = ctx.choice("seg", ("", *names), "") if ctx.get("seg") else ""
    history_chart = history_table = None
    if chosen:
        h = await state.db(_history, state, chosen)
        when = [str(t)[:16] for t in h["computed_at"]]
        fig = go.Figure()
        fig.add_scatter(x=when, y=h["size"], name=_("Members"), mode="lines+markers+text", line_color="#4E79A7",
                        text=[format_number(v, "count", loc) for v in h["size"]], textposition="top center")
        fig.add_bar(x=when, y=h["entered"], name=_("Entered"), marker_color="#59A14F")
        fig.add_bar(x=when, y=-h["left"], name=_("Left"), marker_color="#E15759")
        fig.update_layout(barmode="relative")
        history_chart = chart(styled(fig, loc, x_title=_("Refreshed at (UTC)"), y_title=_("Customers")), ctx,
                              title=_("Segment “%(name)s”: members over time") % {"name": chosen}, name=f"segment-{chosen}")
        history_table = table_view(h, loc, labels={"computed_at": _("Refreshed at (UTC)"), "size": _("Members"),
                                                   "entered": _("Entered"), "left": _("Left")})
    saved_view = table_view(saved.drop(columns=["stale"], errors="ignore"), loc,
                            labels={"name": _("Segment"), "description": _("Description"), "size": _("Members")})
    # the name links to the segment (a cell is (text, numeric, href))
    saved_view.rows = [((row[0][0], row[0][1], ctx.url(seg=name)), *row[1:]) for row, name in zip(saved_view.rows, names)]
    return {
        "fields": [(f, f) for f in FIELDS], "ops": [(o, _(OP_WORDS[o])) for o in OPS],
        "actions": [(a, a) for a in ACTIONS], "action_help": ACTIONS, "rows": rows, "behaviours": behaviours,
        "count": format_number(count, "count", loc) if count is not None else None,
        "rule_json": json.dumps(rule, ensure_ascii=False) if rule else "", "saved": saved_view, "chosen": chosen,
        "history_chart": history_chart, "history_table": history_table,
        "export_url": f"/v1/segments/{chosen}/export" if chosen and not ctx.viewer else None,
    }
