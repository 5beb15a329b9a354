"""The activation room's operations, one function each, called by the CLI, the REST API and the hooks.

- :func:`tick`: enrol, move due enrolments, send what is due (the scheduler's one beat);
- :func:`on_micro_batch`: the collector's hook after each micro-batch (same beat, recent events);
- :func:`after_build`: the build's hook;
- :func:`preview`: ``journey test``: who would enter now and what each would get, nothing sent;
- :func:`results`: the holdout comparison with its sentence;
- :func:`transports`: the senders the project's settings describe.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from percorso.activation import holdout
from percorso.activation.email import SmtpSender, build_message, render, unsubscribe_token
from percorso.activation.model import Journey, action_channel, flatten
from percorso.activation.outbox import DispatchReport, Transport, dispatch, dispatch_lock, utcnow
from percorso.activation.runner import RunReport, _condition_members, run_journeys
from percorso.activation.settings import activation_settings
from percorso.activation.store import load_journeys
from percorso.activation.triggers import occurrences
from percorso.engine import activation_sql as S


def transports(project: Any) -> dict[str, Transport]:
    """E-mail over SMTP, webhooks (and SMS / WhatsApp / push gateways) over signed HTTP;
    audiences and tasks are recorded as sent and written as files by :func:`write_lists`."""
    cfg = activation_settings(project.settings)
    smtp = SmtpSender(cfg.smtp_host, cfg.smtp_port, starttls=cfg.smtp_starttls)
    secret = project.secret
    locale = project.settings.project.locale

    def email(msg: dict[str, Any], person: dict[str, Any]) -> tuple[str, str | None]:
        if not person.get("email"):
            return "failed", "no_contact: the customer has no e-mail address"
        action = json.loads(msg["action"])
        url = f"{cfg.public_url.rstrip('/')}/v1/activation/unsubscribe?t=" + unsubscribe_token(
            secret, msg["customer_id"], "email")
        ctx = {"first_name": person.get("first_name"), "last_name": person.get("last_name"),
               "customer_id": msg["customer_id"], "journey": msg["journey"], "unsubscribe_url": url}
        subject, body = render(action["template"], locale, ctx, project.root)
        return smtp.send(build_message(key=msg["message_key"], sender=cfg.smtp_from, to=str(person["email"]),
                                       subject=subject, body=body, unsubscribe_url=url))

    def hook(msg: dict[str, Any], person: dict[str, Any]) -> tuple[str, str | None]:
        from percorso.activation.webhook import post

        action = json.loads(msg["action"])
        payload = {"journey": msg["journey"], "step": msg["step"], "customer_id": msg["customer_id"],
                   "channel": msg["channel"], "phone": person.get("phone"), "email": person.get("email"),
                   "first_name": person.get("first_name"), **action.get("payload", {})}
        key = (cfg.webhook_secret.encode() if cfg.webhook_secret else secret)
        out = post(action["url"], payload, secret=key, key=msg["message_key"], allow=cfg.webhook_allow)
        return out.status, out.error

    def record(msg: dict[str, Any], person: dict[str, Any]) -> tuple[str, str | None]:
        return "sent", None

    return {"email": email, "webhook": hook, "sms": hook, "whatsapp": hook, "push": hook,
            "audience": record, "task": record}


#: How far back a live beat looks for trigger occurrences: enabling a journey on a project with
#: years of history acts on yesterday's abandoned carts, never on last year's.
LOOKBACK = timedelta(days=1)


def tick(project: Any, *, now: datetime | None = None, since: datetime | None = None, send: bool = True,
         senders: dict[str, Transport] | None = None, wait: bool = True,
         kinds: tuple[str, ...] | None = None) -> tuple[RunReport, DispatchReport | None]:
    """One beat of the scheduler: run the enabled journeys (occurrences since ``since``, default
    one day before ``now``), then send what is due. One beat at a time per database
    (the server's 5-second beat and the collector's hook run on two threads); with
    ``wait=False`` a beat that finds another one running does nothing (the server's beat, on the
    database worker every page and API read goes through, must not wait for the hook's sends).
    ``kinds`` limits enrolment to journeys with those trigger kinds (``event``, ``segment``,
    ``date``); what is due is sent whatever its journey."""
    engine = project.engine
    lock = dispatch_lock(engine)
    if not lock.acquire(blocking=wait):
        return RunReport(), None
    try:  # the clock is read once the lock is ours: a beat that waited acts now
        at = now or utcnow()
        since = since if since is not None else at - LOOKBACK
        journeys = [j for j in load_journeys(project.root) if kinds is None or j.trigger.kind in kinds]
        report = run_journeys(engine, project.secret, journeys, now=at,
                              zone=project.settings.project.time_zone, since=since)
        sent = None
        if send:
            sent = dispatch(engine, project.settings, senders if senders is not None else transports(project),
                            now=(lambda: at) if now is not None else utcnow)
    finally:
        lock.release()
    return report, sent


def on_micro_batch(project: Any, *, now: datetime | None = None) -> tuple[RunReport, DispatchReport | None]:
    """The collector's hook, called after each micro-batch is built and its saved segments
    refreshed. The build's own hook (:func:`after_build`) has just enrolled and moved the event-
    and date-triggered journeys, so only the segment-triggered ones enrol here (their segments
    are fresh only now); then everything due is sent. Enrolling the others a second time cost a
    scan of the day's touchpoints per micro-batch (the build's activation step: 5.6 s of a
    20,000-event micro-batch under load 20). A replayed batch enrols nothing twice (the keys)."""
    return tick(project, now=now, kinds=("segment",))


def after_build(project: Any) -> dict[str, dict[str, int]]:
    """The build's hook: the enabled journeys enrol and move over what was built (idempotent by
    key); sending is the scheduler's (``percorso serve`` or ``percorso journey run``), so a
    build never mails anybody. A project without enabled journeys is not touched."""
    if not any(j.enabled for j in load_journeys(project.root)):
        return {}
    report, _ = tick(project, send=False)
    return report.counts


def preview(project: Any, journey: Journey, *, now: datetime | None = None, limit: int = 1000) -> pd.DataFrame:
    """Who would enter ``journey`` now and what each would get; nothing is written or sent.

    Branches are evaluated now; waits are shown, not waited. ``variant`` is the customer's
    stable holdout assignment (a ``control`` customer would get nothing).
    """
    at = now or utcnow()
    engine = project.engine
    occ = engine.execute(occurrences(engine, journey.trigger, at, project.settings.project.time_zone, at - LOOKBACK)
                         .order_by("customer_id", "triggered_at").limit(limit * 10))
    occ = occ.drop_duplicates("customer_id").head(limit).reset_index(drop=True)
    if occ.empty:
        return pd.DataFrame(columns=["customer_id", "occurrence", "triggered_at", "variant", "actions"])
    occ["variant"] = holdout.variants(project.secret, journey.name, occ["customer_id"], journey.holdout)
    group = occ.assign(enrolment_id=occ["customer_id"], due_at=at)
    nodes = {n.id: n for n in flatten(journey.steps)}
    taken: dict[str, list[str]] = {c: [] for c in occ["customer_id"]}
    frontier = {flatten(journey.steps)[0].id: group}
    for _ in range(len(nodes) + 1):
        nxt: dict[str, pd.DataFrame] = {}
        for node_id, g in frontier.items():
            if node_id is None or g.empty:
                continue
            node = nodes[node_id]
            if node.step.kind == "branch":
                yes = _condition_members(engine, node.step.condition, g)
                for target, part in ((node.then, g[g["enrolment_id"].isin(yes)]),
                                     (node.otherwise, g[~g["enrolment_id"].isin(yes)])):
                    nxt[target] = pd.concat([nxt.get(target, part.iloc[0:0]), part])
                continue
            if node.step.kind == "act":
                label = f"{action_channel(node.step.action)}:{node.step.name or node.id}"
                for c in g["customer_id"]:
                    taken[c].append(label)
            elif node.step.kind == "wait":
                for c in g["customer_id"]:
                    taken[c].append(f"wait {node.step.duration // 3600}h")
            else:
                for c in g["customer_id"]:
                    taken[c].append("wait_until " + (node.step.event or "window"))
            nxt[node.next] = pd.concat([nxt.get(node.next, g.iloc[0:0]), g])
        frontier = {k: v for k, v in nxt.items() if k is not None}
        if not frontier:
            break
    occ["actions"] = [" → ".join(taken[c]) if v == "treated" else "(controllo / control: nothing)"
                      for c, v in zip(occ["customer_id"], occ["variant"])]
    return occ[["customer_id", "occurrence", "triggered_at", "variant", "actions"]]


def results(project: Any, journey: Journey) -> tuple[pd.DataFrame, dict[str, str]]:
    """The results table and the journey's sentence in Italian and English."""
    from percorso.activation.results import journey_results, sentence

    S.ensure_activation_tables(project.engine)
    frame = journey_results(project.engine, journey)
    row = frame.iloc[0].to_dict()
    return frame, {"it": sentence(row, "it"), "en": sentence(row, "en")}


