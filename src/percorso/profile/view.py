"""One person's 360° view: who they are, where they touched the brand, what they bought, when.

Why: every number in percorso can be drilled down to customers, and a customer must then be
readable as a story across channels (the ad click, the store visit, the call, the return).
Only this customer's rows leave the engine, a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis

from percorso.errors import NotFound

if TYPE_CHECKING:
    import pandas as pd

    from percorso.engine import Engine

#: Timeline columns, in display order.
TIMELINE_COLUMNS = (
    "occurred_at", "channel", "online", "event_type", "stage", "source_system", "campaign", "page_url",
    "store_id", "order_id", "revenue", "session_id", "event_id",
)


@dataclass
class CustomerProfile:
    """A customer's summary, channel mix, orders and a page of their timeline."""

    customer_id: str
    summary: dict[str, Any]
    channels: pd.DataFrame
    orders: pd.DataFrame
    timeline: pd.DataFrame
    total_touchpoints: int
    offset: int = 0
    also_matches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: timestamps as ISO strings, missing values as null."""
        from percorso.export.files import frame_records, jsonable

        return {
            "customer_id": self.customer_id,
            "summary": {k: jsonable(v) for k, v in self.summary.items()},
            "channels": frame_records(self.channels),
            "orders": frame_records(self.orders),
            "timeline": frame_records(self.timeline),
            "total_touchpoints": self.total_touchpoints,
            "offset": self.offset,
            "also_matches": self.also_matches,
        }


def customer_profile(engine: Engine, customer_id: str, *, limit: int = 500, offset: int = 0) -> CustomerProfile:
    """Summary, channels, orders and touchpoints ``offset .. offset+limit`` of one customer."""
    c = engine.table("customers")
    summary = engine.execute(c.filter(c.customer_id == customer_id).limit(1))
    if summary.empty:
        raise NotFound(f"customer '{customer_id}' is not in the built customers; run `percorso build`?")
    tp = engine.table("touchpoints")
    mine = tp.filter(tp.customer_id == customer_id)
    channels = engine.execute(
        mine.group_by("channel", "online").aggregate(
            touchpoints=mine.count(),
            first_at=mine.occurred_at.min(),
            last_at=mine.occurred_at.max(),
            orders=mine.order_id.nunique(),
            revenue=mine.revenue.sum(),
        ).order_by([ibis.desc("touchpoints"), "channel"])
    )
    o = engine.table("orders")
    orders = engine.execute(
        o.filter(o.customer_id == customer_id)
        .select("occurred_at", "order_id", "online", "channel", "store_id", "revenue", "n_items", "coupon_code",
                "is_return")
        .order_by(["occurred_at", "order_id"])
    )
    timeline = engine.execute(
        mine.select(*TIMELINE_COLUMNS).order_by(["occurred_at", "event_id"]).limit(limit, offset=offset)
    )
    total = int(engine.execute(mine.count()))
    row = {k: (None if _isna(v) else v) for k, v in summary.iloc[0].to_dict().items()}
    return CustomerProfile(customer_id, row, channels, orders, timeline, total, offset)


def _isna(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
