"""Dashboard sessions: the browser holds a random session id, the server holds the token.

Why not the API token in the cookie: a cookie copied from a browser profile (or left in a
shared computer's profile after "Esci") would be the token itself, valid until an
administrator revokes it, usable from ``curl`` against the REST API too. A session id is only a
handle: log-out forgets it on the server, so the copied cookie opens nothing afterwards; it
expires after a working day even when the token lives for months; and revoking the token still
ends every session opened with it, because each request verifies the token behind the session
through the same :class:`percorso.server.tokens.TokenBook` as a REST call.

Sessions live in the server's memory, stored by the SHA-256 of their id, like the one-time
log-in codes (:mod:`percorso.server.login_link`, the same :class:`Handles`): a restart logs
everyone out, which costs a log-in and keeps no bearer secret on disk. The dashboard is served
by one process.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

#: A session lasts a working day at most (the token may expire sooner).
SESSION_SECONDS = 12 * 3600


class Handles:
    """Random handles (kept by their hash) → the token each stands for, until used up or expired."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._by_hash: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(handle: str) -> str:
        return hashlib.sha256(handle.encode()).hexdigest()

    def issue(self, token: str, nbytes: int = 32) -> str:
        """A new handle for ``token``."""
        handle = secrets.token_urlsafe(nbytes)
        now = time.monotonic()
        with self._lock:
            # forget the expired ones here, so the book never grows with abandoned browsers
            self._by_hash = {k: v for k, v in self._by_hash.items() if v[1] > now}
            self._by_hash[self._key(handle)] = (token, now + self._ttl)
        return handle

    def _lookup(self, handle: str | None, *, remove: bool) -> str | None:
        if not handle:
            return None
        with self._lock:
            get = self._by_hash.pop if remove else self._by_hash.get
            token, until = get(self._key(handle), (None, 0.0))
        return token if token is not None and time.monotonic() < until else None

    def __len__(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for _t, until in self._by_hash.values() if until > now)


class SessionBook(Handles):
    """Session ids → the token they stand for, until log-out or expiry."""

    def __init__(self, ttl: float = SESSION_SECONDS) -> None:
        super().__init__(ttl)

    def start(self, token: str) -> str:
        """A new session id for ``token`` (the cookie's value)."""
        return self.issue(token)

    def token(self, session_id: str | None) -> str | None:
        """The token behind ``session_id``; None when unknown, ended or expired."""
        return self._lookup(session_id, remove=False)

    def end(self, session_id: str | None) -> None:
        """Log-out: the id opens nothing from now on."""
        self._lookup(session_id, remove=True)
