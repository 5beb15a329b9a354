"""Normalisation of personal identifiers and their keyed hashes (HMAC-SHA256).

Why here: ingest stores e-mail, phone, tax code and IP only as keyed hashes in ``events``
(``email_key``, ``phone_key``, ``tax_code_key``, ``ip_key``) so that identity resolution
can join on them without the raw values; the same normalisation must give the same key in
every source, so one module owns it. Work is done on *distinct* values
(:func:`hash_identifier_column`), never per event row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: Identifier kinds :func:`hash_identifier_column` understands.
KINDS = ("email", "phone", "tax_code", "ip", "loyalty_card")

_SIMPLE_EMAIL = re.compile(r"^[a-z0-9][a-z0-9._%+\-]{0,63}@[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,24}$")


@lru_cache(maxsize=200_000)
def normalize_email(value: str | None) -> str | None:
    """Trimmed, lowercased, syntactically valid e-mail, or ``None``.

    Deliverability is not checked (no network at ingest). Common ASCII addresses take a
    fast path; anything unusual goes through ``email-validator``.

    Examples
    --------
    >>> normalize_email("  Mario.Rossi@Example.IT ")
    'mario.rossi@example.it'
    >>> normalize_email("not an email") is None
    True
    """
    if value is None:
        return None
    v = str(value).strip().lower()
    if not v or "@" not in v:
        return None
    if _SIMPLE_EMAIL.match(v) and ".." not in v and not v.split("@")[0].endswith("."):
        return v
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(v, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@lru_cache(maxsize=200_000)
def normalize_phone(value: str | None, region: str = "IT") -> str | None:
    """E.164 phone number (``+393401234567``) or ``None`` when it is not a valid number.

    Numbers without an international prefix are read in ``region`` (default Italy).

    Examples
    --------
    >>> normalize_phone("340 123 4567")
    '+393401234567'
    >>> normalize_phone("123") is None
    True
    """
    if value is None:
        return None
    v = str(value).strip()
    if not v:
        return None
    if v.startswith("00"):
        v = "+" + v[2:]
    import phonenumbers

    try:
        num = phonenumbers.parse(v, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalize_tax_code(value: str | None) -> str | None:
    """Uppercased codice fiscale without spaces if its check character is right, else ``None``.

    Examples
    --------
    >>> normalize_tax_code("rss mra 85t10 a562s")
    'RSSMRA85T10A562S'
    """
    if value is None:
        return None
    from stdnum.exceptions import ValidationError
    from stdnum.it import codicefiscale

    try:
        return str(codicefiscale.validate(str(value)))
    except ValidationError:
        return None


def normalize_loyalty_card(value: str | None) -> str | None:
    """Loyalty card number trimmed, uppercased, inner spaces removed (not hashed: not PII)."""
    if value is None:
        return None
    v = re.sub(r"\s+", "", str(value)).upper()
    return v or None


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
#: an IPv4 address already in canonical form (no leading zeros): ``ipaddress`` would return it unchanged
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def normalize_ip(value: str | None) -> str | None:
    """IP address in canonical text form, or ``None`` when it is not an IP.

    A dotted quad already canonical (nearly every IPv4 a site or app sends) is recognised by
    one regular expression: ``ipaddress`` took ~50 us an address, 2.7 of the collector's
    14 s of ingest for 50,000 calls with 35,000 distinct addresses.
    """
    if value is None:
        return None
    text = str(value).strip()
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def keyed_hash(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the project secret, as 64 hex characters.

    A keyed hash (not a bare SHA-256) so that nobody without the secret can test whether
    a given e-mail is in the data by hashing it.
    """
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def normalizer(kind: str, region: str = "IT"):  # noqa: ANN201 - small dispatcher
    """The normalising function for an identifier kind."""
    if kind == "email":
        return normalize_email
    if kind == "phone":
        return lambda v: normalize_phone(v, region)
    if kind == "tax_code":
        return normalize_tax_code
    if kind == "ip":
        return normalize_ip
    if kind == "loyalty_card":
        return normalize_loyalty_card
    raise ValueError(f"unknown identifier kind '{kind}'; valid: {', '.join(KINDS)}")


def normalize_distinct(kind: str, values: pa.Array, region: str = "IT") -> pa.Array:
    """Normalised value for each element of an array of *distinct* raw values."""
    import pyarrow as pa

    fn = normalizer(kind, region)
    return pa.array([None if v is None else fn(v) for v in values.to_pylist()], pa.string())


def hash_identifier_column(kind: str, arrow_array: pa.Array | pa.ChunkedArray, secret: bytes,
                           region: str = "IT") -> pa.Array:
    """Keyed hash of the normalised value of every element (``None`` where invalid or empty).

    Normalises only the distinct values (``pc.unique``) and maps the result back with
    ``pc.index_in`` + ``take``, so a column with millions of rows and few distinct values
    costs little. ``loyalty_card`` is normalised but not hashed.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = arrow_array.combine_chunks() if isinstance(arrow_array, pa.ChunkedArray) else arrow_array
    arr = arr.cast(pa.string())
    uniq = pc.unique(arr).drop_null()
    norm = normalize_distinct(kind, uniq, region)
    if kind == "loyalty_card":
        mapped = norm
    else:
        mapped = pa.array([None if v is None else keyed_hash(secret, v) for v in norm.to_pylist()], pa.string())
    idx = pc.index_in(arr, value_set=uniq)
    return pc.take(mapped, idx)
