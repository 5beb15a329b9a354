"""Qualità dei dati: what was imported, what was rejected and why, how identities were joined.

Imports come from ``ingest_runs`` (one row per file read), the quarantine from the same
functions as ``GET /v1/quarantine`` (:mod:`percorso.server.quarantine`: counts for everyone,
rows without their raw text for analysts), identity figures from the identity tables. A viewer
sees counts only: no flagged identifier value, no quarantined row.
"""

from __future__ import annotations

from typing import Any

import ibis

from percorso.web.charts import chart, count_text, styled
from percorso.web.i18n import format_number
from percorso.web.tables import table_view

IMPORTS_SHOWN = 50
ROWS_SHOWN = 100


def imports_frame(engine: Any) -> Any:
    """The latest imports, newest first (the machine path of each file is left out)."""
    import pandas as pd

    if not engine.has_table("ingest_runs"):
        return pd.DataFrame(columns=["source_name", "source_file", "rows_read", "accepted", "quarantined", "duplicates",
                                     "finished_at"])
    r = engine.table("ingest_runs")
    return engine.execute(r.select("source_name", "source_file", "rows_read", "accepted", "quarantined", "duplicates",
                                   "finished_at").order_by([ibis.desc("finished_at"), "source_name"]).limit(IMPORTS_SHOWN))


def identity_figures(engine: Any) -> dict[str, Any]:
    """People found, how many are identified, links used / set aside, flagged identifiers, merges."""
    import pandas as pd

    c = engine.table("customers")
    out: dict[str, Any] = {"people": engine.execute(c.aggregate(
        customers=c.count(), identified=c.is_identified.cast("int64").sum(),
        with_several_emails=(c.n_emails > 1).cast("int64").sum(), with_devices=(c.n_devices > 0).cast("int64").sum())
    ).iloc[0].to_dict()}
    if engine.has_table("identity_links"):
        ln = engine.table("identity_links")
        out["links"] = engine.execute(ln.group_by("status").aggregate(links=ln.count()).order_by("status"))
    else:
        out["links"] = pd.DataFrame(columns=["status", "links"])
    if engine.has_table("identity_flags"):
        fl = engine.table("identity_flags")
        out["flags"] = engine.execute(fl.group_by(["id_type", "reason"]).aggregate(identifiers=fl.count())
                                      .order_by(["id_type", "reason"]))
    else:
        out["flags"] = pd.DataFrame(columns=["id_type", "reason", "identifiers"])
    out["merges"] = engine.count("identity_merges") if engine.has_table("identity_merges") else 0
    return out


async def view(ctx: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    from percorso.server.quarantine import quarantine_counts, quarantine_rows

    state, _, loc = ctx.state, ctx._, ctx.locale
    engine = state.engine
    imports = await state.db(imports_frame, engine)
    counts = await state.db(quarantine_counts, engine)
    ident = await state.db(identity_figures, engine)
    reasons = sorted({str(r) for r in counts["reason_code"]})
    reason = ctx.choice("motivo", ("", *reasons), "") if ctx.get("motivo") else ""
    charts = []
    if len(counts):
        by = counts.groupby("reason_code", as_index=False)["rows"].sum().sort_values("rows", ascending=False)
        fig = go.Figure(go.Bar(x=list(by["rows"]), y=list(by["reason_code"]), orientation="h", marker_color="#B91C1C",
                               text=count_text(by["rows"], loc), textposition="outside", cliponaxis=False))
        fig.update_yaxes(autorange="reversed")
        charts.append(chart(styled(fig, loc, x_title=_("Rows in quarantine"), y_title=_("Reason"), legend=False,
                                   height=max(240, 34 * len(by) + 110)), ctx, title=_("Rejected rows by reason"), name="quarantine"))
    rows = None
    if reason and not ctx.viewer:
        page = await state.db(quarantine_rows, engine, None, reason, ROWS_SHOWN, 0, False)
        rows = table_view(page, loc)
        await state.audit(ctx.request, "quarantine_read", query={"reason": reason}, rows=len(page))
    p = ident["people"]
    tiles = [{"label": _("People found"), "value": format_number(p["customers"], "count", loc)},
             {"label": _("Identified (login, e-mail, phone, card, CRM)"), "value": format_number(p["identified"], "count", loc)},
             {"label": _("With more than one e-mail"), "value": format_number(p["with_several_emails"], "count", loc)},
             {"label": _("Joined through a shared device"), "value": format_number(p["with_devices"], "count", loc)},
             {"label": _("Shared identifiers set aside"), "value": format_number(int(ident["flags"]["identifiers"].sum()), "count", loc)},
             {"label": _("Customers merged by later evidence"), "value": format_number(ident["merges"], "count", loc)}]
    status_words = {"used": _("used"), "flagged": _("set aside: shared identifier"), "blocked": _("blocked by rule"),
                    "rejected": _("rejected")}
    links = ident["links"].assign(status=[status_words.get(s, s) for s in ident["links"]["status"]])
    return {
        "imports": table_view(imports, loc, labels={"source_name": _("Source"), "source_file": _("File")}),
        "quarantine": table_view(counts, loc, labels={"source_name": _("Source"), "reason_code": _("Reason"),
                                                      "rows": _("Rows")}),
        "quarantine_total": format_number(int(counts["rows"].sum()) if len(counts) else 0, "count", loc),
        "reasons": reasons, "reason": reason, "rows": rows, "charts": charts, "tiles": tiles,
        "links": table_view(links, loc, labels={"status": _("Link"), "links": _("Links")}),
        "flags": table_view(ident["flags"], loc, labels={"id_type": _("Identifier"), "reason": _("Why"),
                                                         "identifiers": _("Identifiers")}),
    }


# reading quarantined rows (an analyst with ?motivo=) is audited on every opening; the rest is a
# function of the data version and is cached like any page
view.cacheable = lambda ctx: ctx.viewer or not ctx.get("motivo")  # type: ignore[attr-defined]
