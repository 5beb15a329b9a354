"""The Segment envelope: check each call before it is acknowledged, and stamp what the server knows.

Why check here and again in the ingest pipeline: the pipeline quarantines what it cannot
read, but by then the sender has its 200 and will never learn its event was bad. So every
rule the pipeline would apply to a Segment line (a call type, a known event name, a readable
and plausible time, a number where revenue is, an identifier) is checked here first, on the
parsed JSON, and a failure is answered at once: a 4xx whose body names the field and what
would be valid, and the raw payload (capped) goes to quarantine with a ``collector_*`` reason.
An event that passes is written to the spool as one Segment JSON line, exactly as a file
would hold it, so the consumer hands the spool to the file pipeline unchanged.

What the server adds (Segment's HTTP API does the same):

* ``receivedAt``: the server's clock; with ``sentAt`` (the device's clock when it sent) and
  ``originalTimestamp`` (the device's clock when the call happened; a client's ``timestamp`` is
  read as such when it sent no ``originalTimestamp``) the pipeline corrects the device's clock
  skew: ``receivedAt - (sentAt - originalTimestamp)``. ``/v1/import`` (historical data) keeps
  the times as sent and adds no ``receivedAt``.
* ``context.ip`` from the connection when absent (the pipeline stores only its keyed hash),
  ``context.userAgent`` from the request's User-Agent when absent (not on ``/v1/import``: a
  program sends it, not the person's device).
* ``messageId`` when absent (a fresh UUID: such an event cannot be deduplicated on retry;
  ``/v1/import`` requires it instead, so a re-run import adds nothing, as a file would).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from percorso.ingest import reasons as R

#: Segment's limits: one event, one batch request (HTTP 413 beyond).
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
#: Raw text kept in quarantine per rejected payload.
RAW_CAP = 4096
CALL_TYPES = ("track", "page", "screen", "identify", "alias", "group")
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")
_NUMBER_FIELDS = ("revenue", "total", "value")
_ID_HELP = "a non-empty string (or a whole number)"


@dataclass
class Problem:
    """Why one call was refused: a stable code, the field, and what would be valid."""

    code: str
    field: str
    message: str
    status: int = 400

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass
class Intake:
    """What the server knows about one request, used to check and stamp its calls."""

    received: dt.datetime  # aware, UTC
    ip: str | None
    user_agent: str | None
    names: dict[str, str]  # normalised track event name -> canonical type (the source's table)
    earliest: dt.datetime  # aware
    latest: dt.datetime  # aware
    historical: bool = False  # /v1/import: times kept as sent
    received_text: str = field(init=False)

    def __post_init__(self) -> None:
        self.received_text = self.received.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.received.microsecond // 1000:03d}Z"


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _id(ev: dict[str, Any], name: str) -> Problem | None:
    """An identifier field, when present, is a string or a whole number (:func:`stamp` makes it a string)."""
    v = ev.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        return Problem(R.COLLECTOR_BAD_TYPE, name, f"{name} has JSON type {_jtype(v)}; valid: {_ID_HELP}")
    if isinstance(v, str) and len(v) > 512:
        return Problem(R.COLLECTOR_BAD_TYPE, name, f"{name} is {len(v)} characters long; valid: at most 512")
    return None


def _jtype(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "number", float: "number"}.get(type(v), type(v).__name__)


def parse_time(text: Any) -> dt.datetime | None:
    """An ISO 8601 time as aware UTC (naive read as UTC for the plausibility window), or None."""
    if not isinstance(text, str) or not _ISO.match(text.strip()):
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def check_event(ev: Any, call_type: str | None, intake: Intake) -> Problem | None:
    """Check one call (never changing it, so a refused call is kept as sent); None when it may be taken.

    ``call_type`` is the endpoint's (``/v1/track`` → ``track``) or None for a batch item,
    whose own ``type`` decides.
    """
    if not isinstance(ev, dict):
        return Problem(R.COLLECTOR_BAD_JSON, "(event)", f"an event has JSON type {_jtype(ev)}; valid: a JSON object "
                       "such as {\"type\": \"track\", \"event\": \"Order Completed\", \"userId\": \"...\"}")
    typ = call_type if call_type is not None else ev.get("type")
    if _blank(typ):
        return Problem(R.COLLECTOR_MISSING_FIELD, "type", f"type is missing; valid: one of {', '.join(CALL_TYPES)}")
    if typ not in CALL_TYPES:
        return Problem(R.COLLECTOR_UNKNOWN_EVENT, "type",
                       f"type '{str(typ)[:80]}' is not a Segment call; valid: one of {', '.join(CALL_TYPES)}")
    for name in ("userId", "anonymousId", "previousId", "groupId", "messageId"):
        if (p := _id(ev, name)) is not None:
            return p
    if intake.historical and _blank(ev.get("messageId")):
        return Problem(R.COLLECTOR_MISSING_FIELD, "messageId", "an import needs messageId on every call, so that "
                       "running it again adds nothing; valid: " + _ID_HELP)
    if _blank(ev.get("userId")) and _blank(ev.get("anonymousId")) and typ != "alias":
        return Problem(R.COLLECTOR_MISSING_FIELD, "userId", "userId and anonymousId are both missing; valid: "
                       "at least one of them, " + _ID_HELP)
    if typ == "alias" and (_blank(ev.get("previousId")) or _blank(ev.get("userId"))):
        fld = "previousId" if _blank(ev.get("previousId")) else "userId"
        return Problem(R.COLLECTOR_MISSING_FIELD, fld, f"an alias call needs previousId and userId; {fld} is missing; valid: " + _ID_HELP)
    if typ == "group" and _blank(ev.get("groupId")):
        return Problem(R.COLLECTOR_MISSING_FIELD, "groupId", "a group call needs groupId; valid: " + _ID_HELP)
    for name in ("properties", "traits", "context", "integrations"):
        v = ev.get(name)
        if v is not None and not isinstance(v, dict):
            return Problem(R.COLLECTOR_BAD_TYPE, name, f"{name} has JSON type {_jtype(v)}; valid: a JSON object")
    if typ == "track":
        name = ev.get("event")
        if _blank(name):
            return Problem(R.COLLECTOR_MISSING_FIELD, "event", "event is missing; valid: the name of what happened, such as "
                           "\"Order Completed\" or \"Product Viewed\" (a track call needs one)")
        if not isinstance(name, str):
            return Problem(R.COLLECTOR_BAD_TYPE, "event", f"event has JSON type {_jtype(name)}; valid: a string")
        if intake.names.get(name.strip().lower().replace(" ", "_").replace("-", "_")) is None:
            return Problem(R.COLLECTOR_UNKNOWN_EVENT, "event",
                           f"event '{name[:80]}' is not a known event name; valid: a canonical type (page_view, "
                           "product_view, add_to_cart, checkout, purchase, ...), a Segment or GA4 name (Order "
                           "Completed, view_item, ...), or map it in percorso.toml: [sources.NAME] mapping = "
                           "{\"event.<name>\" = \"purchase\"}")
    for name in ("name", "event"):
        v = ev.get(name)
        if v is not None and not isinstance(v, str):
            return Problem(R.COLLECTOR_BAD_TYPE, name, f"{name} has JSON type {_jtype(v)}; valid: a string")
    if (p := _numbers(ev)) is not None:
        return p
    if (p := _context(ev)) is not None:
        return p
    return _times(ev, intake)


def _numbers(ev: dict[str, Any]) -> Problem | None:
    props = ev.get("properties") or {}
    for name in _NUMBER_FIELDS:
        v = props.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return Problem(R.COLLECTOR_BAD_TYPE, f"properties.{name}",
                           f"properties.{name} has JSON type {_jtype(v)}; valid: a JSON number such as 49.9")
    for name in ("order_id", "orderId", "coupon", "currency", "url", "referrer", "email"):
        v = props.get(name)
        if v is not None and not isinstance(v, (str, int)) or isinstance(v, bool):
            return Problem(R.COLLECTOR_BAD_TYPE, f"properties.{name}",
                           f"properties.{name} has JSON type {_jtype(v)}; valid: a string")
    return None


def _context(ev: dict[str, Any]) -> Problem | None:
    ctx = ev.get("context") or {}
    for path in (("page",), ("campaign",), ("device",), ("traits",)):
        v = ctx.get(path[0])
        if v is not None and not isinstance(v, dict):
            return Problem(R.COLLECTOR_BAD_TYPE, f"context.{path[0]}",
                           f"context.{path[0]} has JSON type {_jtype(v)}; valid: a JSON object")
    strings = [("context.ip", ctx.get("ip")), ("context.userAgent", ctx.get("userAgent"))]
    for sub in ("page", "campaign", "device", "traits"):
        for k, v in (ctx.get(sub) or {}).items():
            if k in ("url", "referrer", "source", "medium", "name", "term", "content", "id", "type", "email", "phone"):
                strings.append((f"context.{sub}.{k}", v))
    for k in ("email", "phone"):
        strings.append((f"traits.{k}", (ev.get("traits") or {}).get(k)))
    for where, v in strings:
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
            return Problem(R.COLLECTOR_BAD_TYPE, where, f"{where} has JSON type {_jtype(v)}; valid: a string")
    return None


def _times(ev: dict[str, Any], intake: Intake) -> Problem | None:
    times: dict[str, dt.datetime] = {}
    for name in _TIME_FIELDS:
        v = ev.get(name)
        if v is None:
            continue
        t = parse_time(v)
        if t is None:
            return Problem(R.COLLECTOR_BAD_TIMESTAMP, name, f"{name} '{str(v)[:60]}' is not a time; valid: ISO 8601 "
                           "such as 2026-03-05T10:30:00.000Z or 2026-03-05T11:30:00+01:00")
        times[name] = t
    if not intake.historical:
        if _promotes(ev):  # a client's own clock: corrected like Segment (see stamp)
            times["originalTimestamp"] = times.pop("timestamp")
        received = intake.received
    else:
        received = parse_time(ev.get("receivedAt")) if ev.get("receivedAt") is not None else None
        if ev.get("receivedAt") is not None and received is None:
            return Problem(R.COLLECTOR_BAD_TIMESTAMP, "receivedAt", "receivedAt is not a time; valid: ISO 8601")
    if received is not None and "sentAt" in times and "originalTimestamp" in times:
        at, name = received - (times["sentAt"] - times["originalTimestamp"]), "originalTimestamp"
    else:
        name = next((n for n in ("timestamp", "originalTimestamp") if n in times), None)
        at = times[name] if name else received
    if at is None:
        return Problem(R.COLLECTOR_MISSING_FIELD, "timestamp", "no time: /v1/import needs timestamp; valid: ISO 8601 such "
                       "as 2026-03-05T10:30:00.000Z")
    if not intake.earliest <= at <= intake.latest:
        return Problem(R.COLLECTOR_BAD_TIMESTAMP, name or "receivedAt",
                       f"the event's time {at.isoformat()} is outside the plausible window; valid: from "
                       f"{intake.earliest.date()} to {intake.latest.date()} (after clock-skew correction)")
    return None


def inherit(ev: Any, batch: dict[str, Any]) -> None:
    """A batch item takes the batch's ``sentAt`` and ``context`` where it has none (Segment's rule)."""
    if not isinstance(ev, dict):
        return
    if ev.get("sentAt") is None and batch.get("sentAt") is not None:
        ev["sentAt"] = batch["sentAt"]
    if isinstance(batch.get("context"), dict) and (ev.get("context") is None or isinstance(ev.get("context"), dict)):
        ev["context"] = {**batch["context"], **(ev.get("context") or {})}


def _promotes(ev: dict[str, Any]) -> bool:
    """A client that sent ``timestamp`` and ``sentAt`` but no ``originalTimestamp``: its timestamp is its own clock."""
    return ev.get("originalTimestamp") is None and ev.get("timestamp") is not None and ev.get("sentAt") is not None


def stamp(ev: dict[str, Any], call_type: str | None, intake: Intake) -> dict[str, Any]:
    """The checked call as stored: its type, ids as strings, receivedAt, messageId, context.ip and userAgent.

    A new dict (the call itself is left as sent, for the quarantine should the line be too large).
    """
    out = dict(ev)
    if call_type is not None:
        out["type"] = call_type
    out.pop("writeKey", None)
    for name in ("userId", "anonymousId", "previousId", "groupId", "messageId"):
        if isinstance(out.get(name), int):
            out[name] = str(out[name])
    if _blank(out.get("messageId")):
        out["messageId"] = f"srv-{uuid.uuid4()}"
    if intake.historical:  # an import is sent by a program, not by the person's device
        return out
    if _promotes(out):
        out["originalTimestamp"] = out.pop("timestamp")
    out["receivedAt"] = intake.received_text
    ctx = dict(out.get("context") or {})
    if intake.ip and _blank(ctx.get("ip")):
        ctx["ip"] = intake.ip
    if intake.user_agent and _blank(ctx.get("userAgent")):
        ctx["userAgent"] = intake.user_agent
    out["context"] = ctx
    return out


def stamp_allowance(intake: Intake) -> int:
    """Bytes :func:`stamp` may add to a call (its size limit counts the call as sent)."""
    return 200 + len((intake.ip or "").encode()) + len((intake.user_agent or "").encode())


def dumps(ev: dict[str, Any], *, strict: bool = True) -> bytes:
    """One spool line (compact JSON, UTF-8, newline-terminated).

    orjson writes it (about ten times faster than the standard library, the same JSON) unless
    the call was only readable by the lenient standard parser (``strict=False``: ``NaN``,
    integers past 64 bits), which then writes it back as it read it.
    """
    if strict:
        try:
            return orjson.dumps(ev, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # an integer past 64 bits
            pass
    return json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def cap(raw: bytes | str) -> str:
    """The raw payload as kept in quarantine: text, at most :data:`RAW_CAP` characters."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text if len(text) <= RAW_CAP else text[:RAW_CAP] + f"... [{len(text) - RAW_CAP} more characters]"
