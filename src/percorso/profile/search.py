"""Find customers by part of their name, city, loyalty card or id, or by their whole e-mail or phone.

Why: a store manager or call-center agent has a name or a fragment, not an id. The text is a
bound value compared case-insensitively in the engine; it is never part of a query string.
E-mails and phones are stored only as keyed hashes (the raw values are sealed in the PII
vault), so they are found whole: the typed text is normalised as ingest does and its keyed
hash looked up among every e-mail, phone and tax code identity resolution gave the person
(:func:`percorso.privacy.contacts.contact_keys`). The page of results shows the e-mail and
phone opened from the vault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

from percorso.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from percorso.engine import Engine

#: fields searched by a part of their text
SEARCHED = ("first_name", "last_name", "city", "loyalty_card", "customer_id")
#: identifiers searched whole, by keyed hash
KEYED = ("email_key", "phone_key", "tax_code_key")
SHOWN = ("customer_id", "first_name", "last_name", "email", "phone", "city", "loyalty_card", "n_orders", "revenue",
         "last_seen_at")


def search_customers(engine: Engine, text: str, *, limit: int = 50, settings: Any = None) -> pd.DataFrame:
    """Customers with ``text`` in a searched field (case-insensitive) or as their e-mail, phone or
    tax code, best customers first; ``settings`` (the project's) holds the secret of the keyed
    hashes and the vault key: without it contacts are neither searched nor shown."""
    from percorso.privacy.contacts import CONTACT_KEYS, contact_keys, open_contacts

    needle = text.strip().lower()
    if len(needle) < 2:
        raise InputError(f"search text {text!r} is too short; type at least 2 characters")
    c = engine.table("customers")
    hit = ibis.or_(*(c[col].cast("string").lower().contains(needle).fill_null(False) for col in SEARCHED))
    # a full name typed as "Maria Rossi" matches first + last name too
    full = (c.first_name.fill_null("") + " " + c.last_name.fill_null("")).lower().contains(needle)
    keys = contact_keys(settings, text) if settings is not None else []
    if keys and engine.has_table("identity_map"):
        m = engine.table("identity_map")
        owners = m.filter(m.id_type.isin(list(KEYED)) & m.id_value.isin(keys) & m.customer_id.notnull())
        hit = hit | c.customer_id.isin(owners.customer_id)
    stored = [CONTACT_KEYS.get(col, col) for col in SHOWN]
    found = c.filter(hit | full).select(*stored)
    page = engine.execute(found.order_by([ibis.desc("revenue"), "customer_id"]).limit(limit))
    return open_contacts(engine, settings, page)