def action_log(project: Any, journey: str | None = None, limit: int = 1000) -> pd.DataFrame:
    """The action log: journey, step, customer, variant, channel, status, reason, error, times."""
    engine = project.engine
    S.ensure_activation_tables(engine)
    o = engine.table("activation_outbox")
    if journey:
        o = o.filter(o.journey == journey)
    return engine.execute(o.select("journey", "step", "customer_id", "variant", "channel", "status", "reason",
                                   "error", "attempts", "due_at", "sent_at", "message_key")
                          .order_by("due_at", "message_key").limit(limit))


def write_lists(project: Any, journey: Journey, out_dir: Any) -> dict[str, int]:
    """Audience files (Google / Meta / CSV) and task lists of the journey's sent audience and task actions."""
    from pathlib import Path

    from percorso.activation.audience import write_audience, write_tasks

    engine = project.engine
    o = engine.table("activation_outbox")
    sent = engine.execute(o.filter((o.journey == journey.name) & (o.status == "sent")
                                   & o.channel.isin(["audience", "task"])))
    written: dict[str, int] = {}
    if sent.empty:
        return written
    c = engine.table("customers")
    people = engine.execute(c.filter(c.customer_id.isin(sorted(set(sent["customer_id"])))))
    # the sent people's contacts, opened from the vault for the files (Google / Meta hash them)
    from percorso.privacy.contacts import open_contacts

    people = open_contacts(engine, project.settings, people)
    out = Path(out_dir)
    for action_text, part in sent.groupby("action"):
        action = json.loads(str(action_text))
        who = people[people["customer_id"].isin(part["customer_id"])]
        if action["kind"] == "audience":
            path = out / f"{journey.name}_{action['audience']}_{action['format']}.csv"
            written[path.name] = write_audience(path, action["format"], who)
        else:
            tasks = part.merge(who, on="customer_id", how="left")
            tasks["queue"], tasks["note"], tasks["journey"] = action["queue"], action.get("note", ""), journey.name
            tasks["due_at"] = tasks["sent_at"]
            tasks["store_id"] = tasks["home_store"] if action["queue"] == "store" else None
            for queue, q in tasks.groupby(tasks["store_id"].fillna("call_center")):
                path = out / f"{journey.name}_tasks_{queue}.csv"
                written[path.name] = write_tasks(path, q)
    return written


__all__ = ["action_log", "after_build", "on_micro_batch", "preview", "results", "tick", "transports", "write_lists"]
