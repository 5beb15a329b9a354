"""Find a person in free text (a quarantined row, a spool line) by their keys, never by raw search.

Why: free text is where personal data hides after the structured columns are cleaned — a
malformed CSV row kept in quarantine with its e-mail, a Segment payload waiting in the
collector's spool. The text is tokenised, each e-mail / phone / tax code token is normalised
the way ingest normalises it and hashed (:mod:`percorso.identity.normalize`), other tokens
are taken as they are; a token matches when its suppression key (``sha256(secret:kind:
value)``) is in the set given. Works on *distinct* texts only (the engine rule for Python).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from percorso.identity import normalize as N

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ./-]{6,}\d")
_TAX = re.compile(r"\b[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]\b")
_TOKEN = re.compile(r"[^\s;,\"'{}\[\]:|\t]+")
#: identifier kinds stored as they are (a token of the text is compared as one of these)
RAW_KINDS = ("loyalty_card", "crm_id", "user_id", "anonymous_id", "device_id", "order_id")


def suppression_key(secret: str, kind: str, value: str) -> str:
    """The key of ``privacy_suppression`` (``engine.privacy_sql`` computes the same in SQL)."""
    return hashlib.sha256(f"{secret}:{kind}:{value}".encode()).hexdigest()


def text_keys(text: str, secret: bytes, region: str = "IT") -> set[str]:
    """Every suppression key a text could match: its e-mails, phones, tax codes and raw tokens."""
    s = secret.decode("utf-8")
    out: set[str] = set()
    for rx, norm, kind in ((_EMAIL, N.normalize_email, "email_key"), (_TAX, N.normalize_tax_code, "tax_code_key")):
        for m in rx.findall(text):
            v = norm(m)
            if v:
                out.add(suppression_key(s, kind, N.keyed_hash(secret, v)))
    for m in _PHONE.findall(text):
        v = N.normalize_phone(m, region)
        if v:
            out.add(suppression_key(s, "phone_key", N.keyed_hash(secret, v)))
    for tok in set(_TOKEN.findall(text)):
        card = N.normalize_loyalty_card(tok) or tok
        for kind in RAW_KINDS:
            out.add(suppression_key(s, kind, card if kind == "loyalty_card" else tok))
    return out


def texts_naming(texts: Iterable[str], keys: set[str], secret: bytes, region: str = "IT") -> list[str]:
    """The texts among ``texts`` (distinct) that name anyone whose keys are in ``keys``."""
    if not keys:
        return []
    return [t for t in texts if t and text_keys(t, secret, region) & keys]
