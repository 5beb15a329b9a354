"""Find the customer behind what a user types: a customer id, an e-mail, a phone, a card, any id.

Why one place: ``percorso customer show``, ``percorso identity explain``, the drill-downs and
the web page all accept "whatever the user has at hand". E-mails, phones and tax codes are
stored only as keyed hashes, so the typed value is normalised the way ingestion normalises
it (:mod:`percorso.identity.normalize`) and hashed with the project secret before it is
looked up; nothing raw is searched and nothing is re-implemented here.

Outcomes: one customer (returned), none (:class:`~percorso.errors.NotFound`), or several —
a value flagged as a hub (shared by many people, so never used to link) or a value that is
an identifier of different people under different kinds — which raises
:class:`AmbiguousCustomer` listing the candidate customer ids, so the user can pick one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

from percorso.engine import identity_sql as S
from percorso.errors import InputError, NotFound

if TYPE_CHECKING:
    from percorso.config import Settings
    from percorso.engine import Engine

#: What a lookup accepts, for error messages.
ACCEPTED = "a customer id (C + 12 hex), an e-mail, a phone, a loyalty card, a CRM id, a user id or any identifier value"

#: At most this many candidates are listed in an ambiguity error.
MAX_CANDIDATES = 20


class AmbiguousCustomer(InputError):
    """The typed value belongs to several customers; ``candidates`` lists their ids."""

    code = "customer_ambiguous"

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


def lookup_values(settings: Settings, query: str) -> list[str]:
    """The stored values ``query`` may appear as: itself, a normalised card, keyed PII hashes.

    Without a project secret no PII hash can be computed, so only raw identifiers (ids,
    cards, anonymous ids) are searched.
    """
    from percorso.identity import normalize as N

    q = query.strip()
    vals = [q, N.normalize_loyalty_card(q) or q]
    secret = settings.identity.secret.encode("utf-8") if settings.identity.secret else None
    if secret:
        region = settings.identity.default_phone_region
        for norm in (N.normalize_email(q), N.normalize_phone(q, region), N.normalize_tax_code(q)):
            if norm:
                vals.append(N.keyed_hash(secret, norm))
    return sorted(set(vals))


def find_identifiers(engine: Engine, settings: Settings, query: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(customers matched, identifier rows matched) for ``query``; raises :class:`NotFound` when none.

    An exact customer id comes first. Identifier rows with ``customer_id`` None are flagged
    hubs; their candidate customers (the people linked to the hub) are included in the list.
    """
    if not engine.has_table("identity_map"):
        raise NotFound("nessuna mappa identità: esegui `percorso build` / no identity map yet; run `percorso build`")
    found = S.find_identifiers(engine, lookup_values(settings, query)).to_pylist()
    customers = sorted({r["customer_id"] for r in found if r["customer_id"]})
    flagged = [r for r in found if r["customer_id"] is None]
    if flagged:
        customers = sorted(set(customers) | set(hub_candidates(engine, flagged)))
    if not customers:
        hint = (f" ('{query}' is a flagged hub identifier shared by several people: see `percorso identity flags`)"
                if flagged else f"; valid: {ACCEPTED}")
        raise NotFound(f"nessun cliente / no customer found for '{query}'{hint}")
    q = query.strip()
    if q in customers:  # an exact customer id wins over identifiers that happen to equal it
        customers = [q] + [c for c in customers if c != q]
    return customers, found


def find_customer(engine: Engine, settings: Settings, text: str) -> str:
    """The one customer id behind ``text`` (customer id, e-mail, phone, card or any identifier).

    Raises
    ------
    NotFound
        Nothing matches (code ``not_found``).
    AmbiguousCustomer
        The value is a flagged hub or belongs to several people (code ``customer_ambiguous``);
        the message and ``candidates`` list the customer ids to choose from.
    """
    customers, found = find_identifiers(engine, settings, text)
    if customers[0] == text.strip():
        return customers[0]
    flagged = any(r["customer_id"] is None for r in found)
    if len(customers) == 1 and not flagged:
        return customers[0]
    shown = customers[:MAX_CANDIDATES]
    more = f" (+{len(customers) - len(shown)} altri / more)" if len(customers) > len(shown) else ""
    why = ("è un identificativo condiviso (hub) / is a shared hub identifier" if flagged
           else "appartiene a più clienti / belongs to several customers")
    raise AmbiguousCustomer(
        f"'{text}' {why}: {len(customers)} candidati / candidates: {', '.join(shown)}{more}; "
        "usa l'id cliente / use the customer id",
        customers,
    )


def hub_candidates(engine: Engine, flagged: list[dict[str, Any]], *, limit: int = 1000) -> list[str]:
    """Customers linked to any of the ``flagged`` identifiers (through ``identity_links``)."""
    if not engine.has_table("identity_links"):
        return []
    links = engine.table("identity_links")
    m = engine.table("identity_map")
    keys = {(r["id_type"], r["id_value"]) for r in flagged}
    sides = []
    for here, there in (("a", "b"), ("b", "a")):
        hit = ibis.or_(*((links[f"id_type_{here}"] == t) & (links[f"id_value_{here}"] == v) for t, v in keys))
        sides.append(links.filter(hit).select(id_type=links[f"id_type_{there}"], id_value=links[f"id_value_{there}"]))
    other = sides[0].union(sides[1], distinct=True)
    joined = other.join(m, ["id_type", "id_value"]).select("customer_id").distinct()
    out = engine.execute(joined.order_by("customer_id").limit(limit))
    return [c for c in out["customer_id"] if c is not None]
