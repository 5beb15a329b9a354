"""Deny by default: every route declares who may call it, or it cannot be registered.

Why a decorator of our own instead of FastAPI's: a route added with plain
``@router.get`` would be open to anyone. :func:`endpoint` attaches the role to the
endpoint function (``__percorso_role__``) and the authentication dependency to the route;
:func:`check_every_route_declares_a_role` runs when the app is built and refuses an app
with an undeclared route. Tests build their authorization matrix from the same attribute.

Errors are ``application/problem+json`` (RFC 9457) with percorso's stable codes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from percorso.errors import PercorsoError
from percorso.server.tokens import Principal, Role

PUBLIC: Literal["public"] = "public"
#: The dashboard's session cookie: a session id the server maps to the API token
#: (:mod:`percorso.server.sessions`; HttpOnly, SameSite=Strict).
SESSION_COOKIE = "percorso_session"
#: The dashboard's CSRF cookie: a request authenticated by the session cookie that changes
#: anything must repeat its value (form field ``csrf`` on dashboard forms, ``X-CSRF-Token`` header).
CSRF_COOKIE = "percorso_csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Routes of the tracking API: a source's write key (not an API token) is checked by the route.
WRITE_KEY: Literal["write_key"] = "write_key"

#: HTTP status of each error family (by class, most specific first).
_STATUS = (("DatabaseLocked", 503), ("NotFound", 404), ("AmbiguousCustomer", 409), ("ConfigError", 400),
           ("InputError", 400), ("EngineError", 500))


class ApiError(PercorsoError):
    """An error with an HTTP status (authentication, authorization, limits)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.headers = headers or {}


def status_of(exc: PercorsoError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    for cls in type(exc).__mro__:
        for name, status in _STATUS:
            if cls.__name__ == name:
                return status
    return 500


def problem(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
            extra: dict[str, Any] | None = None) -> JSONResponse:
    """An RFC 9457 problem document."""
    from http import HTTPStatus

    body = {"type": f"urn:percorso:error:{code}", "title": HTTPStatus(status).phrase, "status": status,
            "code": code, "detail": detail}
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


class RateLimiter:
    """A token bucket per API token: ``per_minute`` requests, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def bearer(request: Request) -> str | None:
    """The token of a request: ``Authorization: Bearer …``, or the one behind the dashboard's session."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.app.state.percorso.sessions.token(request.cookies.get(SESSION_COOKIE))


def _csrf_header_ok(request: Request) -> bool:
    import hmac

    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get("x-csrf-token", "")
    return len(cookie) >= 32 and hmac.compare_digest(cookie.encode(), sent.encode())


def require(role: Role) -> Callable[[Request], Principal]:
    """A dependency that authenticates the caller and checks ``role``; sets ``request.state.principal``."""

    async def dependency(request: Request) -> Principal:  # async: no thread hop per request
        state = request.app.state.percorso
        if request.method not in _SAFE_METHODS and not request.headers.get("authorization") \
                and request.cookies.get(SESSION_COOKIE) and not _csrf_header_ok(request):
            # a browser session writing through the API: another site's page could have sent it
            raise ApiError(403, "csrf_failed", "a request with the dashboard's session cookie that changes data "
                           "needs the X-CSRF-Token header (the page's csrf-token meta); reload the page")
        principal, why = state.tokens.verify(bearer(request))
        if principal is None:
            raise ApiError(401, f"token_{why}", f"authentication required: the token is {why}; "
                           "send 'Authorization: Bearer <token>' (percorso token create)",
                           headers={"WWW-Authenticate": 'Bearer realm="percorso"'})
        wait = request.app.state.rate_limiter.take(principal.token_id)
        if wait:
            raise ApiError(429, "rate_limited", f"too many requests for token '{principal.name}'; retry in "
                           f"{wait:.1f} s", headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        if principal.role < role:
            raise ApiError(403, "forbidden", f"role '{principal.role.name}' may not call this; it needs "
                           f"'{role.name}' or higher")
        request.state.principal = principal
        state.note_token_use(principal)
        return principal

    return dependency


def endpoint(router: APIRouter, method: str, path: str, *, role: Role | Literal["public", "write_key"],
             **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route with the role it needs (``PUBLIC`` for health checks and the docs,
    ``WRITE_KEY`` for the tracking API, whose route checks the source's write key itself)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__percorso_role__ = role  # type: ignore[attr-defined]
        deps = [] if role in (PUBLIC, WRITE_KEY) else [Depends(require(role))]
        router.add_api_route(path, fn, methods=[method], dependencies=deps, **kwargs)
        return fn

    return decorate


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route of an app or router, through included routers (FastAPI nests them)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(api_routes(route.original_router.routes))
    return out


def check_every_route_declares_a_role(routes: list[Any]) -> None:
    """Refuse an app with a route that says nothing about who may call it."""
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in api_routes(routes)
                  if not hasattr(r.endpoint, "__percorso_role__")]
    if undeclared:
        raise RuntimeError(f"routes without a declared role (use percorso.server.security.endpoint): {undeclared}")


def route_role(route: APIRoute) -> Role | str:
    return getattr(route.endpoint, "__percorso_role__")
