"""Identifier kinds: the order they are judged in, their priority and their per-person limits.

Why a table of limits: like Segment's per-type value limits, a person has at most one web
account, one CRM contact and one codice fiscale, and only a few cards, phones and e-mails.
An identifier whose links would put more than that into one customer is a *hub* (a store
tablet, a family e-mail) and is flagged instead of merging people.
"""

from __future__ import annotations

#: Kinds in the order resolution judges them (most reliable connector first). An edge is
#: judged in the round of its *later* endpoint, so a weak identifier never merges strong
#: ones before it has been checked.
ROUND_ORDER: tuple[str, ...] = (
    "user_id", "crm_id", "tax_code_key", "loyalty_card", "phone_key", "email_key",
    "order_id", "device_id", "anonymous_id",
)

#: Priority used to pick one customer for an event whose identifiers fall apart.
PRIORITY: tuple[str, ...] = (
    "user_id", "crm_id", "tax_code_key", "loyalty_card", "email_key", "phone_key",
    "order_id", "device_id", "anonymous_id",
)

#: Kinds that identify a known person ("strong"): an untrusted source may not merge two
#: customers that each hold one seen in a trusted source.
STRONG: frozenset[str] = frozenset(
    {"user_id", "email_key", "phone_key", "loyalty_card", "crm_id", "tax_code_key"}
)

#: At most this many distinct values of a kind in one customer.
LIMITS: dict[str, int] = {
    "user_id": 1, "crm_id": 1, "tax_code_key": 1, "loyalty_card": 1, "phone_key": 2, "email_key": 3,
}

#: Kinds stored as keyed hashes: the blocklist must be applied to the raw value at ingest.
HASHED: dict[str, str] = {"email": "email_key", "phone": "phone_key", "tax_code": "tax_code_key"}

#: Source kinds that are untrusted by default (public, client-side data).
UNTRUSTED_KINDS: frozenset[str] = frozenset({"web", "app", "clickstream", "generic", "collector"})

KIND_NO: dict[str, int] = {k: i for i, k in enumerate(ROUND_ORDER)}


def canonical_kind(kind: str) -> str:
    """``email`` → ``email_key`` (raw kind names are accepted wherever a column name is)."""
    return HASHED.get(kind, kind)
