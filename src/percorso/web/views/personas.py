"""Personas: one card per data-driven persona (name, size, channels, typical journey, value, mix).

The cards come from :class:`percorso.value.personas.PersonasQuery`: the stored assignment
(``stored=True``, the last ``percorso personas`` run or the last build's refresh) when there is
one, so opening the page never regroups people; a project without one gets its first run here.
Each card links to its customers (``persona`` selector) for roles that may see them.
"""

from __future__ import annotations

from typing import Any

from percorso.value.personas import TABLE, PersonasQuery
from percorso.web.charts import chart, count_text, share_text, styled
from percorso.web.i18n import format_number
from percorso.web.palette import channel_colour


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    _, loc = ctx._, ctx.locale
    engine = ctx.state.engine
    stored = await ctx.state.db(lambda: engine.has_table(TABLE))
    r = await ctx.run(PersonasQuery, stored=stored)
    if r is None or not r.cards:
        return {"cards": [], "charts": []}
    q = r.query
    cards = []
    for c in r.cards:
        name = c["name_it"] if loc == "it" else c["name_en"]
        facts = [(_("Customers"), f"{format_number(c['customers'], 'count', loc)} ({share_text([c['share']], loc)[0]})"),
                 (_("Average revenue"), format_number(c["avg_revenue"], "money", loc)),
                 (_("Average orders"), format_number(c["avg_orders"], "number", loc))]
        if c.get("typical_journey"):
            facts.append((_("Typical journey"), c["typical_journey"]))
        if c.get("current_stage"):
            facts.append((_("Stage now"), _(str(c["current_stage"]))))
        for key, label in (("online_only_share", _("Bought online only")), ("store_only_share", _("Bought in store only")),
                           ("omnichannel_share", _("Bought online and in store"))):
            if c.get(key) is not None:
                facts.append((label, share_text([c[key]], loc)[0]))
        if c.get("avg_clv") is not None:
            facts.append((_("Average predicted value (CLV)"), format_number(c["avg_clv"], "money", loc)))
        if c.get("top_categories"):
            facts.append((_("Top categories"), c["top_categories"]))
        if c.get("home_store"):
            facts.append((_("Home store"), c["home_store"]))
        cards.append({"persona": c["persona"], "name": name, "facts": facts,
                      "description": c["description_it"] if loc == "it" else c["description_en"],
                      "channels": [(ch, share_text([s], loc)[0], channel_colour(ch)) for ch, s in c["channels"]],
                      "href": ctx.drill_url(q, {"persona": int(c["persona"])})})
    names = [f"{c['persona']}. {c['name']}" for c in cards]
    fig = go.Figure(go.Bar(x=[c["customers"] for c in r.cards], y=names, orientation="h",
                           text=count_text([c["customers"] for c in r.cards], loc), textposition="outside",
                           marker_color="#4E79A7", cliponaxis=False))
    fig.update_yaxes(autorange="reversed")
    charts = [chart(styled(fig, loc, x_title=_("Customers"), y_title=_("Persona"), legend=False,
                           height=max(260, 60 * len(cards) + 100)), ctx,
                    title=_("Customers per persona"), name="personas", query=q)]
    return {"cards": cards, "charts": charts, "csv_url": ctx.export_url(q, "frame", "csv"),
            "xlsx_url": ctx.export_url(q, "frame", "xlsx")}
