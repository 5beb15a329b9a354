"""Valore: RFM, CLV deciles and their holdout validation, churn, cohorts, health, cost to serve.

One section at a time (``?vista=rfm|clv|churn|cohorts|health|cost``): each runs its own query
object, so opening the page costs one analysis, not six. CLV shows the last stored fit
(``customer_value``) rather than refitting on every view: a fit writes the table and would
invalidate every cached answer of the server; the first view of a project without a fit makes
one. Every row links to its customers (``Runner.drill_by``), every table downloads as CSV/XLSX.
"""

from __future__ import annotations

from typing import Any

from percorso.value.churn import ChurnQuery
from percorso.value.clv.analysis import CLVQuery, HoldoutQuery, decile_summary
from percorso.value.cohorts import CohortQuery
from percorso.value.cost_to_serve import CostToServeQuery
from percorso.value.health import HealthQuery
from percorso.value.rfm import RFMQuery
from percorso.web.charts import chart, count_text, money_text, share_text, styled
from percorso.web.i18n import format_number
from percorso.web.pages import N_
from percorso.web.tables import table_view

VIEWS = ("rfm", "clv", "churn", "cohorts", "health", "cost")
TITLES = {"rfm": N_("RFM segments"), "clv": N_("Customer lifetime value"), "churn": N_("Churn risk"),
          "cohorts": N_("Cohorts"), "health": N_("Customer health"), "cost": N_("Cost to serve")}
HOLDOUTS = ("13w", "26w", "52w")
RISK_WORDS = (N_("high"), N_("medium"), N_("low"))  # risk levels as the page shows them
RISK_COLOURS = {"high": "#B91C1C", "medium": "#D97706", "low": "#15803D"}
BAR = "#4E79A7"


async def view(ctx: Any) -> dict[str, Any]:
    shown = ctx.choice("vista", VIEWS, "rfm")
    tabs = [{"key": k, "title": ctx._(TITLES[k]), "href": ctx.url(vista=k), "current": k == shown} for k in VIEWS]
    section = await _SECTIONS[shown](ctx)
    return {"tabs": tabs, "shown": shown, "section_title": ctx._(TITLES[shown]), **section}


def _bar(ctx: Any, x: Any, y: Any, text: list[str], *, x_title: str, y_title: str, colours: Any = BAR,
         percent: str | None = None) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=list(x), y=list(y), text=text, textposition="outside", marker_color=colours,
                           cliponaxis=False))
    return styled(fig, ctx.locale, x_title=x_title, y_title=y_title, percent=percent, legend=False)


def _exports(ctx: Any, q: Any, table: str = "frame") -> dict[str, str]:
    return {"csv_url": ctx.export_url(q, table, "csv"), "xlsx_url": ctx.export_url(q, table, "xlsx")}


async def _rfm(ctx: Any) -> dict[str, Any]:
    _ = ctx._
    as_of = ctx._date("as_of")
    r = await ctx.run(RFMQuery, as_of=as_of)
    if r is None:
        return {"charts": [], "tables": []}
    f, q = r.frame, r.query
    fig = _bar(ctx, f["segment"], f["customers"], [f"{c} · {s}" for c, s in zip(count_text(f["customers"], ctx.locale),
                                                                             share_text(f["share"], ctx.locale))],
               x_title=_("RFM segment"), y_title=_("Customers"))
    fig2 = _bar(ctx, f["segment"], f["revenue"], money_text(f["revenue"], ctx.locale), x_title=_("RFM segment"),
                y_title=_("Revenue (EUR)"), colours="#59A14F")
    return {"controls_list": [{"name": "as_of", "type": "date", "label": _("As of (default: the last order day)"),
                          "value": ctx.get("as_of", "")}],
            "charts": [chart(fig, ctx, title=_("Customers per RFM segment"), name="rfm-customers", query=q),
                       chart(fig2, ctx, title=_("Revenue per RFM segment"), name="rfm-revenue", query=q)],
            "tables": [{"title": _("RFM segments"), "table": table_view(f, ctx.locale, ctx=ctx, query=q,
                                                                        drill_by=("segment",)), **_exports(ctx, q)}]}


