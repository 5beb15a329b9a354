"""Typed ``[attribution]`` section of ``percorso.toml``.

Why a typed model here and not in ``config.py``: the root config reserves ``attribution`` as
a free dict so this package owns its vocabulary. :func:`attribution_settings` validates it
and raises :class:`~percorso.errors.ConfigError` naming the key, the bad value and what is
valid, so a marketer editing the TOML can fix it without reading code.

Example::

    [attribution]
    lookback_days = 30
    default_conversion = "purchase"
    half_life_days = 7
    direct = "ignore_unless_alone"      # GA4's convention; "credit" counts every touchpoint

    [attribution.conversions.lead]
    event_types = ["newsletter_signup"]
    value = 5.0
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from percorso.errors import ConfigError, suggest
from percorso.events.types import EVENT_TYPES

#: Touchpoint columns a journey node may be built from (``level``), plus the named combinations.
LEVELS: dict[str, tuple[str, ...]] = {
    "channel": ("channel",),
    "campaign": ("campaign",),
    "source_medium": ("utm_source", "utm_medium"),
    "channel_campaign": ("channel", "campaign"),
}
PROPERTY_COLUMNS = (
    "channel", "campaign", "utm_source", "utm_medium", "utm_campaign", "source_name", "source_system",
    "event_type", "event_name", "store_id", "region", "device_type", "coupon_code", "channel_rule",
    "stage", "online",
)

#: Prefix of a level read from a key of the touchpoint's ``properties`` JSON (``property.page_type``).
PROPERTY_PREFIX = "property."
#: A property key: a plain identifier, so a level name can never carry a JSON path or SQL.
_PROPERTY_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _check_types(values: list[str]) -> list[str]:
    for v in values:
        if v not in EVENT_TYPES:
            raise ValueError(f"unknown event type '{v}'; {suggest(v, EVENT_TYPES)}")
    return values


class ConversionDef(BaseModel):
    """One conversion: which touchpoints count as converting, and what each is worth."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_types: list[str]
    """Canonical event types that are this conversion (e.g. purchase, receipt)."""
    online: bool | None = None
    """True: only online ones; False: only offline (in store); unset: both."""
    value: str | float = "revenue"
    """``"revenue"`` (the touchpoint's revenue) or a fixed number per conversion."""
    label: str = ""

    @field_validator("event_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("needs at least one event type")
        return _check_types(v)

    @field_validator("value")
    @classmethod
    def _value(cls, v: str | float) -> str | float:
        if isinstance(v, str) and v != "revenue":
            raise ValueError(f"value '{v}' is neither 'revenue' nor a number")
        return v


def _default_conversions() -> dict[str, ConversionDef]:
    return {
        "purchase": ConversionDef(event_types=["purchase", "receipt"], label="acquisto (online o negozio)"),
        "purchase_online": ConversionDef(event_types=["purchase"], online=True, label="acquisto online"),
        "purchase_store": ConversionDef(event_types=["receipt"], online=False, label="acquisto in negozio"),
        "signup": ConversionDef(event_types=["signup", "loyalty_signup"], value=0.0, label="registrazione"),
        "lead": ConversionDef(event_types=["newsletter_signup"], value=0.0, label="contatto (lead)"),
    }


#: Not marketing touches: the conversion itself, in-funnel steps, identity plumbing, and sends
#: the customer may never have seen.
DEFAULT_EXCLUDED = [
    "purchase", "receipt", "return", "refund", "checkout", "checkout_error", "add_to_cart",
    "remove_from_cart", "identify", "alias", "login", "crm_update", "campaign_cost", "delivery",
    "email_bounce", "email_sent", "unsubscribe", "ad_impression",
]


class AttributionSettings(BaseModel):
    """The ``[attribution]`` section. Every field has a default fit for the demo retailer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    conversions: dict[str, ConversionDef] = Field(default_factory=_default_conversions)
    """Named conversion definitions; user entries are added to (or replace) the defaults."""
    default_conversion: str = "purchase"
    lookback_days: int = Field(30, ge=1, le=730)
    """Touchpoints older than this before a conversion are not credited to it; they form
    journeys without conversion (split where this many days pass between two touchpoints)."""
    exclude_event_types: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDED))
    """Event types that are never credited (internal navigation, the conversion itself…)."""
    one_touch_per_session: bool = True
    """Count only the first eligible touchpoint of each web/app session: later page views in
    the same visit are internal navigation, not a new marketing contact."""
    direct_channels: list[str] = Field(default_factory=lambda: ["Direct"])
    """Navigational channels: ignored by the ``direct`` convention and skipped by last
    non-direct touch."""
    direct: str = "ignore_unless_alone"
    """``ignore_unless_alone`` (GA4's convention, the default): touchpoints of a
    ``direct_channels`` channel are dropped from a journey that has any other touchpoint,
    before any model runs; ``credit``: every touchpoint counts. See ADR 0007."""
    half_life_days: float = Field(7.0, gt=0)
    position_first: float = Field(0.4, ge=0, le=1)
    position_last: float = Field(0.4, ge=0, le=1)
    markov_order: int = Field(1, ge=1, le=4)
    shapley_exact_max_channels: int = Field(15, ge=1, le=20)
    level: str = "channel"
    margin: float | None = Field(None, gt=0, le=1)
    """Gross margin rate on revenue (0.4 = 40 %). Set, ``percorso roi`` adds the margin each
    model credits and ROI on margin, ``(margin − cost) / cost``, next to ROI on revenue."""

    @model_validator(mode="before")
    @classmethod
    def _merge_conversions(cls, data: Any) -> Any:
        if isinstance(data, dict) and "conversions" in data:
            merged: dict[str, Any] = dict(_default_conversions())
            merged.update(data["conversions"] or {})
            data = {**data, "conversions": merged}
        return data

    @field_validator("exclude_event_types")
    @classmethod
    def _excl(cls, v: list[str]) -> list[str]:
        return _check_types(v)

    @field_validator("direct")
    @classmethod
    def _direct(cls, v: str) -> str:
        return direct_mode(v)

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        check_level(v)
        return v

    @model_validator(mode="after")
    def _coherent(self) -> AttributionSettings:
        if self.default_conversion not in self.conversions:
            raise ValueError(
                f"default_conversion '{self.default_conversion}' is not defined; "
                f"{suggest(self.default_conversion, self.conversions)}"
            )
        if self.position_first + self.position_last > 1:
            raise ValueError(
                f"position_first + position_last = {self.position_first + self.position_last} "
                "exceeds 1 (the middle touches get the rest)"
            )
        return self

    def conversion(self, name: str | None) -> ConversionDef:
        """The named conversion definition, or a clear error listing the defined ones."""
        name = name or self.default_conversion
        try:
            return self.conversions[name]
        except KeyError:
            raise ConfigError(
                f"unknown conversion '{name}'; {suggest(name, self.conversions)}", code="conversion_unknown"
            ) from None


#: Values of ``direct``; ``ignore`` is accepted as short for ``ignore_unless_alone``.
DIRECT_MODES = ("ignore_unless_alone", "credit")


def direct_mode(value: str) -> str:
    """Canonical ``direct`` mode, or a ValueError with a "did you mean"."""
    value = {"ignore": "ignore_unless_alone"}.get(value, value)
    if value not in DIRECT_MODES:
        raise ValueError(f"unknown direct convention '{value}'; {suggest(value, [*DIRECT_MODES, 'ignore'])}")
    return value


def check_level(level: str) -> tuple[str, ...]:
    """Parts of a level name: their touchpoint columns, or ``property.<key>`` for a JSON property.

    A level is a named combination (``channel``, ``campaign``, ``source_medium``,
    ``channel_campaign``), a touchpoint column, a key of the ``properties`` JSON written
    ``property.<key>``, or several of those joined by ``+`` (``channel+stage``): "any touchpoint
    property" (issue 4), each part allowlisted so that no level name reaches the SQL as text.
    """
    if level in LEVELS:
        return LEVELS[level]
    named = [p.strip() for p in level.split("+")]
    # a named level inside a combination stands for its columns (channel+source_medium)
    parts = tuple(c for p in named for c in LEVELS.get(p, (p,)))
    for part in parts:
        if part in PROPERTY_COLUMNS:
            continue
        if part.startswith(PROPERTY_PREFIX) and _PROPERTY_KEY.fullmatch(part[len(PROPERTY_PREFIX):]):
            continue
        hint = ("a property key is letters, digits and '_' (property.page_type)"
                if part.startswith(PROPERTY_PREFIX) else
                suggest(part, list(LEVELS) + list(PROPERTY_COLUMNS) + [PROPERTY_PREFIX + "<chiave>"]))
        raise ConfigError(
            f"unknown attribution level '{part}'" + (f" in '{level}'" if len(named) > 1 else "") + f"; {hint}",
            code="level_unknown",
        )
    if len(set(parts)) < len(parts):
        raise ConfigError(f"attribution level '{level}' repeats a part", code="level_unknown")
    return parts


def attribution_settings(raw: Any = None) -> AttributionSettings:
    """Validate the ``[attribution]`` section (a dict, a ``Settings`` or ``None`` for defaults)."""
    if raw is None:
        return AttributionSettings()
    if isinstance(raw, AttributionSettings):
        return raw
    if hasattr(raw, "attribution"):
        raw = raw.attribution
    try:
        return AttributionSettings.model_validate(raw or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "attribution"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                lines.append(f"percorso.toml: unknown key 'attribution.{loc}'; "
                             f"{suggest(str(err['loc'][-1]), AttributionSettings.model_fields)}")
            else:
                lines.append(f"percorso.toml: key 'attribution.{loc}' has bad value {err.get('input')!r}: {msg}")
        raise ConfigError("\n".join(lines), code="attribution_config_invalid") from None
