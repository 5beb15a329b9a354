"""The guards every message passes at send time: holdout, suppression, consent, quiet hours, caps.

Why at send time and not when the journey decides to act: a wait of a day separates the two,
and in that day the customer may unsubscribe, withdraw consent, bounce, or get two other
journeys' e-mails. So :func:`decide` runs on the batch the dispatcher has just claimed, with
the state read right then, and its answer is the one the outbox records.

The order is fixed and each refusal has a stable reason code:

1. ``held_out``: the control group never gets anything (it should never reach the outbox; this
   is the belt to the holdout assignment's braces);
2. ``suppressed``: unsubscribed, bounced or complained on this channel (or on every channel);
3. ``no_consent``: no consent for the message's purpose at this moment;
4. quiet hours (project time zone, :mod:`percorso.engine.localtime`): the message is *deferred*
   to the end of the quiet hours, not dropped; only person-facing channels (e-mail, SMS,
   WhatsApp, push) keep quiet hours;
5. ``capped``: sending would exceed a cap (at most *max* on a channel in any *per* window, per
   customer, over every journey); earlier-due messages of the batch go first.

The batch is the dispatcher's bounded claim (≤ ``batch_size`` rows), not events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from percorso.engine.localtime import local_value, utc_value

QUIET_CHANNELS = ("email", "sms", "whatsapp", "push")
#: The privacy room's purpose (percorso.privacy.settings.PURPOSES) a marketing action on each channel needs.
CHANNEL_PURPOSE = {"email": "email", "sms": "sms", "whatsapp": "sms", "push": "profiling", "webhook": "profiling",
                   "audience": "ads", "task": "phone"}


def consent_purpose(channel: str, purpose: str) -> str:
    """``service`` for service messages (a contract, no marketing consent), else the channel's purpose."""
    return "service" if purpose == "service" else CHANNEL_PURPOSE.get(channel, "profiling")


class ConsentSource(Protocol):
    """Who may be contacted for a purpose at a moment (the privacy room's consent, or a stand-in)."""

    def allowed(self, customer_ids: list[str], purpose: str, at: datetime) -> set[str]: ...


def in_quiet_hours(now_utc: datetime, zone: str, start: int, end: int) -> bool:
    """Whether ``now_utc`` (naive UTC) falls in the local quiet hours ``[start, end)``."""
    if start == end:
        return False
    hour = local_value(now_utc, zone).hour
    return hour >= start or hour < end if start > end else start <= hour < end


def quiet_end(now_utc: datetime, zone: str, end: int) -> datetime:
    """The next local ``end`` o'clock after ``now_utc``, as naive UTC (DST-correct)."""
    local = local_value(now_utc, zone)
    target = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    return utc_value(target, zone)


