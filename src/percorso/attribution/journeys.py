"""Journeys to credit, built in the engine with Ibis.

A journey is a run of eligible touchpoints of one customer that ends in a conversion, or in
none. Rules, in order:

1. the stream of a customer is its eligible touchpoints and its conversions, ordered by
   ``occurred_at`` then ``event_id`` (DESIGN §10); a touchpoint belongs to the next
   conversion (its *segment*), so each touchpoint is credited at most once; a conversion
   is no touchpoint of another conversion;
2. with ``one_touch_per_session`` only the first eligible touchpoint of each web/app session
   counts: later page views in the same visit are internal navigation, and since the build's
   sessions span sources, an ad platform's click and the site's landing page (or an e-mail
   open, its click and its visit) are one contact. A web/app conversion that opens its session
   (no web/app touchpoint of the session before it in its segment) is that session's touch for
   its own journey, at its own time, with its session's channel (GA4 credits the converting
   session's source); a store receipt never is (ADR 0058);
3. touchpoints within ``lookback_days`` before their conversion are credited to it; every
   other touchpoint (too old for its conversion, or after the customer's last conversion)
   is a contact that led to no conversion within the window: it goes to a journey *without*
   conversion, and such touchpoints split into separate journeys wherever ``lookback_days``
   pass between two of them. Nothing is dropped: data-driven models need the failures as much
   as the successes (see ADR 0005);
4. with ``direct = "ignore_unless_alone"`` (GA4's convention, the default), touchpoints of a
   ``direct_channels`` channel are dropped from every journey that has another touchpoint
   (:mod:`percorso.attribution.direct`, ADR 0007);
5. conversions (and journeys without conversion, by their last touchpoint) fall within the
   query's dates; ``new_customers`` counts each customer's first conversion of that
   definition ever.

What the models read is aggregated from these rows in :mod:`percorso.attribution.aggregates`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from percorso.attribution.direct import IGNORE, drop_direct_touches
from percorso.attribution.settings import PROPERTY_PREFIX, AttributionSettings, ConversionDef, check_level

if TYPE_CHECKING:
    from percorso.engine import Engine


def node_expr(t: ir.Table, level: str, online_breakdown: bool = False) -> ir.StringValue:
    """The journey node of a touchpoint at ``level`` (NULL parts become '(none)')."""
    parts = [_level_part(t, c).fill_null("(none)") for c in check_level(level)]
    node = parts[0]
    for p in parts[1:]:
        node = node + (" / " if level == "source_medium" else " | ") + p
    if online_breakdown:
        node = node + ibis.ifelse(t.online.fill_null(False), " (online)", " (offline)")
    return node


def level_details(level: str) -> list[str]:
    """The touchpoint details (read from ``events``, ADR 0061) a level's parts read: a
    ``source_name`` or ``region`` level, or a property's ``properties``."""
    from percorso.build.details import details_in

    return details_in("properties" if p.startswith(PROPERTY_PREFIX) else p for p in check_level(level))


def _level_part(t: ir.Table, part: str) -> ir.StringValue:
    """One part of a level: a column as text, or a ``properties`` key (bound as a value)."""
    if part.startswith(PROPERTY_PREFIX):
        value = t.properties.try_cast("json")[part[len(PROPERTY_PREFIX):]]
        # a text value as it is, any other (number, true) as its JSON text; JSON null is no value
        return ibis.coalesce(value.unwrap_as("string"), value.cast("string").nullif("null"))
    if part == "online":
        return t.online.ifelse("online", "offline")
    return t[part].cast("string")


def _day_bounds(query: Any) -> tuple[Any, Any]:
    from datetime import date, datetime, time, timedelta

    lo, hi = getattr(query, "date_from", None), getattr(query, "date_to", None)
    if isinstance(lo, date) and not isinstance(lo, datetime):
        lo = datetime.combine(lo, time())
    if isinstance(hi, date) and not isinstance(hi, datetime):
        hi = datetime.combine(hi, time()) + timedelta(days=1)
    return lo, hi


