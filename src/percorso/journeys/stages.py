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

Contract used by the build (do not change the signature):
``assign_stages(touchpoints, stage_settings) -> touchpoints with a filled "stage" column``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from percorso.errors import ConfigError

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


class StageRule(BaseModel):
    """One stage rule: every given condition must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: str
    event_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    where: dict[str, str] = Field(default_factory=dict)

    @field_validator("where")
    @classmethod
    def _plain_keys(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not _KEY.match(k)]
        if bad:
            raise ValueError(f"property names must be plain names (letters, digits, _ . -): {bad}")
        return value


class StageSettings(BaseModel):
    """``[stages]``: the stage order and the rules (defaults when absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    order: tuple[str, ...] = DEFAULT_STAGE_ORDER
    rules: tuple[StageRule, ...] = tuple(StageRule(stage=s, event_types=t) for s, t in DEFAULT_STAGE_RULES)


def stage_settings(raw: Mapping[str, Any] | StageSettings | None) -> StageSettings:
    """Validate ``[stages]``; errors name the key and what is allowed."""
    if isinstance(raw, StageSettings):
        return raw
    try:
        settings = StageSettings.model_validate(dict(raw or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "stages." + ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"percorso.toml [{where}]: {err['msg']}; allowed keys: order, rules "
                          "(each rule: stage, event_types, channels, where)") from None
    unknown = sorted({r.stage for r in settings.rules} - set(settings.order))
    if unknown:
        raise ConfigError(f"percorso.toml [stages.rules]: stage(s) {unknown} are not in stages.order "
                          f"{list(settings.order)}; add them to order or fix the name")
    return settings


def _condition(t: ir.Table, rule: StageRule) -> ir.BooleanValue:
    cond: ir.BooleanValue = ibis.literal(True)
    if rule.event_types:
        cond = cond & t.event_type.isin(list(rule.event_types))
    if rule.channels:
        cond = cond & t.channel.isin(list(rule.channels))
    for key, value in rule.where.items():
        cond = cond & (t.properties.cast("json")[key].unwrap_as("string") == value).fill_null(False)
    return cond


def assign_stages(touchpoints: ir.Table, stage_settings_raw: Mapping[str, Any] | None = None) -> ir.Table:
    """Return ``touchpoints`` with its ``stage`` column set by the stage rules (first match wins)."""
    settings = stage_settings(stage_settings_raw)
    cases = [(_condition(touchpoints, r), ibis.literal(r.stage)) for r in settings.rules]
    stage = ibis.cases(*cases, else_=ibis.null().cast("string")) if cases else ibis.null().cast("string")
    return touchpoints.mutate(stage=stage)


def stage_rank(stage: ir.StringValue, order: tuple[str, ...]) -> ir.IntegerValue:
    """Position of a stage in the stage order (0-based; NULL for unknown or missing)."""
    return ibis.cases(*((stage == name, i) for i, name in enumerate(order)), else_=ibis.null().cast("int64"))