async def _clv(ctx: Any) -> dict[str, Any]:
    _ = ctx._
    engine = ctx.state.engine
    stored = await ctx.state.db(lambda: engine.has_table("customer_value"))
    if stored:
        deciles = await ctx.state.db(decile_summary, engine)
        fit_query = CLVQuery(**ctx.filters())
    else:  # no fit yet: make one (it is stored for the next views)
        r = await ctx.run(CLVQuery)
        if r is None:
            return {"charts": [], "tables": []}
        deciles, fit_query = r.deciles, r.query
    holdout = ctx.choice("holdout", HOLDOUTS, "26w")
    h = await ctx.run(HoldoutQuery, holdout=holdout)
    charts, tables = [], []
    if deciles is not None and len(deciles):
        fig = _bar(ctx, [str(d) for d in deciles["decile"]], deciles["avg_clv"], money_text(deciles["avg_clv"], ctx.locale),
                   x_title=_("CLV decile (1 = highest)"), y_title=_("Average CLV (EUR)"))
        charts.append(chart(fig, ctx, title=_("Average predicted value per decile"), name="clv-deciles",
                            description=_("Expected discounted value over the model's horizon (BG/NBD + Gamma-Gamma).")))
        tv = table_view(deciles, ctx.locale, labels={"decile": _("Decile")})
        if not ctx.viewer:
            tv.drill = [ctx.drill_url(fit_query, {"decile": int(d)}) for d in deciles["decile"]]
        tables.append({"title": _("CLV deciles"), "table": tv})
    if h is not None:
        import plotly.graph_objects as go

        hf = h.frame
        fig = go.Figure()
        fig.add_bar(x=[str(b) for b in hf["bucket"]], y=hf["actual"], name=_("Actual purchases per customer"),
                    marker_color="#59A14F", text=[format_number(v, "number", ctx.locale) for v in hf["actual"]], textposition="outside")
        fig.add_scatter(x=[str(b) for b in hf["bucket"]], y=hf["predicted"], name=_("Predicted purchases per customer"),
                        mode="lines+markers", line_color="#E15759")
        err = h.meta.get("total_error")
        desc = (_("Fitted without the last %(days)s days, then compared with what those customers bought in them. "
                  "Error of the total: %(err)s.") % {"days": h.holdout_days,
                                                      "err": share_text([err], ctx.locale)[0] if err == err else "—"})
        charts.append(chart(styled(fig, ctx.locale, x_title=_("Repeat purchases before the holdout"),
                                   y_title=_("Purchases per customer")), ctx,
                            title=_("Validation: predicted and actual purchases in the holdout"),
                            name="clv-holdout", query=h.query, description=desc))
        tables.append({"title": _("Holdout validation"), "table": table_view(hf, ctx.locale, ctx=ctx, query=h.query,
                                                                            drill_by=("bucket",)), **_exports(ctx, h.query)})
    controls = [{"name": "holdout", "type": "select", "label": _("Holdout window"), "value": holdout,
                 "options": [(v, v.replace("w", " " + _("weeks"))) for v in HOLDOUTS]}]
    return {"controls_list": controls, "charts": charts, "tables": tables}


async def _churn(ctx: Any) -> dict[str, Any]:
    _ = ctx._
    r = await ctx.run(ChurnQuery)
    if r is None:
        return {"charts": [], "tables": []}
    f, q = r.frame, r.query
    fig = _bar(ctx, [_(str(x)) for x in f["risk_level"]], f["customers"], count_text(f["customers"], ctx.locale),
               x_title=_("Churn risk"), y_title=_("Customers"), colours=[RISK_COLOURS.get(x, BAR) for x in f["risk_level"]])
    fig2 = _bar(ctx, [_(str(x)) for x in f["risk_level"]], f["clv_at_stake"], money_text(f["clv_at_stake"], ctx.locale),
                x_title=_("Churn risk"), y_title=_("Value at stake (EUR)"),
                colours=[RISK_COLOURS.get(x, BAR) for x in f["risk_level"]])
    return {"charts": [chart(fig, ctx, title=_("Customers per churn risk"), name="churn-customers", query=q),
                       chart(fig2, ctx, title=_("Predicted value at stake per churn risk"), name="churn-value", query=q)],
            "tables": [{"title": _("Churn risk"), "table": table_view(f, ctx.locale, ctx=ctx, query=q,
                                                                      drill_by=("risk_level",)), **_exports(ctx, q)}]}