def journey_touches(engine: Engine, settings: AttributionSettings, conversion: ConversionDef,
                    *, level: str = "channel", online_breakdown: bool = False, query: Any = None,
                    with_ref_local: bool = False) -> ir.Table:
    """One row per touchpoint of a journey (with or without conversion): customer, journey,
    node, times, and the journey's outcome.

    Columns: ``customer_id, journey, event_id, occurred_at, node, ref_at, converted (int),
    value, new_customer (int)``. ``ref_at`` is the conversion time (or the journey's last
    touchpoint). ``journey`` numbers a customer's journeys in time order. ``with_ref_local``
    adds ``ref_local`` (``ref_at`` as local wall time, what the dates filter on: one value per
    journey, so journeys kept whole can be filtered by date later, :mod:`.stored`).
    """
    tp = engine.table("touchpoints")
    if level_details(level):
        from percorso.build.details import with_details

        tp = with_details(engine, tp, level_details(level))
    is_conv = is_conversion(tp, conversion)
    eligible = ~tp.event_type.isin(settings.exclude_event_types)
    value = tp.revenue.fill_null(0.0) if conversion.value == "revenue" else ibis.literal(float(conversion.value))
    node = node_expr(tp, level, online_breakdown)
    direct = (tp.channel.isin(settings.direct_channels) | node.isin(settings.direct_channels)).fill_null(False)
    stream = tp.filter(is_conv | eligible).select(
        "customer_id", "event_id", "occurred_at", "occurred_at_local", "session_id", "online",
        is_conv=is_conv.cast("int64"), node=node, value=value, direct=direct,
    )
    order = ["occurred_at", "event_id"]
    w = ibis.window(group_by="customer_id", order_by=order, rows=(None, 0))
    stream = stream.mutate(segment=stream.is_conv.sum().over(w) - stream.is_conv)
    conv = stream.filter(stream.is_conv == 1).select(
        "customer_id", "segment", conv_at=stream.occurred_at, conv_local=stream.occurred_at_local,
        conv_value=stream.value,
        new_customer=(stream.segment == 0).cast("int64"),
    )
    touches = _session_touches(stream, settings)
    joined = touches.left_join(conv, ["customer_id", "segment"]).select(
        touches.customer_id, touches.segment, touches.event_id, touches.occurred_at, touches.occurred_at_local,
        touches.node, touches.direct, conv.conv_at, conv.conv_local, conv.conv_value, conv.new_customer,
    )
    lookback = ibis.interval(days=settings.lookback_days)
    credited = joined.conv_at.notnull() & (joined.occurred_at >= joined.conv_at - lookback)
    joined = joined.mutate(credited=credited.fill_null(False))
    cw = ibis.window(group_by="customer_id", order_by=order)
    prev_at = joined.occurred_at.lag().over(cw)
    starts = (prev_at.isnull() | (joined.segment != joined.segment.lag().over(cw))
              | (joined.credited != joined.credited.lag().over(cw))
              | (~joined.credited & (prev_at < joined.occurred_at - lookback)))
    joined = joined.mutate(start=starts.fill_null(True).cast("int64"))
    joined = joined.mutate(journey=joined.start.sum().over(ibis.window(group_by="customer_id", order_by=order,
                                                                        rows=(None, 0))))
    jw = ibis.window(group_by=["customer_id", "journey"])
    out = joined.mutate(ref_at=ibis.ifelse(joined.credited, joined.conv_at, joined.occurred_at.max().over(jw)),
                        # the same moment as local wall time: --from/--to are local days
                        ref_local=ibis.ifelse(joined.credited, joined.conv_local,
                                              joined.occurred_at_local.argmax(joined.occurred_at).over(jw)))
    if settings.direct == IGNORE:
        out = drop_direct_touches(out)
    lo, hi = _day_bounds(query)
    if lo is not None:
        out = out.filter(out.ref_local >= lo)
    if hi is not None:
        out = out.filter(out.ref_local < hi)
    return out.select(
        "customer_id", "journey", "event_id", "occurred_at", "node", "ref_at", *(["ref_local"] if with_ref_local else []),
        converted=out.credited.cast("int64"), value=ibis.ifelse(out.credited, out.conv_value, 0.0),
        new_customer=ibis.ifelse(out.credited, out.new_customer, 0),
    )


