"""Find customers by part of their name, e-mail, phone, city or loyalty card.

Why: a store manager or call-center agent has a name or a fragment, not an id. The text is a
bound value compared case-insensitively in the engine; it is never part of a query string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from percorso.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from percorso.engine import Engine

SEARCHED = ("first_name", "last_name", "email", "phone", "city", "loyalty_card", "customer_id")
SHOWN = ("customer_id", "first_name", "last_name", "email", "phone", "city", "loyalty_card", "n_orders", "revenue",
         "last_seen_at")


def search_customers(engine: Engine, text: str, *, limit: int = 50) -> pd.DataFrame:
    """Customers with ``text`` in any searched field (case-insensitive), best customers first."""
    needle = text.strip().lower()
    if len(needle) < 2:
        raise InputError(f"search text {text!r} is too short; type at least 2 characters")
    c = engine.table("customers")
    hit = ibis.or_(*(c[col].cast("string").lower().contains(needle).fill_null(False) for col in SEARCHED))
    # a full name typed as "Maria Rossi" matches first + last name too
    full = (c.first_name.fill_null("") + " " + c.last_name.fill_null("")).lower().contains(needle)
    found = c.filter(hit | full).select(*SHOWN)
    return engine.execute(found.order_by([ibis.desc("revenue"), "customer_id"]).limit(limit))
