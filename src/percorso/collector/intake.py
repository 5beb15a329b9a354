"""One request of the tracking API, from raw bytes to spool lines and an answer.

Why a module of its own, away from the route: the 10,000-mutation test and the benchmark
call it directly, and the route stays a thin adapter (auth, await the fsync, answer).

The answer follows Segment's HTTP API: ``200 {"success": true}`` when every call was taken;
otherwise a 4xx (413 for size, else 400) ``application/problem+json`` whose ``errors`` name,
per refused call, its index in the batch, the field, and what would be valid. The good calls
of a batch are taken even then (``accepted`` says how many): one bad event never costs the
others, and clients do not retry a 4xx, so nothing is sent twice.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from percorso.collector import envelope as E
from percorso.ingest import reasons as R

#: endpoint (last path part) -> the call type it implies (None: a batch of typed calls)
ENDPOINTS: dict[str, str | None] = {"track": "track", "page": "page", "screen": "screen", "identify": "identify",
                                    "alias": "alias", "group": "group", "batch": None, "import": None}
#: analytics.js posts each call to the first letter of its type (``/v1/t``, ``/v1/p``, ...)
SHORT: dict[str, str] = {"t": "track", "p": "page", "s": "screen", "i": "identify", "a": "alias", "g": "group",
                         "b": "batch"}
_WRITE_KEY = re.compile(rb'"writeKey"\s*:\s*"(pcw_[0-9a-f]{12}_[A-Za-z0-9_-]{20,})"')


@dataclass
class Outcome:
    """What to write and what to answer."""

    status: int = 200
    accepted: int = 0
    events: list[bytes] = field(default_factory=list)
    rejects: list[bytes] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, problem: E.Problem, raw: Any, where: str, line: int, at: str, index: int | None = None) -> None:
        """Record one refused payload: an error for the answer, a quarantine line for the spool."""
        if not isinstance(raw, (bytes, str)):
            raw = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        self.rejects.append(json.dumps({"reason": problem.code, "message": f"{problem.field}: {problem.message}",
                                        "raw": E.cap(raw if raw is not None else ""), "where": where, "line": line,
                                        "at": at}, ensure_ascii=False).encode("utf-8") + b"\n")
        err = problem.to_dict()
        if index is not None:
            err["index"] = index
        self.errors.append(err)
        self.status = max(self.status, problem.status) if self.status != 200 else problem.status

    def body(self) -> dict[str, Any]:
        if self.status == 200:
            return {"success": True}
        first = self.errors[0]
        where = f" (batch item {first['index']})" if "index" in first else ""
        more = f"; {len(self.errors) - 1} more refused" if len(self.errors) > 1 else ""
        return {"code": first["code"], "detail": f"{first['field']}{where}: {first['message']}{more}",
                "accepted": self.accepted, "rejected": len(self.errors), "errors": self.errors[:100]}


def client_ip(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str | None:
    """The sender's address: the connection's, or behind trusted proxies the last untrusted hop.

    ``X-Forwarded-For`` is read right to left and only while each hop is one of ``trusted``
    (anyone can write the header; only our own proxies' additions are believed).
    """
    if not peer or peer not in trusted or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0] if hops else peer


def key_in_body(raw: bytes) -> str | None:
    """The ``writeKey`` of a body, found even when the body is not valid JSON (for the quarantine)."""
    m = _WRITE_KEY.search(raw[:E.MAX_BATCH_BYTES + 1])
    return m.group(1).decode() if m else None


def inflate(raw: bytes, encoding: str | None) -> bytes | E.Problem:
    """A gzip/deflate body inflated, never past the batch limit."""
    enc = (encoding or "").strip().lower()
    if enc in ("", "identity"):
        return raw
    if enc not in ("gzip", "deflate"):
        return E.Problem(R.COLLECTOR_BAD_ENCODING, "Content-Encoding",
                         f"Content-Encoding '{enc[:40]}' is not read; valid: gzip, deflate or none", 415)
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS)
        out = d.decompress(raw, E.MAX_BATCH_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        return E.Problem(R.COLLECTOR_BAD_ENCODING, "body", f"the {enc} body does not inflate ({exc}); "
                         "valid: a complete gzip stream or an uncompressed body")
    if len(out) > E.MAX_BATCH_BYTES:
        return E.Problem(R.COLLECTOR_TOO_LARGE, "body", "the inflated body is over 500 KB; valid: at most "
                         "500 KB per batch (send smaller batches)", 413)
    return out


def process(raw: bytes, endpoint: str, intake: E.Intake, where: str) -> Outcome:
    """Check and stamp every call of one request body; nothing is written here."""
    out = Outcome()
    at = intake.received_text.rstrip("Z")
    single = ENDPOINTS[endpoint]
    limit = E.MAX_BATCH_BYTES if single is None else E.MAX_EVENT_BYTES
    if len(raw) > limit:
        what = "a batch is 500 KB" if single is None else "one event is 32 KB"
        out.refuse(E.Problem(R.COLLECTOR_TOO_LARGE, "body", f"the body is {len(raw):,} bytes; valid: at most "
                             f"{what.split(' is ')[1]} for {what.split(' is ')[0]} (send smaller batches)", 413), raw, where, 0, at)
        return out
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.refuse(E.Problem(R.COLLECTOR_BAD_ENCODING, "body", f"the body is not UTF-8 (byte {exc.start}); "
                             "valid: JSON in UTF-8"), raw, where, 0, at)
        return out
    strict = True
    try:  # orjson first (several times faster); what it refuses goes to the standard parser, which
        doc = orjson.loads(raw)  # reads a little more (NaN, huge integers) and words the error
    except orjson.JSONDecodeError:
        strict = False
    try:
        if not strict:
            doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        out.refuse(E.Problem(R.COLLECTOR_BAD_JSON, "body", f"the body is not JSON ({msg}); valid: one JSON object"),
                   text, where, 0, at)
        return out
    if single is not None:
        calls, batch = [doc], None
    elif not isinstance(doc, dict) or not isinstance(doc.get("batch"), list) or not doc["batch"]:
        got = "no object" if not isinstance(doc, dict) else "no list 'batch'" if not isinstance(
            doc.get("batch"), list) else "an empty 'batch'"
        fld = "body" if not isinstance(doc, dict) else "batch"
        code = R.COLLECTOR_BAD_JSON if not isinstance(doc, dict) else (
            R.COLLECTOR_MISSING_FIELD if "batch" not in doc or doc.get("batch") == [] else R.COLLECTOR_BAD_TYPE)
        out.refuse(E.Problem(code, fld, f"{got}; valid: {{\"batch\": [{{\"type\": \"track\", ...}}, ...]}} with at "
                             "least one call"), text, where, 0, at)
        return out
    else:
        calls, batch = doc["batch"], doc
    allowance = E.MAX_EVENT_BYTES + E.stamp_allowance(intake)
    for i, ev in enumerate(calls):
        if batch is not None:
            E.inherit(ev, batch)
        index = None if batch is None else i
        problem = E.check_event(ev, single, intake)
        if problem is not None:
            out.refuse(problem, text if batch is None else ev, where, i + 1, at, index)
            continue
        line = E.dumps(E.stamp(ev, single, intake), strict=strict)
        if len(line) > allowance:  # the call as sent was over 32 KB (what the stamps add is not counted)
            size = len(text.encode()) if batch is None else len(json.dumps(ev, ensure_ascii=False).encode())
            if size > E.MAX_EVENT_BYTES:
                out.refuse(E.Problem(R.COLLECTOR_TOO_LARGE, "(event)", f"the event is {size:,} bytes; valid: at most "
                                     "32 KB per event", 413 if batch is None else 400),
                           text if batch is None else ev, where, i + 1, at, index)
                continue
        out.events.append(line)
        out.accepted += 1
    return out
