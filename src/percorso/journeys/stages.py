"""Journey stages: which stage of the customer journey each touchpoint belongs to.

Why: the journey map (stage × channel) is the customer journey map of the marketing
literature built from data; it needs every touchpoint to carry a stage at build time, decided
by editable rules (``[stages]`` in ``percorso.toml``) rather than code. A rule matches on
event types, channels and property values (all optional, all must hold); the first rule that
matches gives the stage; a touchpoint no rule matches keeps ``NULL``.

``percorso.toml``::

    [stages]
    order = ["awareness", "consideration", "decision", "purchase", "post_purchase", "advocacy"]

    [[stages.rules]]
    stage = "decision"
    event_types = ["add_to_cart", "checkout"]

    [[stages.rules]]
    stage = "consideration"
    channels = ["Call center"]
    where = { reason = "product_info" }

    [[stages.rules]]
    stage = "advocacy"
    where = { referral = true, plan = ["gold", "platinum"] }   # a list: any of the values

``where`` values are compared with the property's JSON type: ``true`` matches a JSON boolean,
``5`` a JSON number, ``"5"`` a JSON string; a missing property never matches. A rule with no
condition matches every touchpoint (a catch-all, useful as the last rule).

Contract used by the build (do not change the signature):
``assign_stages(touchpoints, stage_settings) -> touchpoints with a filled "stage" column``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError, field_validator

from percorso.engine.dialect import json_value
from percorso.errors import ConfigError, suggest

#: Default stage order (the journey repeats: after a purchase a customer re-enters consideration).
DEFAULT_STAGE_ORDER: tuple[str, ...] = (
    "awareness", "consideration", "decision", "purchase", "post_purchase", "advocacy",
)

#: Default stage rules, first match wins; a touchpoint no rule matches keeps ``NULL``.
DEFAULT_STAGE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("purchase", ("purchase", "receipt")),
    ("post_purchase", ("return", "refund", "delivery", "support_ticket")),
    ("advocacy", ("review",)),
    ("decision", ("add_to_cart", "remove_from_cart", "checkout", "checkout_error", "coupon_redeemed")),
    ("consideration", (
        "page_view", "screen_view", "product_view", "search", "ad_click", "email_open", "email_click",
        "store_visit", "call", "sales_meeting", "login", "signup", "newsletter_signup", "loyalty_signup",
    )),
    ("awareness", ("ad_impression", "email_sent", "flyer_received", "fair_visit")),
)

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


#: A property value a rule can ask for (booleans first: ``true`` is not the number 1).
PropertyValue = StrictBool | StrictInt | StrictFloat | StrictStr


class StageRule(BaseModel):
    """One stage rule: every given condition must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: str
    event_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    where: dict[str, PropertyValue | tuple[PropertyValue, ...]] = Field(default_factory=dict)

    @field_validator("where")
    @classmethod
    def _plain_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not _KEY.match(k)]
        if bad:
            raise ValueError(f"property names must be plain names (letters, digits, _ . -): {bad}")
        empty = [k for k, v in value.items() if isinstance(v, tuple) and not v]
        if empty:
            raise ValueError(f"property {empty[0]!r} has an empty list of values: give at least one")
        return value


class StageSettings(BaseModel):
    """``[stages]``: the stage order and the rules (defaults when absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    order: tuple[str, ...] = DEFAULT_STAGE_ORDER
    rules: tuple[StageRule, ...] = tuple(StageRule(stage=s, event_types=t) for s, t in DEFAULT_STAGE_RULES)

    @field_validator("order")
    @classmethod
    def _order(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("the stage order is empty: list the stages from first to last")
        dup = sorted({s for s in value if value.count(s) > 1})
        if dup:
            raise ValueError(f"stage(s) {dup} appear more than once in the order")
        return value


def stage_settings(raw: Mapping[str, Any] | StageSettings | None) -> StageSettings:
    """Validate ``[stages]``; errors name the key and what is allowed."""
    if isinstance(raw, StageSettings):
        return raw
    try:
        settings = StageSettings.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise ConfigError(_message(exc.errors()[0])) from None
    for i, rule in enumerate(settings.rules):
        if rule.stage not in settings.order:
            raise ConfigError(f"percorso.toml [stages.rules.{i}.stage]: stage '{rule.stage}' is not in stages.order; "
                              f"{suggest(rule.stage, settings.order)} (add it to order or fix the name)")
    return settings


_RULE_KEYS = ("stage", "event_types", "channels", "where")


def _message(err: Mapping[str, Any]) -> str:
    """One line naming the ``[stages]`` key at fault and what is allowed there."""
    loc = [str(x) for x in err["loc"]]
    head = f"percorso.toml [stages.{'.'.join(loc)}]"
    if err["type"] == "extra_forbidden":
        allowed = _RULE_KEYS if len(loc) > 1 and loc[0] == "rules" else ("order", "rules")
        return f"{head}: unknown key '{loc[-1]}'; {suggest(loc[-1], allowed)}"
    if "where" in loc:
        key = ".".join(loc[: loc.index("where") + 2])  # without pydantic's union member suffix
        return (f"percorso.toml [stages.{key}]: {err['msg']}; a property value is text, a number, "
                'true/false or a list of them, e.g. where = { plan = ["gold", "silver"] }')
    return (f"{head}: {err['msg']}; [stages] takes order (list of stage names) and rules "
            "(each: stage, event_types, channels, where)")


def _condition(t: ir.Table, rule: StageRule) -> ir.BooleanValue:
    cond: ir.BooleanValue = ibis.literal(True)
    if rule.event_types:
        cond = cond & t.event_type.isin(list(rule.event_types))
    if rule.channels:
        cond = cond & t.channel.isin(list(rule.channels))
    for key, wanted in rule.where.items():
        options = wanted if isinstance(wanted, tuple) else (wanted,)
        match: ir.BooleanValue = ibis.literal(False)
        for value in options:
            found = json_value(t.properties, key, _JSON_TYPE[type(value)])
            match = match | (found == value).fill_null(False)
        cond = cond & match
    return cond


#: How a property is read for a compared value (a JSON value of another type reads as NULL).
_JSON_TYPE = {bool: "boolean", int: "int64", float: "float64", str: "string"}


def assign_stages(touchpoints: ir.Table, stage_settings_raw: Mapping[str, Any] | None = None) -> ir.Table:
    """Return ``touchpoints`` with its ``stage`` column set by the stage rules (first match wins)."""
    settings = stage_settings(stage_settings_raw)
    cases = [(_condition(touchpoints, r), ibis.literal(r.stage)) for r in settings.rules]
    stage = ibis.cases(*cases, else_=ibis.null().cast("string")) if cases else ibis.null().cast("string")
    return touchpoints.mutate(stage=stage)


def stage_rank(stage: ir.StringValue, order: tuple[str, ...]) -> ir.IntegerValue:
    """Position of a stage in the stage order (0-based; NULL for unknown or missing)."""
    return ibis.cases(*((stage == name, i) for i, name in enumerate(order)), else_=ibis.null().cast("int64"))
