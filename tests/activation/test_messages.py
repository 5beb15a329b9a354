"""Templates in a sandbox, unsubscribe tokens, customer-match normalisation by the platforms' rules."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from percorso.activation.audience import google_email, meta_phone, rows_for, sha256
from percorso.activation.email import read_unsubscribe_token, render, unsubscribe_token
from percorso.errors import InputError


def test_templates_render_in_both_languages(tmp_path) -> None:
    ctx = {"first_name": "Anna", "unsubscribe_url": "https://x/u?t=1"}
    assert render("cart", "it", ctx)[0] == "Anna, hai dimenticato qualcosa nel carrello"
    assert render("cart", "en", ctx)[0] == "Anna, you left something in your cart"
    folder = tmp_path / "activation" / "templates"
    folder.mkdir(parents=True)
    (folder / "cart.it.txt").write_text("Subject: Proprio tu, {{ first_name }}\nCiao {{ unsubscribe_url }}\n", encoding="utf-8")
    assert render("cart", "it", ctx, tmp_path) == ("Proprio tu, Anna", "Ciao https://x/u?t=1\n")


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }} {{ unsubscribe_url }}",
    "{{ first_name.__class__.__init__.__globals__ }} {{ unsubscribe_url }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }} {{ unsubscribe_url }}",
])
def test_the_sandbox_refuses_escapes(tmp_path, body: str) -> None:
    folder = tmp_path / "activation" / "templates"
    folder.mkdir(parents=True)
    (folder / "evil.it.txt").write_text("Subject: x\n" + body + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        render("evil", "it", {"first_name": "Anna", "unsubscribe_url": "u"}, tmp_path)
    assert err.value.code in ("template_unsafe", "template_invalid")


def test_typos_and_missing_unsubscribe_are_errors(tmp_path) -> None:
    folder = tmp_path / "activation" / "templates"
    folder.mkdir(parents=True)
    (folder / "typo.it.txt").write_text("Subject: x\nCiao {{ frist_name }} {{ unsubscribe_url }}\n", encoding="utf-8")
    (folder / "nounsub.it.txt").write_text("Subject: x\nCiao\n", encoding="utf-8")
    with pytest.raises(InputError, match="frist_name"):
        render("typo", "it", {"first_name": "A", "unsubscribe_url": "u"}, tmp_path)
    with pytest.raises(InputError, match="unsubscribe_url"):
        render("nounsub", "it", {"unsubscribe_url": "u"}, tmp_path)


def test_unsubscribe_tokens_cannot_be_forged() -> None:
    token = unsubscribe_token(b"secret", "C1", "email")
    assert read_unsubscribe_token(b"secret", token) == ("C1", "email")
    for forged in (token.replace("C1", "C2"), token[:-1] + ("0" if token[-1] != "0" else "1"), "C1.email", "x"):
        with pytest.raises(InputError):
            read_unsubscribe_token(b"secret", forged)
    with pytest.raises(InputError):
        read_unsubscribe_token(b"other", token)


def test_customer_match_normalisation_by_hand() -> None:
    assert google_email("  Mario.Rossi+news@GMail.com ") == "mariorossi+news@gmail.com"
    assert google_email("Mario.Rossi@Libero.it") == "mario.rossi@libero.it"
    assert meta_phone("340 123 4567") == "393401234567"
    assert sha256("mario.rossi@libero.it") == hashlib.sha256(b"mario.rossi@libero.it").hexdigest()
    people = pd.DataFrame([{"customer_id": "C1", "email": " Mario.Rossi@Libero.IT", "phone": "3401234567",
                            "first_name": " Mário ", "last_name": "D'Angelo", "city": "Reggio Emilia", "province": "RE"},
                           {"customer_id": "C2", "email": None, "phone": None, "first_name": "X", "last_name": "Y",
                            "city": None, "province": None}])
    google = rows_for("google", people)
    assert len(google) == 1  # nobody without an e-mail or a phone (cannot match)
    assert google[0][:2] == (sha256("mario.rossi@libero.it"), sha256("+393401234567"))
    assert google[0][2] == sha256("mário") and google[0][4] == "IT"
    meta = rows_for("meta", people)[0]
    assert meta[1] == sha256("393401234567") and meta[2] == sha256("mario") and meta[3] == sha256("dangelo")
    assert meta[4] == sha256("reggioemilia") and meta[5] == sha256("it")
    assert len(rows_for("csv", people)) == 2
