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
    import ibis.expr.types as ir
    import pandas as pd

    from percorso.engine import Engine

#: Timeline columns, in display order.
TIMELINE_COLUMNS = (
    "occurred_at", "occurred_at_local", "channel", "online", "event_type", "event_name", "stage", "source_system", "campaign",
    "page_url", "store_id", "order_id", "revenue", "session_id", "event_id",
)
#: Record-update columns (record keeping is never a touchpoint: shown apart from the timeline).
RECORD_COLUMNS = ("occurred_at", "event_type", "source_system", "source_name", "event_id")
#: The latest record updates shown with a profile.
RECORD_LIMIT = 20


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
    #: the latest record updates (CRM rows, identify calls): not touchpoints, never in the timeline
    record_updates: pd.DataFrame | None = None
    total_record_updates: int = 0

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
            "record_updates": [] if self.record_updates is None else frame_records(self.record_updates),
            "total_record_updates": self.total_record_updates,
        }


def customer_profile(engine: Engine, customer_id: str, *, limit: int = 500, offset: int = 0,
                     settings: Any = None) -> CustomerProfile:
    """Summary, channels, orders and touchpoints ``offset .. offset+limit`` of one customer.

    Read in one snapshot (:meth:`Engine.snapshot`): the parts agree even while a build commits.
    The summary's ``email`` and ``phone`` are opened from the sealed PII vault with the key of
    ``settings`` (the project's); without settings they are ``None`` (the keyed hashes are never
    shown).
    """
    with engine.snapshot():
        return _profile(engine, customer_id, limit, offset, settings)


def _profile(engine: Engine, customer_id: str, limit: int, offset: int, settings: Any = None) -> CustomerProfile:
    from percorso.privacy.contacts import open_contacts

    # each query is compiled once per server (Engine.execute_bound): only the id changes
    summary = engine.execute_bound("profile:summary", lambda cid: _mine(engine, "customers", cid).limit(1), customer_id)
    if summary.empty:
        raise NotFound(f"customer '{customer_id}' is not in the built customers; run `percorso build`?")
    summary = open_contacts(engine, settings, summary)
    channels = engine.execute_bound(
        "profile:channels",
        lambda cid: _channel_mix(_mine(engine, "touchpoints", cid), _mine(engine, "orders", cid)), customer_id)
    orders = engine.execute_bound(
        "profile:orders",
        lambda cid: _mine(engine, "orders", cid).select(
            "occurred_at", "occurred_at_local", "order_id", "online", "channel", "store_id", "revenue", "n_items",
            "coupon_code", "is_return").order_by(["occurred_at", "order_id"]), customer_id)
    timeline = engine.execute_bound(("profile:timeline", limit, offset),
                                    lambda cid: _timeline(engine, cid, limit, offset), customer_id)
    total = int(engine.execute_bound("profile:total", lambda cid: _mine(engine, "touchpoints", cid).count(), customer_id))
    records, n_records = _record_updates(engine, customer_id)
    row = {k: (None if _isna(v) else v) for k, v in summary.iloc[0].to_dict().items()}
    return CustomerProfile(customer_id, row, channels, orders, timeline, total, offset,
                           record_updates=records, total_record_updates=n_records)


def _timeline(engine: Engine, customer_id: str, limit: int, offset: int) -> ir.Table:
    """A page of the customer's touchpoints, with the details it shows (``page_url``) read from
    their events for that page alone (ADR 0061)."""
    from percorso.build.details import with_details

    order = ["occurred_at", "event_id"]
    page = _mine(engine, "touchpoints", customer_id).order_by(order).limit(limit, offset=offset)
    return with_details(engine, page, TIMELINE_COLUMNS).select(*TIMELINE_COLUMNS).order_by(order)


def _mine(engine: Engine, table: str, customer_id: str) -> ir.Table:
    t = engine.table(table)
    return t.filter(t.customer_id == customer_id)


def _record_updates(engine: Engine, customer_id: str) -> tuple[pd.DataFrame | None, int]:
    """The latest :data:`RECORD_LIMIT` record updates of one customer and how many there are."""
    if not engine.has_table("record_updates"):  # a database built before record updates existed
        return None, 0
    frame = engine.execute_bound(
        "profile:records", lambda cid: _mine(engine, "record_updates", cid).select(*RECORD_COLUMNS)
        .order_by([ibis.desc("occurred_at"), "event_id"]).limit(RECORD_LIMIT), customer_id)
    return frame, int(engine.execute_bound("profile:n_records",
                                           lambda cid: _mine(engine, "record_updates", cid).count(), customer_id))


def _channel_mix(mine: ir.Table, my_orders: ir.Table) -> ir.Table:
    """Touchpoints per channel, with the orders and revenue credited to that channel of purchase.

    Why from ``orders``: an order's channel is its channel of purchase (an online order placed
    in a Direct session keeps the last non-direct channel, GA4 style), the one the orders table
    below and every analysis use. Counting order ids on touchpoints would give the same order
    to the Direct session it was placed in, so the two tables of one screen would disagree.
    Orders are purchases (returns excluded) and revenue is net of returns, as in ``customers``.
    """
    touches = mine.group_by("channel", "online").aggregate(
        touchpoints=mine.count(), first_at=mine.occurred_at.min(), last_at=mine.occurred_at.max(),
    )
    bought = my_orders.group_by("channel", "online").aggregate(
        orders=my_orders.count(where=~my_orders.is_return.fill_null(False)), revenue=my_orders.revenue.sum(),
    )
    j = touches.outer_join(bought, [touches.channel == bought.channel, touches.online == bought.online])
    mix = j.select(
        channel=ibis.coalesce(j.channel, j.channel_right), online=ibis.coalesce(j.online, j.online_right),
        touchpoints=j.touchpoints.fill_null(0), first_at=j.first_at, last_at=j.last_at,
        orders=j.orders.fill_null(0), revenue=j.revenue,
    )
    return mix.order_by([ibis.desc("touchpoints"), "channel"])


def _isna(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
