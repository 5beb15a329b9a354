"""The webhook adapter: a signed POST, pinned to the checked address, redirects re-checked.

Why each part:

- **Signed** (HMAC-SHA256 of ``"<timestamp>.<body>"`` with the endpoint's secret, header
  ``X-Percorso-Signature: t=<ts>,v1=<hex>``): the receiver can tell a message from percorso
  from a forged one and refuse replays older than a few minutes (:func:`verify`).
- **Idempotency-Key** header = the outbox key: after a crash the same message may be sent
  again (the outbox cannot know whether the receiver got it before the crash); the receiver
  keeps the first and acknowledges the rest (ADR 0026).
- **Pinned and re-checked** (:mod:`percorso.activation.ssrf`): the connection goes to the
  address that was checked, and every redirect target is checked again.
- **Timeouts and retries**: 3 s to connect, 10 s in all; a network error, 429 or 5xx is
  retried by the outbox with exponential backoff (:func:`backoff_seconds`), surviving
  restarts because the next attempt time is stored, not slept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from percorso.activation.ssrf import Resolver, TargetRefused, check_url, system_resolver

SIGNATURE_HEADER = "X-Percorso-Signature"
MAX_REDIRECTS = 3
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    """What one attempt did: ``sent``, ``retry`` (transient) or ``failed`` (permanent)."""

    status: str
    http_status: int | None = None
    error: str | None = None


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, *, now: float | None = None, tolerance: int = 300) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` seconds old."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


def backoff_seconds(attempt: int, base: float = 30.0, cap: float = 3600.0) -> float:
    """Wait before attempt ``attempt + 1``: 30 s, 60 s, 120 s… at most an hour."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


def _pinned(url: str, address: str) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def post(url: str, payload: dict[str, Any], *, secret: bytes, key: str, allow: Iterable[str] = (),
         resolver: Resolver = system_resolver, timeout: float = 10.0, client: Any = None) -> Outcome:
    """POST ``payload`` as JSON to ``url``; follow at most 3 redirects, each re-checked."""
    import httpx

    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    own = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(3.0, timeout)), follow_redirects=False)
    try:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                target = check_url(current, allow=allow, resolver=resolver)
            except TargetRefused as exc:
                return Outcome("failed", error=exc.message)
            headers = {"Content-Type": "application/json", "Host": target.host if urlsplit(current).port is None
                       else f"{target.host}:{target.port}", "Idempotency-Key": key,
                       SIGNATURE_HEADER: sign(secret, int(time.time()), body), "User-Agent": "percorso-activation"}
            ext = {"sni_hostname": target.host} if target.scheme == "https" else {}
            try:
                resp = client.post(_pinned(current, target.address), content=body, headers=headers, extensions=ext)
            except httpx.HTTPError as exc:
                return Outcome("retry", error=f"{type(exc).__name__}: {exc}"[:300])
            if resp.status_code in (301, 302, 303, 307, 308) and "location" in resp.headers:
                current = urljoin(current, resp.headers["location"])
                continue
            if 200 <= resp.status_code < 300:
                return Outcome("sent", resp.status_code)
            if resp.status_code == 429 or resp.status_code >= 500:
                return Outcome("retry", resp.status_code, f"HTTP {resp.status_code}")
            return Outcome("failed", resp.status_code, f"HTTP {resp.status_code}")
        return Outcome("failed", error=f"more than {MAX_REDIRECTS} redirects")
    finally:
        if own:
            client.close()


__all__ = ["MAX_ATTEMPTS", "Outcome", "SIGNATURE_HEADER", "backoff_seconds", "post", "sign", "verify"]
