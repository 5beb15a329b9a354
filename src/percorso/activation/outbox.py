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
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from percorso.activation.guards import ConsentSource, ProfileConsent, decide, project_consent
from percorso.activation.model import TIMELINE_CHANNEL
from percorso.activation.settings import ActivationSettings, activation_settings
from percorso.activation.webhook import MAX_ATTEMPTS, backoff_seconds
from percorso.engine import activation_sql as S
from percorso.engine.event_store import append_arrow as append_events
from percorso.events.schema import ACTIVATION_SOURCE, MESSAGE_SENT

#: A transport: ``(message row, customer profile row) -> (status, error)``, status in
#: ``sent`` / ``retry`` / ``failed``.
Transport = Callable[[dict[str, Any], dict[str, Any]], tuple[str, str | None]]

#: Event type of each channel's touchpoint in the timeline (outbound contacts, never steps the customer took).
TOUCHPOINT_TYPE = {"email": "email_sent", "sms": MESSAGE_SENT, "whatsapp": MESSAGE_SENT, "push": MESSAGE_SENT,
                   "webhook": MESSAGE_SENT}
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


def _profiles(engine: Any, settings: Any, ids: list[str], present: bool) -> dict[str, dict[str, Any]]:
    """The batch's people, their e-mail and phone opened from the vault now, at send time."""
    from percorso.privacy.contacts import open_contacts

    rows = open_contacts(engine, settings, S.batch_profiles(engine, ids, present)).to_pylist()
    return {r["customer_id"]: r for r in rows}


def timeline_events(engine: Any, sent: pd.DataFrame, now: datetime, tables: dict[str, bool] | None = None
                    ) -> pa.Table | None:
    """The touchpoint events of sent messages: the channel's outbound type, the journey as
    campaign, one identifier of the customer so the build puts it in their timeline."""
    sent = sent[sent["channel"].isin(list(TOUCHPOINT_TYPE))]
    if sent.empty:
        return None
    tables = tables or {n: engine.has_table(n) for n in ("identity_map", "events")}
    if not (tables["identity_map"] and tables["events"]):
        return None
    best = S.best_identifiers(engine, sorted(set(sent["customer_id"])), list(_ID_PREFERENCE)).to_pandas()
    best = best.set_index("customer_id")
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
    data["source_name"] = [ACTIVATION_SOURCE] * n
    data["source_kind"] = [ACTIVATION_SOURCE] * n
    data["source_system"] = [ACTIVATION_SOURCE] * n
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


