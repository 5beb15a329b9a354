"""The outbox: every action is a row first, then a send; the row is the action log.

Why an outbox: "at most once per (journey, customer, trigger occurrence), also across a
kill -9" needs the decision to act to be durable *before* anything leaves. The journey
runner inserts one row per message, keyed ``enrolment|step`` (a second insert of the same key
is ignored). The dispatcher (:func:`dispatch`) then, in passes of at most ``batch_size``:

1. claims due ``pending`` rows by marking them ``sending`` (committed);
2. runs the send-time guards (:func:`percorso.activation.guards.decide`);
3. sends the allowed ones, each with its key as ``Message-ID`` / ``Idempotency-Key``;
4. records ``sent`` (with a touchpoint event of its channel, same transaction), ``failed``,
   ``blocked`` with a reason, or ``pending`` again with a later due time (retry, deferral).

After a kill -9, rows left ``sending`` go back to ``pending`` and are sent again with the same
key: a message interrupted between the receiver's "OK" and step 4 reaches the receiver twice
with one key, and the receiver keeps one (ADR 0026 measures how many: at most one batch).
Everything else is sent exactly once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from percorso.activation.guards import ConsentSource, decide, project_consent
from percorso.activation.model import TIMELINE_CHANNEL
from percorso.activation.settings import ActivationSettings, activation_settings
from percorso.activation.webhook import MAX_ATTEMPTS, backoff_seconds
from percorso.engine import activation_sql as S

#: A transport: ``(message row, customer profile row) -> (status, error)``, status in
#: ``sent`` / ``retry`` / ``failed``.
Transport = Callable[[dict[str, Any], dict[str, Any]], tuple[str, str | None]]

#: Event type of each channel's touchpoint in the timeline (outbound contacts, never steps the customer took).
TOUCHPOINT_TYPE = {"email": "email_sent", "sms": "message_sent", "whatsapp": "message_sent", "push": "message_sent",
                   "webhook": "message_sent"}
_ID_PREFERENCE = ("email_key", "phone_key", "user_id", "crm_id", "loyalty_card", "tax_code_key", "device_id",
                  "anonymous_id")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class DispatchReport:
    """Counts of one :func:`dispatch` run, by outcome (``sent``, ``blocked:<reason>``, ``deferred``…)."""

    counts: dict[str, int] = field(default_factory=dict)
    released: int = 0

    def add(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n


def _profiles(engine: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids or not engine.has_table("customers"):
        return {}
    c = engine.table("customers")
    cols = [x for x in ("customer_id", "first_name", "last_name", "email", "phone", "home_store") if x in c.columns]
    frame = engine.execute(c.filter(c.customer_id.isin(ids)).select(*cols))
    return {r["customer_id"]: r for r in frame.to_dict("records")}


def _suppressed(engine: Any) -> pd.DataFrame:
    """Suppression list: the table (unsubscribe links, API) plus unsubscribes, bounces and
    complaints seen in the customer's e-mail events."""
    s = engine.table("activation_suppression").select("customer_id", "channel")
    parts = [engine.execute(s)]
    if engine.has_table("touchpoints"):
        t = engine.table("touchpoints")
        bad = t.event_type.isin(["unsubscribe", "email_bounce"]) | t.event_name.lower().isin(
            ["complaint", "complained", "spamreport", "spam_report"])
        parts.append(engine.execute(t.filter(bad).select("customer_id").distinct().mutate(channel=ibis.literal("email"))))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["customer_id", "channel"])


def _history(engine: Any, ids: list[str], since: datetime) -> pd.DataFrame:
    o = engine.table("activation_outbox")
    return engine.execute(o.filter((o.status == "sent") & o.customer_id.isin(ids) & (o.sent_at > since))
                          .select("customer_id", "channel", "sent_at"))


