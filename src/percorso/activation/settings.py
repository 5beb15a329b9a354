"""``[activation]`` in percorso.toml: caps, quiet hours, SMTP, webhooks, unsubscribe links.

Why project-wide and not per journey: a customer's inbox does not care which journey a
message came from, so frequency caps count every journey's sends on a channel, and quiet
hours are the company's promise, not a campaign's choice.

Example::

    [activation]
    quiet_start = 21          # local hour (project time zone) from which nothing is sent
    quiet_end = 8             # … until this local hour
    caps = [{channel = "email", max = 1, per = "1d"}, {channel = "email", max = 3, per = "7d"}]
    smtp_host = "localhost"
    smtp_port = 25
    smtp_from = "Percorso <noreply@example.it>"
    public_url = "https://crm.example.it"     # for unsubscribe links
    webhook_allow = ["10.0.0.5"]              # internal gateways reachable on purpose
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from percorso.activation.model import Duration
from percorso.errors import ConfigError


class Cap(BaseModel):
    """At most ``max`` messages on ``channel`` per customer in any window of ``per``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: str
    max: int = Field(ge=0)
    per: Duration


class ActivationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    quiet_start: int = Field(21, ge=0, le=23)
    quiet_end: int = Field(8, ge=0, le=23)
    caps: tuple[Cap, ...] = (Cap(channel="email", max=1, per=86400), Cap(channel="email", max=3, per=7 * 86400),
                             Cap(channel="sms", max=1, per=86400), Cap(channel="whatsapp", max=1, per=86400),
                             Cap(channel="push", max=2, per=86400))
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "percorso <noreply@localhost>"
    smtp_starttls: bool = False
    public_url: str = "http://localhost:8000"
    webhook_allow: tuple[str, ...] = ()
    webhook_secret: str = ""
    """Signing secret of webhooks; empty: derived from the project secret."""
    batch_size: int = Field(1000, ge=1, le=10_000)
    """Messages claimed per dispatch pass. Each pass has a fixed cost (claim, profiles,
    suppression, caps history, the outcomes' update: ~1.5 s under load 20 for 200 e-mails, most
    of it not per message), so a micro-batch that queues 2,000 messages went out in 10 passes;
    the sent journal, not the batch, bounds what a kill -9 sends twice."""


def activation_settings(settings: Any) -> ActivationSettings:
    """The validated ``[activation]`` table of a project's settings (one line on a bad key)."""
    try:
        return ActivationSettings.model_validate(getattr(settings, "activation", {}) or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"percorso.toml: [activation] {where}: {err['msg']}") from None


__all__ = ["ActivationSettings", "Cap", "activation_settings"]
