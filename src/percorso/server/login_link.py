"""A one-time link that opens the dashboard logged in (``percorso demo --serve``, ``serve --link``).

Why a code and not the token in the address: the quick start must end in the browser without
asking a marketer to paste a token, but an address lives on in terminal scroll-back, browser
history and proxy logs. The link carries a random code that is valid once and for ten minutes;
redeeming it puts the run's local admin token into the HttpOnly session cookie, so a copy of
the link found later opens nothing. Codes live in memory only and die with the process.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

#: How long a printed link stays valid.
TTL_SECONDS = 600
PATH = "/login/link/"


class LoginLinks:
    """One-time codes → the token they redeem (stored by the code's hash, expiring)."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self._ttl = ttl
        self._codes: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(code: str) -> str:
        return hashlib.sha256(code.encode()).hexdigest()

    def issue(self, token: str) -> str:
        """A new code for ``token``; the link is ``<url>/login/link/<code>``."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[self._key(code)] = (token, time.monotonic() + self._ttl)
        return code

    def redeem(self, code: str) -> str | None:
        """The token for ``code`` once; None when unknown, already used or expired."""
        with self._lock:
            token, until = self._codes.pop(self._key(code), (None, 0.0))
        return token if token is not None and time.monotonic() <= until else None