def _session_touches(stream: ir.Table, settings: AttributionSettings) -> ir.Table:
    """The touchpoints of the journeys (rules 1-2): the eligible rows, the later web/app rows of
    a session dropped with ``one_touch_per_session``, and the web/app conversions that open
    their session (ADR 0058).

    A web/app conversion (online, with a session) with no web/app touchpoint of the same session
    before it in its segment is that session's touch for its own journey: its node is its
    session's channel, its time the conversion's, and its ``segment`` (conversions before it)
    is its own conversion's, so it is credited to it and to no other. A store receipt (offline)
    is never its own touch. Ranks are among the web/app rows of (customer, session, segment):
    the conversion is the last row of its segment, so it ranks first only when nothing of its
    session came before it.
    """
    web = stream.online.fill_null(False) & stream.session_id.notnull()
    rows = stream.filter((stream.is_conv == 0) | web).mutate(web=web)
    sw = ibis.window(group_by=["customer_id", "session_id", "segment", "web"], order_by=["occurred_at", "event_id"])
    # the rank is a column before it is filtered on: Ibis's Spark compiler misplaces a window
    # function inside a filter (it referred to a subquery's alias that is out of scope)
    rows = rows.mutate(_first=ibis.row_number().over(sw) == 0)
    later = (~rows.web | rows._first) if settings.one_touch_per_session else ibis.literal(True)
    return rows.filter(ibis.ifelse(rows.is_conv == 1, rows._first, later)).drop("web", "_first")


def is_conversion(tp: ir.Table, conversion: ConversionDef) -> ir.BooleanValue:
    """Whether a touchpoint is a conversion of the definition (one place for journeys and totals).

    A negative amount is a return whatever its event type (``build/orders.py`` makes it one),
    so a till's negative receipt is never a purchase conversion with negative value.
    """
    cond = tp.event_type.isin(conversion.event_types) & ~(tp.revenue.fill_null(0.0) < 0)
    if conversion.online is not None:
        cond = cond & (tp.online.fill_null(False) == conversion.online)
    return cond


def conversions_expr(engine: Engine, conversion: ConversionDef, query: Any = None) -> ir.Table:
    """Conversions of a definition within the query dates: every one, credited or not.

    Columns ``customer_id, occurred_at, value, new_customer`` (1 for the customer's first
    conversion of this definition ever, as in :func:`journey_touches`). This is the total the
    credited journeys are reconciled against: a conversion with no eligible touchpoint in the
    lookback is in here and in no journey.
    """
    tp = engine.table("touchpoints")
    cond = is_conversion(tp, conversion)
    value = tp.revenue.fill_null(0.0) if conversion.value == "revenue" else ibis.literal(float(conversion.value))
    conv = tp.filter(cond).select("customer_id", "occurred_at", "occurred_at_local", "event_id", value=value)
    first = ibis.row_number().over(ibis.window(group_by="customer_id", order_by=["occurred_at", "event_id"])) == 0
    conv = conv.mutate(new_customer=first.cast("int64"))
    lo, hi = _day_bounds(query)
    if lo is not None:
        conv = conv.filter(conv.occurred_at_local >= lo)  # --from/--to are local days
    if hi is not None:
        conv = conv.filter(conv.occurred_at_local < hi)
    return conv.select("customer_id", "occurred_at", "value", "new_customer")
