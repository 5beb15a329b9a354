"""Trigger occurrences as Ibis expressions over the built tables.

Why over ``touchpoints`` and ``orders``: the collector's micro-batches and every build end in
the same tables, so one evaluation serves both paths, and the engine does the work (an
anti-join for "no purchase within 2 hours", not a Python loop over events).

Each function returns rows ``customer_id, occurrence, triggered_at, ready_at``:
``occurrence`` names the trigger occurrence (the event id, the segment entry time, the date
rule's day) and with the journey and the customer forms the enrolment key; ``ready_at`` is
when the journey may start (the end of the "within" time of an ``unless`` trigger).
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import Any

import ibis

from percorso.activation.model import DateTrigger, EventTrigger, SegmentTrigger
from percorso.build.details import with_details
from percorso.engine.localtime import local_value
from percorso.errors import InputError

#: ``purchase`` in a trigger, an exit or a goal means a purchase order online or in store.
EVENT_FAMILIES = {"purchase": ("purchase", "receipt")}


def event_types(name: str) -> list[str]:
    """The touchpoint event types a name in a journey stands for."""
    return list(EVENT_FAMILIES.get(name, (name,)))


def _filter(t: Any, f: Any) -> Any:
    col = t[f.field]
    if f.op == "contains":
        return col.cast("string").lower().contains(str(f.value).lower())
    value = ibis.literal(f.value)
    return {"=": col == value, "!=": col != value, ">": col > value, ">=": col >= value,
            "<": col < value, "<=": col <= value}[f.op]


def event_occurrences(engine: Any, trig: EventTrigger, now: datetime, since: datetime | None) -> Any:
    t = engine.table("touchpoints")
    ev = t.filter(t.event_type.isin(event_types(trig.event_type)) & (t.occurred_at <= now))
    if since is not None:
        ev = ev.filter(ev.occurred_at >= since - timedelta(seconds=trig.within))
    # a condition on a detail (``page_url``) reads it from the event (ADR 0061)
    ev = with_details(engine, ev, [f.field for f in trig.where])
    for f in trig.where:
        ev = ev.filter(_filter(ev, f))
    ev = ev.select("customer_id", "event_id", "occurred_at")
    within = ibis.interval(seconds=trig.within)
    ev = ev.mutate(ready_at=ev.occurred_at + within)
    if trig.unless:
        u = t.filter(t.event_type.isin(event_types(trig.unless))).select(
            u_customer=t.customer_id, u_at=t.occurred_at)
        hit = ev.join(u, (ev.customer_id == u.u_customer) & (u.u_at > ev.occurred_at) & (u.u_at <= ev.ready_at))
        ev = ev.anti_join(hit.select("event_id"), "event_id")
    ev = ev.filter(ev.ready_at <= now)
    return ev.select("customer_id", occurrence=ev.event_id, triggered_at=ev.occurred_at, ready_at=ev.ready_at)


def segment_occurrences(engine: Any, trig: SegmentTrigger, now: datetime, since: datetime | None) -> Any:
    if not engine.has_table("segment_membership"):
        raise InputError(f"segment trigger {trig.segment!r}: no saved segments yet (percorso segment save …)",
                         code="segment_unknown")
    m = engine.table("segment_membership")
    col = m.entered_at if trig.on == "enter" else m.left_at
    rows = m.filter((m.name == trig.segment) & col.notnull() & (col <= now))
    if since is not None:
        rows = rows.filter(col >= since)
    at = col.cast("timestamp")
    return rows.select("customer_id", occurrence=ibis.literal(f"{trig.on}:") + at.cast("string"),
                       triggered_at=at, ready_at=at)


def date_occurrences(engine: Any, trig: DateTrigger, now: datetime, zone: str) -> Any:
    """Date rules on the local calendar: the customers whose rule day is today (local)."""
    today = local_value(now, zone).date()
    o = engine.table("orders")
    o = o.filter(~o.is_return.fill_null(False))
    per = o.group_by("customer_id").aggregate(first=o.occurred_at_local.min(), last=o.occurred_at_local.max())
    now_lit = ibis.literal(now)
    if trig.rule == "days_since_last_purchase":
        day = per["last"].date()
        hit = per.filter(day == ibis.literal(today - timedelta(days=trig.days)))
        occ = ibis.literal("dslp:") + day.cast("string")
    elif trig.rule == "purchase_anniversary":
        target = today + timedelta(days=trig.days)
        day = per["first"].date()
        hit = per.filter((day.month() == target.month) & (day.day() == target.day) & (day.year() < target.year))
        occ = ibis.literal(f"anniversary:{target.year}")
    else:
        c = engine.table("customers")
        if "birth_date" not in c.columns:
            raise InputError("birthday trigger: the customer profile has no birth_date (no CRM or loyalty "
                             "source maps one)", code="trait_missing")
        target = today + timedelta(days=trig.days)
        bd = c.birth_date.cast("date")
        on_day = (bd.month() == target.month) & (bd.day() == target.day)
        if (target.month, target.day) == (2, 28) and not calendar.isleap(target.year):
            on_day |= (bd.month() == 2) & (bd.day() == 29)  # born on 29 February: the 28th when there is none
        hit = c.filter(on_day & (bd < ibis.literal(target))).select("customer_id")
        occ = ibis.literal(f"birthday:{target.year}")
    return hit.select("customer_id", occurrence=occ, triggered_at=now_lit, ready_at=now_lit)


def occurrences(engine: Any, trigger: Any, now: datetime, zone: str, since: datetime | None = None) -> Any:
    """The occurrences of ``trigger`` ready by ``now`` (and, with ``since``, not older than it)."""
    if trigger.kind == "event":
        return event_occurrences(engine, trigger, now, since)
    if trigger.kind == "segment":
        return segment_occurrences(engine, trigger, now, since)
    return date_occurrences(engine, trigger, now, zone)


__all__ = ["EVENT_FAMILIES", "event_types", "occurrences"]
