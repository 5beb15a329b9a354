"""The blocklist's e-mails, phones and tax codes, hashed once and kept in the project (issue 15):
the kept hashes are the ones computed afresh, and any change of what they depend on (the list,
the phone region, the secret) computes them again."""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.engine import identity_sql as S
from percorso.identity import normalize as N
from percorso.identity import resolve
from percorso.identity import resolver as R
from tests.identity.helpers import add_events, customer_of, new_project


@pytest.fixture
def proj(tmp_path: Path):
    p = new_project(tmp_path)
    yield p
    p.close()


def _kept(p, monkeypatch) -> list:
    """The rules read from the project, failing if they had to be computed."""
    def never(*_a, **_k):
        raise AssertionError("computed again")

    with monkeypatch.context() as m:
        m.setattr(R, "_hash_blocklist", never)
        return R._blocklist_rules(p, kept_in=p.engine)


def test_kept_hashes_are_the_computed_ones_until_an_input_changes(proj, monkeypatch) -> None:
    afresh = R._blocklist_rules(proj)                      # nothing kept: computed
    assert not proj.engine.has_table(S.BLOCKLIST_KEYS)
    assert R._blocklist_rules(proj, kept_in=proj.engine) == afresh
    assert _kept(proj, monkeypatch) == afresh
    emails = dict((k, v) for k, v, _ in afresh)["email_key"]
    assert emails == [N.keyed_hash(proj.secret, "test@test.com")]   # the packaged list's one exact e-mail

    # a phone added to the project's list: computed again, and there
    path = proj.root / proj.settings.identity.blocklist_file
    path.write_text(path.read_text(encoding="utf-8") + "phone,340 123 4567,exact,a test\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="computed again"):
        _kept(proj, monkeypatch)
    rules = R._blocklist_rules(proj, kept_in=proj.engine)
    assert N.keyed_hash(proj.secret, "+393401234567") in dict((k, v) for k, v, _ in rules)["phone_key"]
    assert _kept(proj, monkeypatch) == rules

    # the region a number without prefix is read in, and the secret, are part of the key
    for setting, value in (("default_phone_region", "CH"), ("secret", "another long secret")):
        setattr(proj.settings.identity, setting, value)
        with pytest.raises(AssertionError, match="computed again"):
            _kept(proj, monkeypatch)
        assert R._blocklist_rules(proj, kept_in=proj.engine) == R._blocklist_rules(proj)
    assert dict((k, v) for k, v, _ in _kept(proj, monkeypatch))["email_key"] == [
        N.keyed_hash(b"another long secret", "test@test.com")]


def test_a_blocklisted_email_never_links_on_the_kept_hashes(proj) -> None:
    placeholder = N.keyed_hash(proj.secret, "test@test.com")
    add_events(proj, [{"source_name": "pos", "email_key": placeholder, "loyalty_card": "L1"},
                      {"source_name": "pos", "email_key": placeholder, "loyalty_card": "L2"}])
    resolve(proj)                                            # computes and keeps the hashes
    assert proj.engine.has_table(S.BLOCKLIST_KEYS)
    add_events(proj, [{"source_name": "pos", "email_key": placeholder, "loyalty_card": "L3"}])
    assert resolve(proj).mode == "incremental"               # reads them
    cards = {customer_of(proj, "loyalty_card", c) for c in ("L1", "L2", "L3")}
    assert len(cards) == 3 and customer_of(proj, "email_key", placeholder) is None
