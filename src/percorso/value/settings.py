"""Typed ``[value]`` section of ``percorso.toml``.

Why here and not in ``config.py``: the value package owns its settings; ``Settings.value`` is
a free dict that this module validates, so a typo in the TOML is reported with the key, the
bad value and the valid choices.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from percorso.errors import ConfigError


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CLVSettings(_M):
    horizon_months: int = Field(12, ge=1, le=120)
    """Months of future purchases valued by CLV."""
    monthly_discount_rate: float = Field(0.01, ge=0.0, lt=1.0)
    """Discount rate per month for the DCF of future purchases."""
    margin: float = Field(1.0, gt=0.0, le=1.0)
    """Share of revenue that is margin (1.0 = CLV on revenue)."""
    time_unit: Literal["day", "week", "month"] = "week"
    """Unit of frequency/recency/T for the BG/NBD fit."""


class CostToServeSettings(_M):
    """``[value.cost_to_serve]``: rates in the project currency (see docs/value.md, "Cost to serve")."""

    call_center_contact: float = Field(4.50, ge=0)
    """Cost of one call-center contact."""
    return_handling: float = Field(8.0, ge=0)
    """Handling cost of one return (logistics, restocking)."""
    delivery: float = Field(6.90, ge=0)
    """Cost of delivering one online order."""
    margin_rate: float = Field(0.45, ge=0, le=1)
    """Gross margin as a share of list value (revenue before discounts)."""
    email_contact: float = Field(0.01, ge=0)
    """Cost of one Email contact when campaign costs give none for Email."""
    sms_contact: float = Field(0.08, ge=0)
    """Cost of one SMS contact when campaign costs give none for SMS."""
    flyer_contact: float = Field(0.60, ge=0)
    """Cost of one flyer / direct-mail contact when campaign costs give none for it."""
    default_contact_cost: float = Field(0.05, ge=0)
    """Cost per marketing contact of any other channel when campaign costs give none."""


class HealthWeights(_M):
    recency: float = Field(0.25, ge=0)
    frequency: float = Field(0.2, ge=0)
    value: float = Field(0.2, ge=0)
    engagement: float = Field(0.15, ge=0)
    service: float = Field(0.1, ge=0)
    consent: float = Field(0.1, ge=0)


HEALTH_COMPONENTS = ("recency", "frequency", "value", "engagement", "service", "consent")


class HealthSettings(HealthWeights):
    """``[value.health]``: the component weights (normalised to sum 1) and their scales."""

    trend_days: int = Field(180, ge=1)
    """Window of the frequency and value trends: last N days against the N before."""
    engagement_days: int = Field(90, ge=1)
    """Window in which distinct channels count as engagement breadth."""
    engagement_channels: int = Field(4, ge=1)
    """Distinct channels that make engagement 1.0."""
    service_days: int = Field(365, ge=1)
    """Window in which complaints and returns count as service issues."""
    service_issues: int = Field(3, ge=1)
    """Service issues that make the service component 0.0."""
    recency_days: int = Field(365, ge=1)
    """Customers with one purchase: recency falls linearly from 1 to 0 over this many days."""
    complaint_reasons: tuple[str, ...] = (
        "reclamo", "complaint", "assistenza", "support", "reso", "return", "stato_consegna", "delivery",
    )
    """Call-center ``reason`` values (case-insensitive) that count as a service issue."""

    def weights(self, unmeasured: tuple[str, ...] = ()) -> dict[str, float]:
        """Component weights normalised to sum 1 (all zero is a configuration error); a component
        in ``unmeasured`` (no data can say it: no source gives consent) weighs 0 and the others
        share its weight."""
        raw = {c: 0.0 if c in unmeasured else float(getattr(self, c)) for c in HEALTH_COMPONENTS}
        total = sum(raw.values())
        if total <= 0:
            why = f" (not measured: {', '.join(unmeasured)})" if unmeasured else ""
            raise ConfigError(f"percorso.toml: [value.health] weights are all 0{why}; give at least one > 0 "
                              f"among {', '.join(c for c in HEALTH_COMPONENTS if c not in unmeasured)}")
        return {c: w / total for c, w in raw.items()}


class ValueSettings(_M):
    clv: CLVSettings = Field(default_factory=CLVSettings)
    cost_to_serve: CostToServeSettings = Field(default_factory=CostToServeSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)


def value_settings(settings: Any = None) -> ValueSettings:
    """Validate the ``[value]`` section (a dict, a :class:`Settings`, or ``None`` for defaults)."""
    raw = getattr(settings, "value", settings) or {}
    if isinstance(raw, ValueSettings):
        return raw
    try:
        return ValueSettings.model_validate(raw)
    except ValidationError as exc:
        parts = []
        for e in exc.errors():
            key = "value." + ".".join(str(x) for x in e["loc"])
            parts.append(f"percorso.toml: key '{key}' = {e.get('input')!r}: {e['msg']}")
        raise ConfigError("; ".join(parts)) from None