def timeline_events(engine: Any, sent: pd.DataFrame, now: datetime) -> pa.Table | None:
    """The touchpoint events of sent messages: the channel's outbound type, the journey as
    campaign, one identifier of the customer so the build puts it in their timeline."""
    sent = sent[sent["channel"].isin(list(TOUCHPOINT_TYPE))]
    if sent.empty or not engine.has_table("identity_map") or not engine.has_table("events"):
        return None
    m = engine.table("identity_map")
    m = m.filter(m.customer_id.isin(sorted(set(sent["customer_id"]))) & m.id_type.isin(list(_ID_PREFERENCE)))
    ids = engine.execute(m.select("customer_id", "id_type", "id_value"))
    rank = {k: i for i, k in enumerate(_ID_PREFERENCE)}
    ids = ids.assign(_r=ids["id_type"].map(rank)).sort_values(["customer_id", "_r", "id_value"])
    best = ids.drop_duplicates("customer_id").set_index("customer_id")
    rows = sent[sent["customer_id"].isin(best.index)].copy()
    if rows.empty:
        return None
    from percorso.events.schema import EVENT_COLUMN_NAMES, SCHEMA_VERSION, arrow_schema

    n = len(rows)
    data: dict[str, Any] = {c: [None] * n for c in EVENT_COLUMN_NAMES}
    data["event_id"] = [hashlib.sha256(f"activation|{k}".encode()).hexdigest()[:32] for k in rows["message_key"]]
    data["schema_version"] = [SCHEMA_VERSION] * n
    data["event_type"] = [TOUCHPOINT_TYPE[c] for c in rows["channel"]]
    data["event_name"] = [f"percorso_{c}" for c in rows["channel"]]
    data["occurred_at"] = list(rows["sent_at"])
    data["received_at"] = [now] * n
    data["source_name"] = ["activation"] * n
    data["source_kind"] = ["activation"] * n
    data["source_system"] = ["activation"] * n
    data["source_file"] = list(rows["journey"])
    data["source_key"] = list(rows["message_key"])
    data["channel"] = [TIMELINE_CHANNEL[c] for c in rows["channel"]]
    data["online"] = [True] * n
    data["utm_campaign"] = list(rows["journey"])
    data["properties"] = [json.dumps({"journey": j, "step": s, "variant": v}) for j, s, v in
                          zip(rows["journey"], rows["step"], rows["variant"])]
    for col in _ID_PREFERENCE:
        data[col] = [best.at[c, "id_value"] if best.at[c, "id_type"] == col else None for c in rows["customer_id"]]
    return pa.table(data, schema=arrow_schema())


def dispatch(engine: Any, settings: Any, transports: dict[str, Transport], *, now: Callable[[], datetime] = utcnow,
             consent: ConsentSource | None = None, max_batches: int | None = None,
             on_batch: Callable[[int], None] | None = None) -> DispatchReport:
    """Send every due message, batch by batch, until none is due (or ``max_batches``).

    ``now`` is a clock (tests and the demo simulate time); ``transports`` maps a channel to
    its sender. A channel without a transport leaves its messages pending.
    """
    S.ensure_activation_tables(engine)
    cfg: ActivationSettings = activation_settings(settings)
    zone = settings.project.time_zone
    consent = consent or project_consent(engine)
    report = DispatchReport(released=S.release_sending(engine))
    longest = max((c.per for c in cfg.caps), default=0)
    batches = 0
    while max_batches is None or batches < max_batches:
        at = now()
        claimed = S.claim_due(engine, at, cfg.batch_size, sorted(transports)).to_pandas()
        if claimed.empty:
            break
        batches += 1
        ids = sorted(set(claimed["customer_id"]))
        verdict = decide(claimed, now=at, zone=zone, caps=cfg.caps, quiet=(cfg.quiet_start, cfg.quiet_end),
                         suppressed=_suppressed(engine), consent=consent,
                         history=_history(engine, ids, at - timedelta(seconds=longest)))
        rows = claimed.set_index("message_key")
        profiles = _profiles(engine, ids)
        out = []
        for v in verdict.itertuples(index=False):
            row = rows.loc[v.message_key]
            attempts = int(row["attempts"])
            base = {"message_key": v.message_key, "attempts": attempts, "due_at": row["due_at"], "sent_at": None,
                    "error": None, "reason": v.reason}
            if v.decision == "block":
                out.append({**base, "status": "blocked"})
                report.add(f"blocked:{v.reason}")
            elif v.decision == "defer":
                out.append({**base, "status": "pending", "due_at": v.due_at})
                report.add("deferred")
            else:
                status, error = transports[row["channel"]]({**row.to_dict(), "message_key": v.message_key},
                                                         profiles.get(row["customer_id"], {}))
                attempts += 1
                if status == "sent":
                    out.append({**base, "status": "sent", "attempts": attempts, "sent_at": at})
                elif status == "retry" and attempts < MAX_ATTEMPTS:
                    out.append({**base, "status": "pending", "attempts": attempts, "error": error,
                                "due_at": at + timedelta(seconds=backoff_seconds(attempts))})
                else:
                    out.append({**base, "status": "failed", "attempts": attempts, "error": error})
                report.add(status if status != "retry" or attempts < MAX_ATTEMPTS else "failed")
        frame = pd.DataFrame(out)
        table = pa.Table.from_pandas(frame.astype({"due_at": "datetime64[us]", "sent_at": "datetime64[us]"}),
                                     preserve_index=False)
        sent = frame[frame["status"] == "sent"].merge(
            claimed[["message_key", "journey", "step", "variant", "channel", "customer_id"]], on="message_key")
        events = timeline_events(engine, sent, at)
        with engine.transaction():
            S.apply_outcomes(engine, table)
            if events is not None:
                engine.append_arrow("events", events)
        if on_batch is not None:
            on_batch(batches)
    return report


__all__ = ["DispatchReport", "TOUCHPOINT_TYPE", "Transport", "dispatch", "timeline_events", "utcnow"]
