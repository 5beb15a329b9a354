"""Typed ``[privacy]`` section of ``percorso.toml``: purposes, legal basis, retention rules.

Why here and not in ``config.py``: the privacy package owns its settings; ``Settings.privacy``
is a free dict this module validates, so a typo is reported with the key, the bad value and
the valid choices (as ``[value]`` does).

The **legal basis** of each purpose decides what "allowed" means when a person has said
nothing (GDPR art. 6):

* ``consent`` (opt-in): allowed only with a recorded *granted* that is the person's latest
  record for the purpose at that moment;
* ``legitimate_interest`` (opt-out): allowed unless the latest record is a *denied*
  (an objection, art. 21);
* ``contract`` / ``legal_obligation``: allowed whatever is recorded (a record is still kept).

Defaults: the four marketing purposes (e-mail, SMS, phone, ad audiences) need consent, as the
Italian Codice privacy (art. 130) and the Garante require; analytics and profiling default to
legitimate interest so that a project that has recorded no consent keeps working as before.
**Set ``profiling = "consent"``** where profiling feeds marketing (the Garante's loyalty-card
provision of 2005 asks for a specific consent), and ``analytics = "consent"`` where analytics
cookies are not anonymised (Garante cookie guidelines, 2021).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from percorso.errors import ConfigError, suggest
from percorso.sections import Section, SectionError, from_dict, setting

#: The fixed vocabulary of purposes; every record, setting and check uses these words.
PURPOSES: tuple[str, ...] = ("analytics", "profiling", "email", "sms", "phone", "ads")

#: Legal bases a purpose may rest on.
BASES: tuple[str, ...] = ("consent", "legitimate_interest", "contract", "legal_obligation")

#: Italian and English names of each purpose, for tables and the subject-access summary.
PURPOSE_LABELS: dict[str, tuple[str, str]] = {
    "analytics": ("statistiche / analisi", "analytics"),
    "profiling": ("profilazione", "profiling"),
    "email": ("marketing via e-mail", "e-mail marketing"),
    "sms": ("marketing via SMS", "SMS marketing"),
    "phone": ("marketing telefonico", "phone marketing"),
    "ads": ("pubblicità personalizzata / audience", "ad audiences"),
}

Basis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LegalBasis(Section):
    """``[privacy.legal_basis]``: one basis per purpose."""

    analytics: Basis = "legitimate_interest"
    profiling: Basis = "legitimate_interest"
    email: Basis = "consent"
    sms: Basis = "consent"
    phone: Basis = "consent"
    ads: Basis = "consent"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionRule(Section):
    """One ``[[privacy.retention]]`` rule: what expires after how long, and what happens to it.

    ``action = "delete"`` removes the rows; ``"detach"`` keeps them but removes the person
    (identifiers set to NULL): receipts kept ten years for the tax law, anonymous after the
    marketing period.
    """

    table: Literal["events", "quarantine", "consent_history", "activation_log"] = "events"
    source: str | None = None
    """Only rows of this source name (``events``, ``quarantine``); ``None`` = every source."""
    event_types: list[str] | None = None
    """Only these event types (``events`` only)."""
    months: int = setting(ge=1, le=1200)
    """Age past which a row expires (from its ``occurred_at``; quarantine: ``quarantined_at``)."""
    action: Literal["delete", "detach"] = "delete"


def _default_retention() -> list[RetentionRule]:
    return [
        RetentionRule(table="events", source="web", months=26),
        RetentionRule(table="events", source="app", months=26),
        RetentionRule(table="quarantine", months=12),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacySettings(Section):
    legal_basis: LegalBasis = setting(factory=LegalBasis)
    retention: list[RetentionRule] = setting(factory=_default_retention)
    retention_every_hours: float = setting(0.0, ge=0)
    """``percorso serve`` applies the retention rules this often (e.g. 24); 0 (default) = only by
    hand, so that upgrading never deletes data the user has not looked at the rules for."""
    vault_key: str = ""
    """Key of the encrypted PII vault (64 hex characters = 256 bits); env PERCORSO_VAULT_KEY
    overrides it. Empty: derived from ``[identity] secret`` (still never stored next to the data
    it opens only if the secret itself is kept out of the project folder)."""
    retired_vault_keys: list[str] = setting(factory=list)
    """Earlier vault keys, still accepted for reading until ``percorso vault rotate`` re-encrypts."""

    def basis(self, purpose: str) -> str:
        """The legal basis of ``purpose`` (raises :class:`InputError` for a word not in :data:`PURPOSES`)."""
        return str(getattr(self.legal_basis, check_purpose(purpose)))


def check_purpose(purpose: str) -> str:
    """``purpose`` itself when it is one of :data:`PURPOSES`, else a one-line error naming them."""
    from percorso.errors import InputError

    p = (purpose or "").strip().lower()
    if p not in PURPOSES:
        raise InputError(f"unknown purpose '{purpose}'; {suggest(p, PURPOSES)}", code="purpose_unknown")
    return p


def privacy_settings(settings: Any = None) -> PrivacySettings:
    """Validate the ``[privacy]`` section (a dict, a :class:`Settings`, or ``None`` for defaults)."""
    import os

    raw = getattr(settings, "privacy", settings) or {}
    if isinstance(raw, PrivacySettings):
        return raw
    try:
        out = from_dict(PrivacySettings, raw)
    except SectionError as exc:
        parts = []
        for e in exc.problems:
            key = "privacy." + ".".join(str(x) for x in e.loc)
            parts.append(f"percorso.toml: key '{key}' = {e.input!r}: {e.msg}")
        raise ConfigError("; ".join(parts)) from None
    env = os.environ.get("PERCORSO_VAULT_KEY")
    if env:
        out = replace(out, vault_key=env)
    return out