class SentJournal:
    """Keys sent but not yet recorded in the database, one line each, next to the database file.

    Why: the database records a batch's outcomes in one transaction after the batch; a kill -9
    in between would leave the batch ``sending`` and every message of it would be sent again.
    One ``write`` per accepted message into this file survives the process being killed (the
    kernel holds it), so the restart knows which of the batch were accepted and sends only the
    others: a duplicate needs the kill to land between the receiver's "OK" and that write.
    (Not fsync'd: after a power cut the tail may be lost, and those messages go again with the
    same key, which receivers deduplicate.)
    """

    def __init__(self, db_path: str) -> None:
        self.path = None if db_path in ("", ":memory:") else Path(db_path + ".sent")
        self._fh: Any = None

    def record(self, key: str, at: datetime) -> None:
        if self.path is None:
            return
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8", buffering=1)  # line-buffered: one write a key
        self._fh.write(f"{key}\t{at.isoformat()}\n")

    def read(self) -> dict[str, datetime]:
        if self.path is None or not self.path.exists():
            return {}
        out = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            key, _, at = line.partition("\t")
            if key and at:  # a line cut by the kill is incomplete: not counted as accepted
                out[key] = datetime.fromisoformat(at)
        return out

    def clear(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.path is not None and self.path.exists():
            self.path.unlink()


def _record(engine: Any, frame: pd.DataFrame, claimed: pd.DataFrame, at: datetime,
            tables: dict[str, bool] | None = None) -> None:
    """Write a batch's outcomes and the touchpoints of its sends in one transaction."""
    table = pa.Table.from_pandas(frame.astype({"due_at": "datetime64[us]", "sent_at": "datetime64[us]"}),
                                 preserve_index=False)
    sent = frame[frame["status"] == "sent"].merge(
        claimed[["message_key", "journey", "step", "variant", "channel", "customer_id"]], on="message_key")
    events = timeline_events(engine, sent, at, tables)
    with engine.transaction():
        S.apply_outcomes(engine, table)
        if events is not None:
            append_events(engine, events)   # to the events' store (ADR 0075)


def _recover(engine: Any, journal: SentJournal, report: DispatchReport) -> None:
    """After a crash: messages the journal saw accepted are ``sent``; the rest of the batch goes back to ``pending``."""
    accepted = journal.read()
    if accepted:
        claimed = S.claim_due(engine, datetime(1, 1, 1), 0, []).to_pandas()  # the rows left 'sending'
        hit = claimed[claimed["message_key"].isin(list(accepted))]
        if not hit.empty:
            frame = pd.DataFrame({"message_key": hit["message_key"], "status": "sent", "reason": None,
                                  "attempts": hit["attempts"].astype(int) + 1, "due_at": hit["due_at"],
                                  "sent_at": [accepted[k] for k in hit["message_key"]], "error": None})
            _record(engine, frame, claimed, max(accepted.values()))
            report.add("recovered_sent", len(hit))
    journal.clear()
    report.released = S.release_sending(engine)


_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def dispatch_lock(engine: Any) -> threading.RLock:
    """The one lock of a database's dispatcher (and scheduler beat) in this process.

    Why: a dispatch starts by recovering what a crash left ``sending`` (:func:`_recover`), so a
    second dispatcher starting while a first one sends would take the first one's batch for a
    crash's, put it back to ``pending`` and send it again, and clear its sent journal. In
    ``percorso serve`` two threads dispatch on two connections: the 5-second beat and the
    collector's micro-batch hook (bench/activation.py --latency got 1 of 50 probe e-mails twice
    before this lock). DuckDB lets one process write a database file, so a lock per file in
    the process is enough; re-entrant, so :func:`percorso.activation.service.tick` holds it
    across enrolment and dispatch.
    """
    path = str(getattr(engine, "path", "") or "")
    key = os.path.realpath(path) if path and path != ":memory:" else f"memory:{id(engine)}"
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


def dispatch(engine: Any, settings: Any, transports: dict[str, Transport], *, now: Callable[[], datetime] = utcnow,
             consent: ConsentSource | None = None, max_batches: int | None = None,
             on_batch: Callable[[int], None] | None = None) -> DispatchReport:
    """Send every due message, batch by batch, until none is due (or ``max_batches``).

    ``now`` is a clock (tests and the demo simulate time); ``transports`` maps a channel to
    its sender. A channel without a transport leaves its messages pending. One dispatcher at a
    time per database (:func:`dispatch_lock`).
    """
    with dispatch_lock(engine):
        return _dispatch(engine, settings, transports, now=now, consent=consent, max_batches=max_batches,
                         on_batch=on_batch)


def _dispatch(engine: Any, settings: Any, transports: dict[str, Transport], *, now: Callable[[], datetime],
              consent: ConsentSource | None, max_batches: int | None,
              on_batch: Callable[[int], None] | None) -> DispatchReport:
    S.ensure_activation_tables(engine)
    cfg: ActivationSettings = activation_settings(settings)
    zone = settings.project.time_zone
    consent = consent or project_consent(engine, settings)
    if isinstance(consent, ProfileConsent):
        consent = None  # read with the batch's profiles, one query less per batch
    report = DispatchReport()
    tables = {n: engine.has_table(n) for n in ("customers", "touchpoints", "identity_map", "events")}
    journal = SentJournal(getattr(engine, "path", ""))
    _recover(engine, journal, report)
    longest = max((c.per for c in cfg.caps), default=0)
    batches = 0
    while max_batches is None or batches < max_batches:
        at = now()
        claimed = S.claim_due(engine, at, cfg.batch_size, sorted(transports)).to_pandas()
        if claimed.empty:
            break
        batches += 1
        ids = sorted(set(claimed["customer_id"]))
        profiles = _profiles(engine, settings, ids, tables["customers"])
        verdict = decide(claimed, now=at, zone=zone, caps=cfg.caps, quiet=(cfg.quiet_start, cfg.quiet_end),
                         suppressed=S.batch_suppressed(engine, ids, tables["touchpoints"]).to_pandas(),
                         consent=consent or ProfileConsent.of(profiles),
                         history=S.batch_history(engine, ids, at - timedelta(seconds=longest)).to_pandas())
        rows = claimed.set_index("message_key")
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
                    journal.record(v.message_key, at)
                    out.append({**base, "status": "sent", "attempts": attempts, "sent_at": at})
                elif status == "retry" and attempts < MAX_ATTEMPTS:
                    out.append({**base, "status": "pending", "attempts": attempts, "error": error,
                                "due_at": at + timedelta(seconds=backoff_seconds(attempts))})
                else:
                    out.append({**base, "status": "failed", "attempts": attempts, "error": error})
                report.add(status if status != "retry" or attempts < MAX_ATTEMPTS else "failed")
        _record(engine, pd.DataFrame(out), claimed, at, tables)
        journal.clear()
        if on_batch is not None:
            on_batch(batches)
    return report


__all__ = ["DispatchReport", "SentJournal", "TOUCHPOINT_TYPE", "Transport", "dispatch", "dispatch_lock", "timeline_events",
           "utcnow"]
