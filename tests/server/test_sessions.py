"""The session book: ids map to tokens until log-out or expiry, stored by hash."""

from __future__ import annotations

from percorso.server.sessions import SessionBook


def test_a_session_id_stands_for_its_token_until_log_out() -> None:
    book = SessionBook()
    first, second = book.start("pct_aaaaaaaaaaaa_" + "x" * 30), book.start("pct_bbbbbbbbbbbb_" + "y" * 30)
    assert first != second and len(first) >= 40  # random, unguessable
    assert book.token(first).startswith("pct_aaaaaaaaaaaa_") and book.token(second).startswith("pct_bbbbbbbbbbbb_")
    book.end(first)
    assert book.token(first) is None and book.token(second) is not None and len(book) == 1
    assert book.token(None) is None and book.token("") is None and book.token("made-up") is None


def test_the_book_keeps_hashes_not_ids_and_forgets_expired_sessions() -> None:
    book = SessionBook(ttl=-1)
    sid = book.start("pct_cccccccccccc_" + "z" * 30)
    assert book.token(sid) is None and len(book) == 0  # expired at once
    assert sid not in repr(book._by_hash)  # only the SHA-256 of the id is kept
    book.start("pct_dddddddddddd_" + "w" * 30)
    assert len(book._by_hash) == 1  # starting a session dropped the expired one
