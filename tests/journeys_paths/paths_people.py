"""Four hand-made people for the paths tests (numbers in the tests are worked out by hand).

    anna   a1 page_view   01-01 10:00   a2 email_click 10:10   a3 email_click 10:10 (tie, after a2)
           a4 receipt     01-03 17:00   (Store / POS, 120 €)          → two sessions
    bruno  b1 page_view   01-02 09:00   b2 email_click 09:20   b3 purchase 09:30 (50 €)
    carla  c1 page_view   01-05 12:00   c2 email_click 12:40 (new session)   c3 page_view 12:50
    dario  d1 email_click 01-06 08:00
"""

from __future__ import annotations

PEOPLE = {
    "anna": [
        ("page_view", "2024-01-01 10:00", {"event_id": "a1", "channel": "Paid Search"}),
        # a3 is stored first but sorts after a2 (same time, event_id order)
        ("email_click", "2024-01-01 10:10", {"event_id": "a3", "channel": "Email"}),
        ("email_click", "2024-01-01 10:10", {"event_id": "a2", "channel": "Email"}),
        ("receipt", "2024-01-03 17:00", {"event_id": "a4", "channel": "Store / POS", "revenue": 120.0}),
    ],
    "bruno": [
        ("page_view", "2024-01-02 09:00", {"event_id": "b1", "channel": "Organic Search"}),
        ("email_click", "2024-01-02 09:20", {"event_id": "b2", "channel": "Email"}),
        ("purchase", "2024-01-02 09:30", {"event_id": "b3", "channel": "Direct", "revenue": 50.0}),
    ],
    "carla": [
        ("page_view", "2024-01-05 12:00", {"event_id": "c1", "channel": "Paid Search"}),
        ("email_click", "2024-01-05 12:40", {"event_id": "c2", "channel": "Email"}),
        ("page_view", "2024-01-05 12:50", {"event_id": "c3", "channel": "Direct"}),
        ("identify", "2024-01-05 12:55", {"event_id": "c4", "channel": "Direct"}),  # record keeping: never a step
    ],
    "dario": [
        ("email_click", "2024-01-06 08:00", {"event_id": "d1", "channel": "Email"}),
    ],
}

PV, EC, PU, RC = "page_view", "email_click", "purchase", "receipt"


def p(*nodes: str) -> str:
    return " → ".join(nodes)