async def _cohorts(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _ = ctx._
    by = ctx.choice("per", ("month", "channel"), "month")
    r = await ctx.run(CohortQuery, by=by)
    controls = [{"name": "per", "type": "select", "label": _("Cohorts by"), "value": by,
                 "options": [("month", _("first purchase month")), ("channel", _("first channel"))]}]
    if r is None:
        return {"controls_list": controls, "charts": [], "tables": []}
    f, q = r.frame, r.query
    grid = f.pivot(index="cohort", columns="period", values="retention").sort_index()
    fig = go.Figure(go.Heatmap(z=grid.values, x=[str(c) for c in grid.columns], y=[str(i) for i in grid.index],
                               colorscale="Blues", zmin=0, zmax=1, colorbar=dict(tickformat=".0%"),
                               text=[[share_text([v], ctx.locale)[0] if v == v else "" for v in row] for row in grid.values],
                               texttemplate="%{text}", hovertemplate="%{y} · %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    height = max(360, 22 * len(grid) + 120)
    return {"controls_list": controls,
            "charts": [chart(styled(fig, ctx.locale, x_title=_("Months since the first purchase"),
                                    y_title=_("Cohort"), height=height, legend=False), ctx,
                             title=_("Share of each cohort buying again, month by month"), name="cohorts", query=q)],
            "tables": [{"title": _("Cohorts"), "table": table_view(f, ctx.locale, ctx=ctx, query=q,
                                                                   drill_by=("cohort", "period")), **_exports(ctx, q)}]}


async def _health(ctx: Any) -> dict[str, Any]:
    _ = ctx._
    r = await ctx.run(HealthQuery, as_of=ctx._date("as_of"))
    if r is None:
        return {"charts": [], "tables": []}
    f, q = r.frame, r.query
    fig = _bar(ctx, f["band"], f["customers"], [f"{c} · {s}" for c, s in zip(count_text(f["customers"], ctx.locale),
                                                                          share_text(f["share"], ctx.locale))],
               x_title=_("Health score (0–100)"), y_title=_("Customers"),
               colours=["#B91C1C", "#D97706", "#CA8A04", "#65A30D", "#15803D"][:len(f)])
    return {"controls_list": [{"name": "as_of", "type": "date", "label": _("As of (default: the last order day)"),
                          "value": ctx.get("as_of", "")}],
            "charts": [chart(fig, ctx, title=_("Customers per health band"), name="health", query=q)],
            "tables": [{"title": _("Customer health"), "table": table_view(f, ctx.locale, ctx=ctx, query=q,
                                                                           drill_by=("band",)), **_exports(ctx, q)}]}


async def _cost(ctx: Any) -> dict[str, Any]:
    _ = ctx._
    r = await ctx.run(CostToServeQuery)
    if r is None:
        return {"charts": [], "tables": []}
    f, q = r.frame, r.query
    fig = _bar(ctx, f["segment"], f["margin_after"], money_text(f["margin_after"], ctx.locale),
               x_title=_("RFM segment"), y_title=_("Margin after cost to serve (EUR)"),
               colours=["#B91C1C" if v < 0 else "#15803D" for v in f["margin_after"]])
    return {"charts": [chart(fig, ctx, title=_("Margin after the cost to serve, per segment"), name="cost-to-serve",
                             query=q)],
            "tables": [{"title": _("Cost to serve"), "table": table_view(f, ctx.locale, ctx=ctx, query=q,
                                                                         drill_by=("segment",)), **_exports(ctx, q)}]}


_SECTIONS = {"rfm": _rfm, "clv": _clv, "churn": _churn, "cohorts": _cohorts, "health": _health, "cost": _cost}
