"""A segment definition is data: a typed predicate tree (never code, never an SQL string).

Nodes: ``and`` / ``or`` (list of rules), ``not`` (one rule), ``compare`` (a profile field from
:data:`FIELDS`, an operator, a value) and ``behaviour`` (bought in store / online, visited
the site, optionally within the last N days). Example::

    {"type": "and", "rules": [
        {"type": "behaviour", "action": "bought_in_store"},
        {"type": "behaviour", "action": "visited_site", "within_days": 30},
        {"type": "not", "rule": {"type": "behaviour", "action": "bought_online"}},
        {"type": "compare", "field": "consent_marketing", "op": "eq", "value": true}]}
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from percorso.errors import InputError, suggest

#: Allowlisted profile fields → where they come from (table) and kind.
FIELDS: dict[str, tuple[str, str]] = {
    "n_orders": ("customers", "number"), "revenue": ("customers", "number"),
    "n_touchpoints": ("customers", "number"), "consent_marketing": ("customers", "bool"),
    "consent_profiling": ("customers", "bool"), "is_identified": ("customers", "bool"),
    "city": ("customers", "text"), "province": ("customers", "text"),
    "first_channel": ("customers", "text"), "home_store": ("customers", "text"),
    "clv": ("customer_value", "number"), "p_alive": ("customer_value", "number"),
    "expected_purchases": ("customer_value", "number"), "rfm_segment": ("rfm", "text"),
    "recency_days": ("rfm", "number"), "frequency": ("rfm", "number"), "monetary": ("rfm", "number"),
}
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compare(_Node):
    type: Literal["compare"] = "compare"
    field: str
    op: Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]
    value: bool | float | str | list[float | str]

    @field_validator("field")
    @classmethod
    def _field(cls, v: str) -> str:
        if v not in FIELDS:
            raise ValueError(f"unknown field '{v}'; {suggest(v, FIELDS)}")
        return v


class Behaviour(_Node):
    type: Literal["behaviour"] = "behaviour"
    action: Literal["bought_in_store", "bought_online", "visited_site"]
    within_days: int | None = Field(None, ge=1)


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
