"""Journey stages: which stage of the customer journey each touchpoint belongs to.

Why: the journey map (stage × channel) is the customer journey map of the marketing
literature built from data; it needs every touchpoint to carry a stage at build time, decided
by editable rules (``[stages]`` in ``percorso.toml``) rather than code.

Contract used by the build (do not change the signature):
``assign_stages(touchpoints, stage_settings) -> touchpoints with a filled "stage" column``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

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


def assign_stages(touchpoints: ir.Table, stage_settings: Mapping[str, Any] | None = None) -> ir.Table:
    """Return ``touchpoints`` with its ``stage`` column set by the stage rules."""
    del stage_settings  # the rule language over channel and properties comes with issue 3
    stage: ir.StringValue = ibis.null().cast("string")
    for name, types in reversed(DEFAULT_STAGE_RULES):
        stage = touchpoints.event_type.isin(types).ifelse(ibis.literal(name), stage)
    return touchpoints.mutate(stage=stage)
