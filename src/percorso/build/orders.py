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


def _order_rows(tp: ir.Table, carry: ir.Table | None = None) -> ir.Table:
    """The order rows of ``tp``; online orders placed in a direct session take the last
    non-direct online channel.

    Why: a customer who clicked a Google ad on Monday and typed the shop's address on
    Wednesday bought "from Google" in every analytics tool (GA4's last non-direct click);
    calling that order Direct would hide the campaign that brought it.

    The window that finds that channel runs only over the customers with such an order, and of
    their rows only over the informative ones and those orders (the others give it nothing):
    over every touchpoint it cost 8.7 s of a 10M-event build with 300,000 orders (ADR 0057).
    The semi-join is written with those customers on its right: a full build runs it with the
    sides as written (``Engine.joins_as_written``), the engine's estimates would put them left.
    """
    online = tp.online.fill_null(False)
    is_order = tp.event_type.isin(ORDER_EVENT_TYPES)
    direct = is_order & online & (tp.channel == "Direct").fill_null(False)
    informative = online & ~tp.channel.isin(NOT_INFORMATIVE)
    buyers = tp.filter(direct).select("customer_id").distinct()
    d = tp.filter(informative | direct).semi_join(buyers, "customer_id")
    informative = d.online.fill_null(False) & ~d.channel.isin(NOT_INFORMATIVE)
    w = ibis.window(group_by=d.customer_id, order_by=[d.occurred_at, d.event_id], rows=(None, 0))
    # arg_max/max skip NULLs (LAST_VALUE would need IGNORE NULLS, which Ibis does not emit)
    at = informative.ifelse(d.occurred_at, ibis.null("timestamp"))
    last = ibis.struct({"at": d.occurred_at, "id": d.event_id})   # same-second clicks: by event id
    last = informative.ifelse(last, ibis.null(last.type()))   # (a window FIRST takes no FILTER)
    d = d.mutate(_nd=d.channel.argmax(last).over(w), _nd_at=at.max().over(w))
    if carry is not None:
        # an incremental build's tail (ADR 0040): the last informative touchpoint before the cut
        # (``c_nd``, ``c_nd_at``) precedes every row here, so it counts only where none of these does
        d = d.left_join(carry.select("customer_id", "c_nd", "c_nd_at"), "customer_id").drop("customer_id_right")
        # (``_nd_at`` tells: a window of no informative row may still give ``_nd`` a value)
        none = d._nd_at.isnull()
        d = d.mutate(_nd=none.ifelse(d.c_nd, d._nd), _nd_at=none.ifelse(d.c_nd_at, d._nd_at)).drop("c_nd", "c_nd_at")
    # the direct orders (the window's other rows were only its input)
    d = d.filter(d.event_type.isin(ORDER_EVENT_TYPES) & (d.channel == "Direct"))
    recent = d._nd_at.notnull() & (d._nd_at + ibis.interval(days=LAST_NON_DIRECT_DAYS) >= d.occurred_at)
    d = d.mutate(channel=recent.ifelse(d._nd, d.channel)).drop("_nd", "_nd_at")
    return tp.filter(is_order & ~direct).union(d.select(*tp.columns))


def orders_expr(touchpoints: ir.Table, carry: ir.Table | None = None) -> ir.Table:
    """Order rows of the given touchpoints; ``n_lines``/``n_items`` are filled afterwards
    from the items JSON by :func:`percorso.engine.build_sql.fill_order_item_counts`.
    ``carry``: see :func:`_order_rows`."""
    # an order event without an order id is an order of its own, named by its event id (ADR 0057):
    # the touchpoints keep every such event, and attribution counts each as a conversion
    t = _order_rows(touchpoints, carry)
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
