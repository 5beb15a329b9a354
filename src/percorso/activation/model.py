"""A journey as typed data: trigger, steps, exit conditions, goal, holdout.

Why typed data and not code: a CRM manager writes a journey as a file in the project
(``activation/<name>.json``), the API takes the same JSON, and the dashboard shows it; one
pydantic model validates all three, so a misspelt event type or a wait of "2 hours" fails
with one line naming the field, before anything is sent to anybody.

Shape (every step and trigger has a ``kind``)::

    {"name": "carrello_abbandonato", "trigger": {"kind": "event", "event_type": "add_to_cart",
     "unless": "purchase", "within": "2h"},
     "steps": [{"kind": "wait", "duration": "1h"},
               {"kind": "branch", "condition": {"kind": "profile", "field": "n_orders", "op": ">", "value": 0},
                "then": [{"kind": "act", "action": {"kind": "email", "template": "cart_loyal"}}],
                "otherwise": [{"kind": "act", "action": {"kind": "email", "template": "cart"}}]}],
     "exit": ["purchase"], "goal": {"event_type": "purchase", "window": "7d"}}

The steps compile to a flat list of nodes (:func:`flatten`) so the scheduler moves every
enrolment that waits at the same node in one vectorised pass.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from percorso.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")

#: Purposes a message may be sent for (the privacy room's consent purposes).
PURPOSES = ("marketing", "service")
#: Channels an action reaches a customer on; caps and touchpoints are per channel.
CHANNELS = ("email", "sms", "whatsapp", "push", "webhook", "audience", "task")
#: The channel each action kind's touchpoint takes in the timeline (GA4 / offline names).
TIMELINE_CHANNEL = {"email": "Email", "sms": "SMS", "whatsapp": "SMS", "push": "Mobile Push Notifications",
                    "webhook": "Unassigned", "audience": "Paid Social", "task": "Call center"}


def parse_duration(value: Any) -> int:
    """Seconds of ``"90s"``, ``"15m"``, ``"2h"``, ``"30d"``, ``"1w"`` or a number of seconds.

    Examples
    --------
    >>> parse_duration("2h"), parse_duration("30d"), parse_duration(45)
    (7200, 2592000, 45)
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit, e.g. '2h'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration: use a number and s, m, h, d or w, e.g. '2h', '30d'")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 0:
        raise ValueError(f"{value!r}: a duration cannot be negative")
    return int(seconds)


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""Seconds; written in files as ``"2h"``, ``"30d"``…"""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- conditions ------------------------------------------------------------------------------
class PropertyFilter(_Model):
    """A condition on the triggering event: ``items contains 'materass'``, ``revenue >= 500``."""

    field: Literal["items", "revenue", "store_id", "channel", "page_url", "campaign", "source_system"]
    op: Literal["=", "!=", ">", ">=", "<", "<=", "contains"] = "="
    value: str | float


class ProfileCondition(_Model):
    """A condition on the customer profile (a column of ``customers``)."""

    kind: Literal["profile"] = "profile"
    field: Literal["n_orders", "revenue", "n_touchpoints", "consent_marketing", "home_store", "city",
                   "province", "first_channel", "current_stage", "is_identified"]
    op: Literal["=", "!=", ">", ">=", "<", "<=", "is_null", "not_null"] = "="
    value: str | float | bool | None = None


class EventCondition(_Model):
    """The customer had (``present``) or had not an event of ``event_type`` in the last ``within``."""

    kind: Literal["event"] = "event"
    event_type: str
    within: Duration = 30 * 86400
    present: bool = True


class SegmentCondition(_Model):
    """The customer is (or is not) in a saved segment now."""

    kind: Literal["segment"] = "segment"
    segment: str
    member: bool = True


Condition = Annotated[ProfileCondition | EventCondition | SegmentCondition, Field(discriminator="kind")]


# -- triggers --------------------------------------------------------------------------------
class EventTrigger(_Model):
    """An event with conditions; with ``unless`` + ``within`` it fires only when no ``unless``
    event followed within that time (cart abandonment: add_to_cart, unless purchase, 2h), at
    the end of that time. Store events (a receipt, a return) are events like any other."""

    kind: Literal["event"] = "event"
    event_type: str
    where: tuple[PropertyFilter, ...] = ()
    unless: str | None = None
    within: Duration = 0


class SegmentTrigger(_Model):
    """Entering or leaving a saved segment (churn risk became high, CLV decile 1, a persona)."""

    kind: Literal["segment"] = "segment"
    segment: str
    on: Literal["enter", "leave"] = "enter"


class DateTrigger(_Model):
    """A date rule, evaluated on the project's local calendar: ``days_since_last_purchase``
    equal to ``days``; ``purchase_anniversary`` (first purchase, ``days`` before);
    ``birthday`` (CRM/loyalty birth date, ``days`` before)."""

    kind: Literal["date"] = "date"
    rule: Literal["days_since_last_purchase", "purchase_anniversary", "birthday"]
    days: int = 0


Trigger = Annotated[EventTrigger | SegmentTrigger | DateTrigger, Field(discriminator="kind")]


# -- actions ---------------------------------------------------------------------------------
class EmailAction(_Model):
    """An e-mail through SMTP from a sandboxed template (``<template>.<locale>.txt``)."""

    kind: Literal["email"] = "email"
    template: str
    purpose: Literal["marketing", "service"] = "marketing"


class WebhookAction(_Model):
    """A signed POST to an endpoint; also the adapter for SMS, WhatsApp and push gateways."""

    kind: Literal["webhook"] = "webhook"
    url: str
    channel: Literal["sms", "whatsapp", "push", "webhook"] = "webhook"
    purpose: Literal["marketing", "service"] = "marketing"
    payload: dict[str, Any] = Field(default_factory=dict)


class AudienceAction(_Model):
    """Add the customer to an audience file (Google / Meta customer match, or CSV for the CRM)."""

    kind: Literal["audience"] = "audience"
    audience: str
    format: Literal["google", "meta", "csv"] = "csv"
    purpose: Literal["marketing", "service"] = "marketing"


class TaskAction(_Model):
    """A task for a store (the customer's home store) or the call center, with context."""

    kind: Literal["task"] = "task"
    queue: Literal["store", "call_center"] = "call_center"
    note: str = ""
    purpose: Literal["marketing", "service"] = "service"


Action = Annotated[EmailAction | WebhookAction | AudienceAction | TaskAction, Field(discriminator="kind")]


def action_channel(action: Any) -> str:
    """The channel caps and suppression are counted on."""
    if action.kind == "webhook":
        return action.channel
    return action.kind


# -- steps -----------------------------------------------------------------------------------
class Wait(_Model):
    kind: Literal["wait"] = "wait"
    duration: Duration


class OpeningHours(_Model):
    """A local time window: days of the week (0 = Monday) and hours ``[start, end)``."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    start_hour: int = Field(9, ge=0, le=23)
    end_hour: int = Field(19, ge=1, le=24)


class WaitUntil(_Model):
    """Wait until an event happens (``event``, up to ``timeout``) or until a local time window opens."""

    kind: Literal["wait_until"] = "wait_until"
    event: str | None = None
    window: OpeningHours | None = None
    timeout: Duration = 7 * 86400


class Act(_Model):
    kind: Literal["act"] = "act"
    action: Action
    name: str | None = None


class Branch(_Model):
    kind: Literal["branch"] = "branch"
    condition: Condition
    then: tuple[Step, ...] = ()
    otherwise: tuple[Step, ...] = ()


Step = Annotated[Wait | WaitUntil | Act | Branch, Field(discriminator="kind")]
Branch.model_rebuild()


class Goal(_Model):
    """The conversion the holdout results measure: ``purchase`` counts web orders and store receipts."""

    event_type: str = "purchase"
    window: Duration = 7 * 86400


class Journey(_Model):
    """One activation journey (file ``activation/<name>.json`` in the project)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    description: str = ""
    trigger: Trigger
    steps: tuple[Step, ...]
    exit: tuple[str, ...] = ()
    goal: Goal = Field(default_factory=Goal)
    holdout: float = Field(0.10, ge=0.0, le=0.9)
    reentry: Duration | None = None
    """None: a customer enters once; else again after this long since their last entry."""
    enabled: bool = False

    @field_validator("steps")
    @classmethod
    def _some_action(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        if not any(n.step.kind == "act" for n in flatten(v)):
            raise ValueError("a journey needs at least one 'act' step")
        return v


# -- the flat program the scheduler runs -----------------------------------------------------
class Node(_Model):
    """One step of the compiled journey: ``next`` is the node that follows (``None``: done)."""

    id: str
    step: Wait | WaitUntil | Act | Branch
    next: str | None
    then: str | None = None
    otherwise: str | None = None


def flatten(steps: tuple[Any, ...], prefix: str = "s", after: str | None = None) -> list[Node]:
    """Compile nested steps into nodes with ids such as ``s0``, ``s1.then.0``.

    Why: a branch's arms rejoin the step after the branch, so each node needs only ``next``
    (and a branch its two arm heads); the scheduler keeps one node id per enrolment.
    """
    nodes: list[Node] = []
    ids = [f"{prefix}{i}" if prefix == "s" else f"{prefix}.{i}" for i in range(len(steps))]
    for i, step in enumerate(steps):
        nxt = ids[i + 1] if i + 1 < len(steps) else after
        if step.kind == "branch":
            then_nodes = flatten(step.then, f"{ids[i]}.then", nxt)
            else_nodes = flatten(step.otherwise, f"{ids[i]}.else", nxt)
            nodes.append(Node(id=ids[i], step=step, next=nxt,
                              then=then_nodes[0].id if then_nodes else nxt,
                              otherwise=else_nodes[0].id if else_nodes else nxt))
            nodes += then_nodes + else_nodes
        else:
            nodes.append(Node(id=ids[i], step=step, next=nxt))
    return nodes


def journey_from_dict(raw: dict[str, Any], origin: str = "journey") -> Journey:
    """Validate ``raw``; a bad journey is one :class:`InputError` line naming the field."""
    from pydantic import ValidationError

    try:
        return Journey.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "journey"
        raise InputError(f"{origin}: {where}: {err['msg']} ({len(exc.errors())} problem(s) in all)",
                         code="journey_invalid") from None


__all__ = [
    "CHANNELS", "PURPOSES", "TIMELINE_CHANNEL", "Act", "AudienceAction", "Branch", "DateTrigger", "EmailAction",
    "EventCondition", "EventTrigger", "Goal", "Journey", "Node", "OpeningHours", "ProfileCondition",
    "PropertyFilter", "SegmentCondition", "SegmentTrigger", "TaskAction", "Wait", "WaitUntil", "WebhookAction",
    "action_channel", "flatten", "journey_from_dict", "parse_duration",
]
