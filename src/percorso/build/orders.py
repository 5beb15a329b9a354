"""``orders``: one row per order or return, online and in store, from the touchpoints.

An order is an order event (:data:`~percorso.build.touchpoints.ORDER_EVENT_TYPES`) kept in the
touchpoints: one per order id (a web purchase and the order file's row are one order), and one
per order event that has no id, whose ``order_id`` is its ``event_id`` (ADR 0057).

Why from touchpoints and not from events: the touchpoints already hold one event per order
(web tracker and order file merged) and the channel of the session the order was placed in,
so the order's channel of purchase is the same one the journey analyses see.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from percorso.build.schema import NOT_INFORMATIVE, ORDER_COLUMNS
from percorso.build.touchpoints import ORDER_EVENT_TYPES, _ibis_type


#: Days a non-direct online channel keeps credit for a later direct online order (GA4 uses
#: last non-direct click for session sources; 30 days matches the attribution lookback).
LAST_NON_DIRECT_DAYS = 30


#: Where a customer buys, from their purchase orders (returns excluded): the one definition of
#: an "omnichannel" customer (bought online *and* in store), read by ``percorso omnichannel``
#: and by the personas' names, so a persona called omnichannel is made of such customers.
MIXES = ("online_only", "store_only", "omnichannel", "no_purchase")


def purchase_mix(orders: ir.Table) -> ir.Table:
    """``customer_id``, ``mix``, ``orders``, ``revenue`` per customer with a purchase order among
    ``orders`` (pass them already filtered to the scope wanted; returns are left out here)."""
    o = orders.filter(~orders.is_return.fill_null(False) & orders.customer_id.notnull())
    per = o.group_by("customer_id").aggregate(
        online=o.online.any(), store=(~o.online).any(), orders=o.count(), revenue=o.revenue.sum())
    mix = ibis.cases((per.online & per.store, "omnichannel"), (per.online, "online_only"), (per.store, "store_only"),
                     else_="no_purchase")
    return per.select("customer_id", mix=mix, orders=per.orders, revenue=per.revenue)


def _purchase_channel(tp: ir.Table, carry: ir.Table | None = None) -> ir.Table:
    """Online orders placed in a direct session take the last non-direct online channel.

    Why: a customer who clicked a Google ad on Monday and typed the shop's address on
    Wednesday bought "from Google" in every analytics tool (GA4's last non-direct click);
    calling that order Direct would hide the campaign that brought it.
    """
    informative = tp.online.fill_null(False) & ~tp.channel.isin(NOT_INFORMATIVE)
    w = ibis.window(group_by=tp.customer_id, order_by=[tp.occurred_at, tp.event_id], rows=(None, 0))
    # arg_max/max skip NULLs (LAST_VALUE would need IGNORE NULLS, which Ibis does not emit)
    at = informative.ifelse(tp.occurred_at, ibis.null("timestamp"))
    last = ibis.struct({"at": tp.occurred_at, "id": tp.event_id})   # same-second clicks: by event id
    last = informative.ifelse(last, ibis.null(last.type()))   # (a window FIRST takes no FILTER)
    tp = tp.mutate(_nd=tp.channel.argmax(last).over(w), _nd_at=at.max().over(w))
    if carry is not None:
        # an incremental build's tail (ADR 0040): the last informative touchpoint before the cut
        # (``c_nd``, ``c_nd_at``) precedes every row here, so it counts only where none of these does
        tp = tp.left_join(carry.select("customer_id", "c_nd", "c_nd_at"), "customer_id").drop("customer_id_right")
        # (``_nd_at`` tells: a window of no informative row may still give ``_nd`` a value)
        none = tp._nd_at.isnull()
        tp = tp.mutate(_nd=none.ifelse(tp.c_nd, tp._nd), _nd_at=none.ifelse(tp.c_nd_at, tp._nd_at)).drop("c_nd", "c_nd_at")
    recent = tp._nd_at.notnull() & (tp._nd_at + ibis.interval(days=LAST_NON_DIRECT_DAYS) >= tp.occurred_at)
    use_nd = tp.online.fill_null(False) & (tp.channel == "Direct") & recent
    return tp.mutate(channel=use_nd.ifelse(tp._nd, tp.channel)).drop("_nd", "_nd_at")


def orders_expr(touchpoints: ir.Table, carry: ir.Table | None = None) -> ir.Table:
    """Order rows of the given touchpoints; ``n_lines``/``n_items`` are filled afterwards
    from the items JSON by :func:`percorso.engine.build_sql.fill_order_item_counts`.
    ``carry``: see :func:`_purchase_channel`."""
    t = _purchase_channel(touchpoints, carry)
    # an order event without an order id is an order of its own, named by its event id (ADR 0057):
    # the touchpoints keep every such event, and attribution counts each as a conversion
    t = t.filter(t.event_type.isin(ORDER_EVENT_TYPES))
    is_return = t.event_type.isin(("return", "refund")) | (t.revenue.fill_null(0) < 0)
    t = t.mutate(
        order_id=t.order_id.fill_null(t.event_id),
        revenue=t.revenue.fill_null(0.0),
        n_lines=ibis.null("int32"),
        n_items=ibis.null("float64"),
        store_id=t.online.ifelse(ibis.null("string"), t.store_id),
        is_return=is_return,
    )
    return t.select(*[t[name].cast(_ibis_type(sql)).name(name) for name, sql in ORDER_COLUMNS])
