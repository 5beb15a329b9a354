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
    call_center_contact: float = Field(4.0, ge=0)
    return_handling: float = Field(8.0, ge=0)
    delivery: float = Field(5.0, ge=0)
    default_contact_cost: float = Field(0.05, ge=0)
    """Cost per marketing contact when campaign costs give none."""


class HealthWeights(_M):
    recency: float = Field(0.25, ge=0)
    frequency: float = Field(0.2, ge=0)
    value: float = Field(0.2, ge=0)
    engagement: float = Field(0.15, ge=0)
    service: float = Field(0.1, ge=0)
    consent: float = Field(0.1, ge=0)


class ValueSettings(_M):
    clv: CLVSettings = Field(default_factory=CLVSettings)
    cost_to_serve: CostToServeSettings = Field(default_factory=CostToServeSettings)
    health: HealthWeights = Field(default_factory=HealthWeights)


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
