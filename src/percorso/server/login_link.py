"""A one-time link that opens the dashboard logged in (``percorso demo --serve``, ``serve --link``).

Why a code and not the token in the address: the quick start must end in the browser without
asking a marketer to paste a token, but an address lives on in terminal scroll-back, browser
history and proxy logs. The link carries a random code that is valid once and for ten minutes;
redeeming it opens a dashboard session with the run's local admin token, so a copy of
the link found later opens nothing. Codes live in memory only and die with the process.
"""

from __future__ import annotations

from percorso.server.sessions import Handles

#: How long a printed link stays valid.
TTL_SECONDS = 600
PATH = "/login/link/"


class LoginLinks(Handles):
    """One-time codes → the token they redeem (stored by the code's hash, expiring)."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        super().__init__(ttl)

    def issue(self, token: str, nbytes: int = 24) -> str:
        """A new code for ``token``; the link is ``<url>/login/link/<code>``."""
        return super().issue(token, nbytes)

    def redeem(self, code: str) -> str | None:
        """The token for ``code`` once; None when unknown, already used or expired."""
        return self._lookup(code, remove=True)
