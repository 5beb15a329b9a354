"""One-time log-in links: a code redeems its token once, before it expires, and is not the token."""

from __future__ import annotations

from percorso.server.login_link import LoginLinks


def test_a_code_redeems_its_token_once() -> None:
    links = LoginLinks()
    code = links.issue("pct_secret")
    assert "pct_secret" not in code
    assert links.redeem(code) == "pct_secret"
    assert links.redeem(code) is None


def test_an_expired_or_unknown_code_redeems_nothing() -> None:
    links = LoginLinks(ttl=-1)
    code = links.issue("pct_secret")
    assert links.redeem(code) is None
    assert links.redeem("made-up") is None
    assert LoginLinks().redeem(code) is None  # codes live in one process's memory only
