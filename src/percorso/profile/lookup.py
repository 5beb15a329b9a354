"""Find the customer behind what a user types: a customer id, an e-mail, a phone, a card, any id.

Why one place: ``percorso customer show``, ``percorso identity explain``, the drill-downs and
the web page all accept "whatever the user has at hand". E-mails, phones and tax codes are
stored only as keyed hashes, so the typed value is normalised the way ingestion normalises
it and hashed with the project secret before it is looked up; nothing raw is searched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from percorso.engine import identity_sql as S
from percorso.errors import ConfigError, NotFound

if TYPE_CHECKING:
    from percorso.project import Project

#: What a lookup accepts, for error messages.
ACCEPTED = "a customer id (C + 12 hex), an e-mail, a phone, a loyalty card, a CRM id, a user id or any identifier value"


def lookup_values(project: Project, query: str) -> list[str]:
    """The stored values ``query`` may appear as: itself, a normalised card, keyed PII hashes."""
    from percorso.identity import normalize as N

    q = query.strip()
    vals = [q, N.normalize_loyalty_card(q) or q]
    try:
        secret = project.secret
    except ConfigError:
        secret = None
    if secret:
        region = project.settings.identity.default_phone_region
        for norm in (N.normalize_email(q), N.normalize_phone(q, region), N.normalize_tax_code(q)):
            if norm:
                vals.append(N.keyed_hash(secret, norm))
    return sorted(set(vals))


def find_identifiers(project: Project, query: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(customers matched, identifier rows matched) for ``query``; raises when none matches."""
    engine = project.engine
    if not engine.has_table("identity_map"):
        raise NotFound("no identity map yet; run `percorso build` first")
    found = S.find_identifiers(engine, lookup_values(project, query)).to_pylist()
    customers = sorted({r["customer_id"] for r in found if r["customer_id"]})
    if not customers:
        flagged = [r for r in found if r["customer_id"] is None]
        hint = (f" ('{query}' is a flagged hub identifier shared by several people: see `percorso identity flags`)"
                if flagged else f"; valid: {ACCEPTED}")
        raise NotFound(f"no customer found for '{query}'{hint}")
    q = query.strip()
    if q in customers:  # an exact customer id wins over identifiers that happen to equal it
        customers = [q] + [c for c in customers if c != q]
    return customers, found


def find_customer(project: Project, query: str) -> str:
    """The customer id behind ``query`` (the first when a value matches several kinds)."""
    return find_identifiers(project, query)[0][0]
