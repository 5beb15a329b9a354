"""The Segment HTTP Tracking API: ``POST /v1/{track,page,screen,identify,alias,group,batch,import}``
(and analytics.js's one-letter paths ``/v1/t``, ``/v1/p``, ...).

Thin on purpose: authenticate the write key, hand the bytes to
:func:`percorso.collector.intake.process`, wait for the spool's fsync, answer. The answer is
200 only once the accepted calls are on disk (ADR 0023). CORS preflights are answered for
the origins in ``[collector] allowed_origins`` (analytics.js posts from the shop's pages).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from percorso.collector import intake as I
from percorso.collector.envelope import MAX_BATCH_BYTES
from percorso.server.security import PUBLIC, WRITE_KEY, endpoint, problem

router = APIRouter(tags=["collector"])
_RETRY_AFTER = "5"


def _basic_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:6].lower() != "basic ":
        return None
    try:
        user = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except ValueError:
        return None
    return user.split(":", 1)[0] or None


def _cors(request: Request, door: Any) -> dict[str, str]:
    origin = request.headers.get("origin")
    allowed = door.settings.allowed_origins if door else []
    if not origin or not allowed or ("*" not in allowed and origin not in allowed):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def _body(request: Request, limit: int) -> bytes:
    """The body, read up to ``limit + 1`` bytes (an oversize body is refused without reading it all)."""
    chunks, n = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        n += len(chunk)
        if n > limit:
            break
    return b"".join(chunks)


_OK = b'{"success":true}'


def _answer(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    if status == 200:
        return Response(_OK, media_type="application/json", headers=headers)
    code, detail = body.pop("code"), body.pop("detail")
    # "message": Segment's own libraries read the reason there
    return problem(status, code, detail, headers=headers, extra={"message": detail, **body})


async def handle(request: Request, door: Any, call: str) -> Response:
    """One tracking call or batch through ``door`` (the server's collector, or an intake worker's)."""
    cors = _cors(request, door)
    if door is None:
        return problem(503, "collector_unavailable", "the collector is starting or stopping; retry shortly",
                       headers={"Retry-After": _RETRY_AFTER, **cors})
    door.requests += 1
    if door.spool.full():
        door.busy += 1
        return problem(503, "collector_busy", "the spool is full (the consumer is behind); retry after the "
                       "Retry-After seconds, nothing was stored", headers={"Retry-After": _RETRY_AFTER, **cors})
    sent = await _body(request, 4 * MAX_BATCH_BYTES)
    raw = I.inflate(sent, request.headers.get("content-encoding"))
    key = _basic_key(request) or I.key_in_body(raw if isinstance(raw, bytes) else sent)
    source = door.keys.source_of(key)
    if source is None:
        door.refused += 1
        why = "missing" if not key else "unknown or revoked"
        return problem(401, "write_key_invalid", f"the write key is {why}; send it as the HTTP Basic user name "
                       "(Authorization: Basic base64('<key>:')) or as \"writeKey\" in the body "
                       "(percorso source key create SOURCE)", headers={"WWW-Authenticate": 'Basic realm="percorso"', **cors})
    request_id = uuid.uuid4().hex[:16]
    where = f"POST /v1/{call} {request_id}"
    client = I.client_ip(request.client.host if request.client else None, request.headers.get("x-forwarded-for"),
                         door.settings.trusted_proxies)
    intake = door.intake(source, client, request.headers.get("user-agent"), historical=call == "import")
    if not isinstance(raw, bytes):  # an encoding problem: refused as a whole
        out = I.Outcome()
        out.refuse(raw, sent, where, 0, intake.received_text.rstrip("Z"))
    else:
        out = I.process(raw, call, intake, where)
    if out.events or out.rejects:
        fut = door.spool.submit(source, b"".join(out.events), b"".join(out.rejects), out.accepted)
        try:
            await asyncio.wrap_future(fut)
        except Exception:  # noqa: BLE001 - the disk refused the write: nothing acknowledged
            return problem(503, "collector_spool_failed", "the spool could not be written (disk); retry after "
                           "the Retry-After seconds", headers={"Retry-After": _RETRY_AFTER, **cors})
    if out.status != 200:
        door.refused += 1
    return _answer(out.status, out.body(), {"X-Request-Id": request_id, **cors})


def preflight(request: Request, door: Any) -> Response:
    """A browser's CORS preflight: allowed for the configured origins only."""
    headers = _cors(request, door)
    if headers:
        headers.update({"Access-Control-Allow-Methods": "POST, OPTIONS",
                        "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
                        "Access-Control-Max-Age": "86400"})
    return Response(status_code=204, headers=headers)


def _register(call: str, path: str) -> None:
    async def track(request: Request) -> Response:
        return await handle(request, getattr(request.app.state.percorso, "collector", None), call)

    async def options(request: Request) -> Response:
        return preflight(request, getattr(request.app.state.percorso, "collector", None))

    track.__name__ = f"collector_{path}"
    options.__name__ = f"collector_{path}_preflight"
    summary = {"batch": "Batch of calls", "import": "Historical import (times kept as sent)"}.get(call, f"{call} call")
    endpoint(router, "POST", f"/v1/{path}", role=WRITE_KEY, summary=f"Segment {summary}",
             include_in_schema=path == call,  # the one-letter paths of analytics.js are aliases
             description="Segment HTTP Tracking API; auth: the source's write key (HTTP Basic user name or "
                         "`writeKey` in the body). 200 once on disk.")(track)
    endpoint(router, "OPTIONS", f"/v1/{path}", role=PUBLIC, include_in_schema=False)(options)


for _call in I.ENDPOINTS:
    _register(_call, _call)
for _short, _call in I.SHORT.items():
    _register(_call, _short)
