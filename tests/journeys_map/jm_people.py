"""Seven hand-made customers shared by the journey-map and omnichannel hand examples.

Every expected number in the tests is worked out by hand from this table (comments in the
tests show the arithmetic). Stages are set explicitly, as the default rules would.
"""

from __future__ import annotations

STORE1 = {"channel": "Store / POS", "online": False, "store_id": "MI01"}
STORE2 = {"channel": "Store / POS", "online": False, "store_id": "MI02"}


def _s(stage: str, **kw: object) -> dict[str, object]:
    return {"stage": stage, **kw}


PEOPLE = {
    # ad → e-mail → cart → buys online → review: online only
    "anna": [
        ("ad_impression", "2025-03-01 09:00", _s("awareness", channel="Display")),
        ("email_click", "2025-03-02 09:00", _s("consideration", channel="Email")),
        ("add_to_cart", "2025-03-03 09:00", _s("decision", channel="Direct")),
        ("purchase", "2025-03-03 10:00", _s("purchase", channel="Direct", revenue=120.0)),
        ("review", "2025-03-10 10:00", _s("advocacy", channel="Direct")),
    ],
    # e-mail → store visit → receipt in MI01 → returns it: store only (the return is no order)
    "bruno": [
        ("email_open", "2025-03-01 12:00", _s("consideration", channel="Email")),
        ("store_visit", "2025-03-04 12:00", _s("consideration", **STORE1)),
        ("receipt", "2025-03-04 12:30", _s("purchase", revenue=80.0, **STORE1)),
        ("return", "2025-03-08 12:00", _s("post_purchase", revenue=-80.0, **STORE1)),
    ],
    # ad → e-mail → cart, never buys
    "carla": [
        ("ad_impression", "2025-03-02 09:00", _s("awareness", channel="Display")),
        ("email_open", "2025-03-05 09:00", _s("consideration", channel="Email")),
        ("add_to_cart", "2025-03-06 09:00", _s("decision", channel="Direct")),
    ],
    # buys in the store, then browses and buys online: omnichannel
    "dario": [
        ("receipt", "2025-03-10 10:00", _s("purchase", revenue=200.0, **STORE1)),
        ("page_view", "2025-03-20 10:00", _s("consideration", channel="Organic Search")),
        ("purchase", "2025-03-25 10:00", _s("purchase", channel="Direct", revenue=60.0)),
    ],
    # reads two e-mails and browses, never buys
    "elena": [
        ("email_open", "2025-03-03 09:00", _s("consideration", channel="Email")),
        ("email_open", "2025-03-04 09:00", _s("consideration", channel="Email")),
        ("page_view", "2025-03-05 09:00", _s("consideration", channel="Organic Search")),
    ],
    # one social visit
    "fabio": [("page_view", "2025-03-02 10:00", _s("consideration", channel="Social"))],
    # visits store MI02, buys online exactly two days later: online only, store → online research
    "gina": [
        ("store_visit", "2025-03-05 10:00", _s("consideration", **STORE2)),
        ("purchase", "2025-03-07 10:00", _s("purchase", channel="Direct", revenue=90.0)),
    ],
}
