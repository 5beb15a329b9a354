"""The holdout: a stable, keyed-hash random control group per journey.

Why a keyed hash and not a random draw stored somewhere: the assignment of a customer to a
journey's control group must be the same on every evaluation (a trigger evaluated twice, a
restart, a rebuild), unpredictable to anybody without the project secret (nobody can pick
who is treated), and independent across journeys (being in the control of one journey says
nothing about another). ``HMAC-SHA256(secret, "holdout|journey|customer")`` read as a number in
[0, 1) does all three; control when it is below the journey's holdout share (default 10 %).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def bucket(secret: bytes, journey: str, customer_id: str) -> float:
    """The customer's uniform number in [0, 1) for ``journey``."""
    mac = hmac.new(secret, f"holdout|{journey}|{customer_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") / 2.0**64


def variants(secret: bytes, journey: str, customer_ids: Iterable[str], share: float) -> list[str]:
    """``control`` or ``treated`` for each customer (distinct new entrants, not events)."""
    return ["control" if bucket(secret, journey, c) < share else "treated" for c in customer_ids]


__all__ = ["bucket", "variants"]
