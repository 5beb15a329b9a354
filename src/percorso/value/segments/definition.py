"""A segment definition is data: a typed predicate tree (never code, never an SQL string).

Nodes: ``and`` / ``or`` (list of rules), ``not`` (one rule), ``compare`` (a profile field from
:data:`FIELDS`, an operator, a value) and ``behaviour`` (one of :data:`ACTIONS`, at least
``min_count`` times, optionally within the last ``within_days`` days). Example, "bought in
store, visited the site in the last 30 days, never bought online, gave marketing consent"::

    {"type": "and", "rules": [
        {"type": "behaviour", "action": "bought_in_store"},
        {"type": "behaviour", "action": "visited_site", "within_days": 30},
        {"type": "not", "rule": {"type": "behaviour", "action": "bought_online"}},
        {"type": "compare", "field": "consent_marketing", "op": "eq", "value": true}]}

Cart abandoners of the last 7 days (added to cart, bought nothing since, anywhere)::

    {"type": "behaviour", "action": "abandoned_cart", "within_days": 7}
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from percorso.errors import InputError, suggest

#: Allowlisted profile fields → where they come from and their kind. ``customers``: the
#: profile; ``rfm``: :func:`percorso.value.rfm.rfm_expr`; ``customer_value`` and ``churn``:
#: the last CLV fit (``percorso clv fit``); ``health``: the health index with the project's
#: weights; ``personas``: the last ``percorso personas`` run.
FIELDS: dict[str, tuple[str, str]] = {
    "n_orders": ("customers", "number"), "revenue": ("customers", "number"),
    "n_touchpoints": ("customers", "number"), "consent_marketing": ("customers", "bool"),
    "consent_profiling": ("customers", "bool"), "is_identified": ("customers", "bool"),
    "city": ("customers", "text"), "province": ("customers", "text"),
    "first_channel": ("customers", "text"), "home_store": ("customers", "text"),
    "current_stage": ("customers", "text"),
    "clv": ("customer_value", "number"), "p_alive": ("customer_value", "number"),
    "expected_purchases": ("customer_value", "number"),
    "churn_risk_level": ("churn", "text"), "clv_at_stake": ("churn", "number"),
    "rfm_segment": ("rfm", "text"), "rfm_score": ("rfm", "text"),
    "recency_days": ("rfm", "number"), "frequency": ("rfm", "number"), "monetary": ("rfm", "number"),
    "health_score": ("health", "number"), "health_band": ("health", "text"),
    "persona": ("personas", "number"),
}
#: Behaviours and what one occurrence is (``min_count`` counts these).
ACTIONS: dict[str, str] = {
    "bought_in_store": "purchase order not online (returns excluded)",
    "bought_online": "purchase order online (returns excluded)",
    "returned": "return order",
    "visited_site": "session with a touchpoint from the web site or the app (source_system web/app)",
    "visited_store": "day with a store visit, receipt or return at a store (event_type store_visit/receipt/return)",
    "opened_email": "email_open touchpoint",
    "clicked_email": "email_click touchpoint",
    "called": "call-center contact (channel Call center)",
    "viewed_product": "product_view touchpoint",
    "added_to_cart": "add_to_cart touchpoint",
    "started_checkout": "checkout touchpoint",
    "abandoned_browse": "product_view with no add_to_cart and no purchase order at or after it",
    "abandoned_cart": "add_to_cart with no purchase order (online or in store) at or after it",
    "abandoned_checkout": "checkout with no purchase order (online or in store) at or after it",
}
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in")


def _one_of(value: str, allowed: dict[str, object], what: str) -> str:
    """``value`` when allowed, else an error naming it with the close and valid choices."""
    if value not in allowed:
        raise ValueError(f"unknown {what} '{value}'; {suggest(value, allowed)}")
    return value


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compare(_Node):
    type: Literal["compare"] = "compare"
    field: str
    op: Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]
    value: bool | float | str | list[float | str]

    _field = field_validator("field")(lambda v: _one_of(v, FIELDS, "field"))


class Behaviour(_Node):
    """The customer did ``action`` at least ``min_count`` times (in the last ``within_days``
    days before the last touchpoint of the data, when given)."""

    type: Literal["behaviour"] = "behaviour"
    action: str
    within_days: int | None = Field(None, ge=1)
    min_count: int = Field(1, ge=1)

    _action = field_validator("action")(lambda v: _one_of(v, ACTIONS, "action"))


class And(_Node):
    type: Literal["and"] = "and"
    rules: list[Rule] = Field(min_length=1)


class Or(_Node):
    type: Literal["or"] = "or"
    rules: list[Rule] = Field(min_length=1)


class Not(_Node):
    type: Literal["not"] = "not"
    rule: Rule


Rule = Annotated[Union[Compare, Behaviour, And, Or, Not], Field(discriminator="type")]  # noqa: UP007


class Definition(_Node):
    rule: Rule


def parse_rule(text: str | dict) -> Compare | Behaviour | And | Or | Not:
    """Validate a rule from JSON text or a dict; errors name the bad node and the valid choices."""
    try:
        if isinstance(text, str):
            return Definition.model_validate_json('{"rule": ' + text + "}").rule
        return Definition.model_validate({"rule": text}).rule
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:])}: {e['msg']}" for e in exc.errors()[:5])
        raise InputError(f"invalid segment rule: {msgs}", code="segment_invalid") from None


def fields_used(rule: object) -> set[str]:
    if isinstance(rule, Compare):
        return {rule.field}
    if isinstance(rule, (And, Or)):
        return set().union(*(fields_used(r) for r in rule.rules))
    if isinstance(rule, Not):
        return fields_used(rule.rule)
    return set()
