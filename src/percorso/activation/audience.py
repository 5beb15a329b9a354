"""Audience files (Google and Meta customer match, CSV) and task lists for stores and the call center.

Why the platforms' own normalisation: a hash matches only when both sides hashed the same
bytes. Google Customer Match wants e-mails trimmed and lowercased, with the dots of the user
part removed for gmail.com / googlemail.com, phones in E.164 *with* the ``+``, names
lowercased without surrounding spaces; Meta wants e-mails trimmed and lowercased, phones as
digits only with the country code (no ``+``, no leading zeros), names lowercased letters
only, city lowercased without spaces or punctuation, country as two lowercase letters. Both
take SHA-256 as 64 lowercase hex digits; country and zip are sent in clear to Google.

The contact values are read from the customer profile (``customers``), the only place raw
contact data lives; normalisation runs on the members' distinct values (the phone library is
Python), the rest stays in the engine.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Any

from percorso.identity.normalize import normalize_email, normalize_phone

#: Column headers of each format, as the platforms' upload templates name them.
HEADERS = {
    "google": ("Email", "Phone", "First Name", "Last Name", "Country", "Zip"),
    "meta": ("email", "phone", "fn", "ln", "ct", "country"),
    "csv": ("customer_id", "first_name", "last_name", "email", "phone", "city", "province"),
}


def sha256(value: str | None) -> str:
    """64 lowercase hex digits of the UTF-8 bytes, or ``""`` for a missing value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest() if value else ""


def _letters(value: str | None) -> str | None:
    if not value:
        return None
    text = unicodedata.normalize("NFKD", value.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z]", "", text) or None


def google_email(value: str | None) -> str | None:
    """Google: trimmed, lowercased; gmail.com / googlemail.com lose the dots before the @."""
    email = normalize_email(value)
    if email is None:
        return None
    user, _, domain = email.partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        user = user.replace(".", "")
    return f"{user}@{domain}"


def google_phone(value: str | None, region: str = "IT") -> str | None:
    """Google: E.164 with the plus (``+393401234567``)."""
    return normalize_phone(value, region)


def meta_phone(value: str | None, region: str = "IT") -> str | None:
    """Meta: digits with the country code, no plus, no leading zeros (``393401234567``)."""
    e164 = normalize_phone(value, region)
    return e164.lstrip("+").lstrip("0") if e164 else None


def google_name(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def rows_for(fmt: str, people: Any, country: str = "IT") -> list[tuple[str, ...]]:
    """One output row per person of ``people`` (a frame with the profile's contact columns).

    The frame is the bounded list of an audience's members, not events.
    """
    out = []
    records = people.astype(object).where(people.notna(), None).to_dict("records")  # NaN is missing, not a value
    if fmt == "google":
        for r in records:
            out.append((sha256(google_email(r.get("email"))), sha256(google_phone(r.get("phone")))
                        , sha256(google_name(r.get("first_name"))), sha256(google_name(r.get("last_name"))),
                        country.upper(), ""))
    elif fmt == "meta":
        for r in records:
            out.append((sha256(normalize_email(r.get("email"))), sha256(meta_phone(r.get("phone"))),
                        sha256(_letters(r.get("first_name"))), sha256(_letters(r.get("last_name"))),
                        sha256(_letters(r.get("city"))), sha256(country.lower())))
    else:
        for r in records:
            out.append(tuple("" if r.get(c) is None else str(r.get(c)) for c in HEADERS["csv"]))
    return [row for row in out if fmt == "csv" or row[0] or row[1]]


def write_audience(path: Path, fmt: str, people: Any, country: str = "IT") -> int:
    """Write ``people`` as an audience file in ``fmt``; returns the rows written.

    People without any usable e-mail or phone are left out of the platform formats (they
    cannot match) and counted by the caller as ``no_contact``.
    """
    rows = rows_for(fmt, people, country)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS[fmt])
        w.writerows(rows)
    return len(rows)


TASK_HEADERS = ("queue", "store_id", "due_at", "customer_id", "first_name", "last_name", "phone", "email",
                "journey", "step", "note", "last_order_at", "n_orders", "revenue")


def write_tasks(path: Path, tasks: Any) -> int:
    """A task list (one row per task, with the customer's context) for a store or the call center."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = tasks.reindex(columns=list(TASK_HEADERS))
    frame.to_csv(path, index=False, sep=";", encoding="utf-8-sig", decimal=",")
    return len(frame)


__all__ = ["HEADERS", "google_email", "google_phone", "meta_phone", "rows_for", "sha256", "write_audience",
           "write_tasks"]
