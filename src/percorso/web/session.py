"""Log-in with an API token, the session cookie and CSRF protection of every form.

The dashboard has exactly the rights of the token it was opened with, checked by the same
:class:`percorso.server.tokens.TokenBook` as every REST call: the cookie holds a session id the
server maps to that token (:mod:`percorso.server.sessions`, why not the token itself), so
log-out ends the session on the server and revoking the token ends it too. The cookie is
``HttpOnly`` (no script reads it) and ``SameSite=Strict`` (no other site's page sends it).

CSRF: a double-submit token. The server sets a random ``percorso_csrf`` cookie
(``SameSite=Strict``); every form carries the same value in a hidden ``csrf`` field (HTMX
requests in the ``X-CSRF-Token`` header, from the page's ``<meta name="csrf-token">``). A POST
whose field does not equal the cookie is refused with 403, before anything else runs. Another
site can make a browser send the cookie (not with SameSite=Strict, but older browsers) yet
cannot read it, so it cannot fill in the field.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import Response

from percorso.server.security import CSRF_COOKIE, SESSION_COOKIE  # named once, read by security.require
from percorso.server.sessions import SESSION_SECONDS

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (the cookie's value, or a new one set on the response)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if len(existing) >= 32:
        return existing
    new = getattr(request.state, "new_csrf", None)
    if new is None:
        new = request.state.new_csrf = secrets.token_urlsafe(32)
    return new


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Send the CSRF cookie when this request created one."""
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=_secure(request), path="/")


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def csrf_ok(request: Request, fields: dict[str, str]) -> bool:
    """The form's (or header's) CSRF value equals the cookie's, compared in constant time."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    return len(cookie) >= 32 and hmac.compare_digest(cookie.encode(), sent.encode())


def start_session(request: Request, response: Response, token: str) -> None:
    """Open a server-side session for ``token`` and send its id as the cookie."""
    session_id = request.app.state.percorso.sessions.start(token)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict", secure=_secure(request),
                        max_age=SESSION_SECONDS, path="/")


def end_session(request: Request, response: Response) -> None:
    """Log-out: the server forgets the session (a copied cookie opens nothing) and the browser drops it."""
    request.app.state.percorso.sessions.end(request.cookies.get(SESSION_COOKIE))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))


def safe_next(target: str | None) -> str:
    """Where to go after log-in: a path on this site only (``/mappa?…``), never another host."""
    target = (target or "/").strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"
