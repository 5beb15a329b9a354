"""Attivazione: the activation journeys, whether each is on, what it sent, and whether it works.

One row per journey (``activation/<name>.json``): on or off, trigger, holdout share, enrolments
treated / control, messages sent and held out, the conversion uplift with its 95 % interval
and p-value, and the sentence of :func:`percorso.activation.results.sentence` in the reader's
language: the same numbers as ``percorso journey results`` (one function computes both).
``?j=NAME`` opens a journey: its results per act step and, for analysts and up, the action
log with each customer linked to Customer 360 (a viewer sees aggregates only: no customer id,
no contact). Analysts and up switch a journey on or off with a CSRF-protected form
(:func:`percorso.web.actions.journey_state_form`).

Not cached: every scheduler beat moves enrolments and sends, without a new data version.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from percorso.errors import PercorsoError
from percorso.server.tokens import Role
from percorso.web.pages import N_
from percorso.web.tables import table_view

TRIGGERS = {"event": N_("event"), "segment": N_("segment"), "date": N_("date rule")}
#: Statuses, groups and guard reasons of the action log, read in the reader's language (words.say).
WORDS = (N_("sent"), N_("held_out"), N_("pending"), N_("sending"), N_("blocked"), N_("failed"), N_("treated"),
         N_("control"), N_("suppressed"), N_("no_consent"), N_("capped"), N_("quiet_hours"))
#: Action log columns an analyst sees (the message key repeats the customer id: left out).
LOG_COLUMNS = ("customer_id", "step", "variant", "channel", "status", "reason", "due_at", "sent_at")


def _points(x: float, locale: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    s = f"{x * 100:+.1f}"
    return s.replace(".", ",") if locale == "it" else s


def _p(p: float, locale: str) -> str:
    """A p-value as the sentence writes it (three decimals), ``< 0,001`` below that."""
    if p is None or math.isnan(p):
        return "—"
    s = "< 0.001" if p < 0.001 else f"{p:.3f}"
    return s.replace(".", ",") if locale == "it" else s


def summaries(state: Any) -> list[dict[str, Any]]:
    """Each journey with its counts and its holdout results (journey level)."""
    from percorso.activation.service import results
    from percorso.activation.store import load_journeys
    from percorso.engine import activation_sql as S

    engine = state.engine
    S.ensure_activation_tables(engine)
    o = engine.table("activation_outbox")
    counts = engine.execute(o.group_by(["journey", "status"]).aggregate(n=o.count()))
    by = {(j, s): int(n) for j, s, n in zip(counts["journey"], counts["status"], counts["n"])}
    out = []
    for j in load_journeys(state.root):
        frame, sentences = results(state.project, j)
        out.append({"journey": j, "row": frame.iloc[0].to_dict(), "steps": frame, "sentences": sentences,
                    "sent": by.get((j.name, "sent"), 0), "held_out": by.get((j.name, "held_out"), 0)})
    return out


def _log(state: Any, name: str) -> pd.DataFrame:
    from percorso.activation.service import action_log

    return action_log(state.project, name, limit=200)


def _by_status(state: Any, name: str) -> pd.DataFrame:
    engine = state.engine
    o = engine.table("activation_outbox")
    o = o.filter(o.journey == name)
    return engine.execute(o.group_by(["step", "variant", "status"]).aggregate(messages=o.count())
                          .order_by(["step", "variant", "status"]))


async def view(ctx: Any) -> dict[str, Any]:
    _, loc, state = ctx._, ctx.locale, ctx.state
    try:
        items = await state.db(summaries, state)
    except PercorsoError as exc:
        ctx.errors.append(exc.message)
        items = []
    names = [i["journey"].name for i in items]
    chosen = ctx.choice("j", ("", *names), "") if ctx.get("j") else ""
    rows = []
    for i in items:
        j, r = i["journey"], i["row"]
        rows.append({
            "name": j.name, "href": ctx.url(j=j.name), "description": j.description, "enabled": j.enabled,
            "trigger": _(TRIGGERS[j.trigger.kind]), "holdout": ctx.fmt(j.holdout, "share"),
            "treated": ctx.fmt(r["n_treated"], "count"), "control": ctx.fmt(r["n_control"], "count"),
            "sent": ctx.fmt(i["sent"], "count"), "held_out": ctx.fmt(i["held_out"], "count"),
            "uplift": _points(r["uplift"], loc),
            "interval": f"{_points(r['uplift_low'], loc)} … {_points(r['uplift_high'], loc)}",
            "p": _p(r["p_value"], loc),
            "sentence": i["sentences"][loc],
        })
    steps = log = None
    if chosen:
        item = items[names.index(chosen)]
        frame = item["steps"].copy()
        frame["uplift_points"] = frame["uplift"] * 100
        steps = table_view(frame, loc, ctx=ctx, columns=["step", "n_treated", "n_control", "conversions_treated",
                                                         "conversions_control", "uplift_points", "p_value"],
                           labels={"step": _("Step"), "n_treated": _("Treated"), "n_control": _("Control"),
                                   "conversions_treated": _("Conversions (treated)"),
                                   "conversions_control": _("Conversions (control)"),
                                   "uplift_points": _("Uplift (points)"), "p_value": _("p-value")})
        if ctx.viewer:
            log = table_view(await state.db(_by_status, state, chosen), loc, ctx=ctx, words=("status", "variant"),
                             labels={"step": _("Step"), "variant": _("Group"), "status": _("Status"),
                                     "messages": _("Messages")})
        else:
            frame = await state.db(_log, state, chosen)
            log = table_view(frame, loc, ctx=ctx, columns=list(LOG_COLUMNS), customer_link=True,
                             words=("status", "variant", "reason"),
                             labels={"customer_id": _("Customer"), "step": _("Step"), "variant": _("Group"),
                                     "channel": _("Channel"), "status": _("Status"), "reason": _("Reason"),
                                     "due_at": _("Due (UTC)"), "sent_at": _("Sent (UTC)")})
    return {"journeys": rows, "chosen": chosen, "steps": steps, "log": log, "can_switch": ctx.principal.role >= Role.crm}


view.cacheable = False  # type: ignore[attr-defined]