def decide(batch: pd.DataFrame, *, now: datetime, zone: str, caps: Any, quiet: tuple[int, int],
           suppressed: pd.DataFrame, consent: ConsentSource, history: pd.DataFrame) -> pd.DataFrame:
    """The decision for each message of ``batch``: ``send``, ``block`` (with a reason) or ``defer``.

    Parameters
    ----------
    batch : claimed messages (message_key, customer_id, channel, purpose, variant, due_at).
    suppressed : (customer_id, channel) pairs; channel ``*`` suppresses every channel.
    history : (customer_id, channel, sent_at) of messages already sent, for the caps.

    Returns
    -------
    pandas.DataFrame
        ``message_key``, ``decision``, ``reason``, ``due_at`` (the new due time of a deferral).
    """
    out = batch[["message_key", "customer_id", "channel", "purpose", "variant", "due_at"]].copy()
    out = out.sort_values(["due_at", "message_key"], kind="stable").reset_index(drop=True)
    out["decision"], out["reason"] = "send", None

    def block(mask: Any, reason: str) -> None:
        m = mask & (out["decision"] == "send")
        out.loc[m, "decision"], out.loc[m, "reason"] = "block", reason

    block(out["variant"] != "treated", "held_out")
    sup = suppressed[["customer_id", "channel"]]
    pair = out.merge(sup.drop_duplicates(), on=["customer_id", "channel"], how="left", indicator=True)["_merge"]
    every = out["customer_id"].isin(sup.loc[sup["channel"] == "*", "customer_id"])
    block(pair.eq("both").to_numpy() | every.to_numpy(), "suppressed")
    ok = pd.Series(False, index=out.index)
    for (purpose, channel), idx in out.groupby(["purpose", "channel"]).groups.items():
        allowed = consent.allowed(sorted(set(out.loc[idx, "customer_id"])), consent_purpose(channel, purpose), now)
        ok.loc[idx] = out.loc[idx, "customer_id"].isin(allowed)
    block(~ok, "no_consent")
    if in_quiet_hours(now, zone, quiet[0], quiet[1]):
        m = out["channel"].isin(QUIET_CHANNELS) & (out["decision"] == "send")
        out.loc[m, "decision"], out.loc[m, "reason"] = "defer", "quiet_hours"
        out.loc[m, "due_at"] = quiet_end(now, zone, quiet[1])
    for cap in caps:
        live = (out["decision"] == "send") & (out["channel"] == cap.channel)
        if not live.any():
            continue
        since = now - timedelta(seconds=cap.per)
        h = history[(history["channel"] == cap.channel) & (history["sent_at"] > since)]
        before = h.groupby("customer_id").size()
        rank = out[live].groupby("customer_id").cumcount() + 1
        used = out.loc[live, "customer_id"].map(before).fillna(0).astype(int)
        over = (used + rank) > cap.max
        block(live & over.reindex(out.index, fill_value=False), "capped")
        # a message refused by this cap frees its place for the next cap's count: recompute per cap
    return out[["message_key", "customer_id", "channel", "decision", "reason", "due_at"]]


class ProfileConsent:
    """The profile's marketing flag (``customers.consent_marketing``) for every marketing purpose;
    used while the project has no consent history (the privacy room records none yet).
    Service messages (a follow-up on a return) need no marketing consent."""

    def __init__(self, engine: Any, known: dict[str, bool] | None = None) -> None:
        self.engine, self.known = engine, known

    @classmethod
    def of(cls, profiles: dict[str, dict[str, Any]]) -> ProfileConsent:
        """Consent read from profiles already fetched (the dispatcher's batch)."""
        return cls(None, {c: bool(p.get("consent_marketing")) for c, p in profiles.items()})

    def allowed(self, customer_ids: list[str], purpose: str, at: datetime) -> set[str]:
        if purpose == "service":
            return set(customer_ids)
        if self.known is not None:
            return {c for c in customer_ids if self.known.get(c, False)}
        if not customer_ids or not self.engine.has_table("customers"):
            return set()
        c = self.engine.table("customers")
        rows = self.engine.to_arrow(c.filter(c.customer_id.isin(customer_ids) & c.consent_marketing.fill_null(False))
                                    .select("customer_id"))
        return set(rows.column("customer_id").to_pylist())


class PrivacyConsent:
    """The one consent check of percorso (:func:`percorso.privacy.consent.allowed`): per purpose
    (``email``, ``sms``, ``ads``, ``phone``…), under the project's legal bases, at the moment."""

    def __init__(self, engine: Any, settings: Any) -> None:
        from types import SimpleNamespace

        self.engine = engine
        self.target = SimpleNamespace(engine=engine, settings=settings)

    def allowed(self, customer_ids: list[str], purpose: str, at: datetime) -> set[str]:
        from percorso.privacy.consent import allowed

        if purpose == "service":
            return set(customer_ids)
        ok = allowed(self.target, purpose, at)
        rows = self.engine.to_arrow(ok.filter(ok.customer_id.isin(customer_ids)).select("customer_id"))
        return set(rows.column("customer_id").to_pylist())


def project_consent(engine: Any, settings: Any = None) -> ConsentSource:
    """The privacy room's consent once the project has a consent history, else the profile's flag."""
    if engine.has_table("consent_history"):
        return PrivacyConsent(engine, settings)
    return ProfileConsent(engine)


__all__ = ["CHANNEL_PURPOSE", "QUIET_CHANNELS", "ConsentSource", "PrivacyConsent", "ProfileConsent", "consent_purpose", "decide", "in_quiet_hours", "project_consent",
           "quiet_end"]
