"""``touchpoints``: every event with its person, channel, session and stage.

Why a derived table rather than views over ``events``: journeys, attribution and value all
read the same enriched rows (customer, channel, session, stage); computing them once per
build keeps every analysis a plain scan and makes them agree with each other.

Channel logic (GA4 style, see ``docs/architecture.md``): each event is classified by the
project's channel rules; web, app and e-commerce events then take the channel of their
*session*: the channel of the first event in the session that carries campaign, referrer
or click-id information, else ``Direct``. Offline events keep the channel of their source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from percorso.build.records import touchpoint_events
from percorso.build.schema import TOUCHPOINT_COLUMNS
from percorso.channels import classify
from percorso.channels.rules import ChannelRules
from percorso.engine.localtime import to_local
from percorso.journeys.stages import assign_stages

#: Systems whose events share browser/app sessions and inherit the session channel.
SESSION_SYSTEMS: tuple[str, ...] = ("web", "app", "ecommerce")

#: Ad-platform rows without UTM tags: (platform, is_impression) → (utm_source, utm_medium).
#: Auto-tagged clicks (gclid, fbclid) and impressions carry no UTMs; without this mapping
#: they would fall into ``Direct``. Google impressions in the demo are display network ones.
AD_PLATFORM_TAGS: dict[tuple[str, bool], tuple[str, str]] = {
    ("google", False): ("google", "cpc"),
    ("google", True): ("google", "display"),
    ("meta", False): ("facebook", "paid_social"),
    ("meta", True): ("facebook", "paid_social"),
    ("facebook", False): ("facebook", "paid_social"),
    ("facebook", True): ("facebook", "paid_social"),
    ("instagram", False): ("instagram", "paid_social"),
    ("instagram", True): ("instagram", "paid_social"),
    ("microsoft", False): ("bing", "cpc"),
    ("bing", False): ("bing", "cpc"),
    ("tiktok", False): ("tiktok", "paid_social"),
    ("tiktok", True): ("tiktok", "paid_social"),
}

def _ad_tags(t: ir.Table) -> ir.Table:
    """Fill UTM source/medium/campaign of ad-platform rows that have none."""
    props = t.properties.cast("json")
    platform = props["platform"].str.lower()
    impression = t.event_type == "ad_impression"
    src_cases = [((platform == p) & (impression if imp else ~impression), ibis.literal(s))
                 for (p, imp), (s, _m) in AD_PLATFORM_TAGS.items()]
    med_cases = [((platform == p) & (impression if imp else ~impression), ibis.literal(m))
                 for (p, imp), (_s, m) in AD_PLATFORM_TAGS.items()]
    is_ad = (t.source_system == "ads") & t.utm_source.isnull()
    return t.mutate(
        utm_source=is_ad.ifelse(ibis.cases(*src_cases, else_=platform), t.utm_source),
        utm_medium=is_ad.ifelse(ibis.cases(*med_cases, else_=ibis.null("string")), t.utm_medium),
        utm_campaign=((t.source_system == "ads") & t.utm_campaign.isnull()).ifelse(
            props["campaign"].str.lower(), t.utm_campaign),
    )


def _sessions(t: ir.Table, gap_minutes: int) -> ir.Table:
    """Session number per customer: a new session after ``gap_minutes`` of inactivity."""
    w = ibis.window(group_by=t.customer_id, order_by=[t.occurred_at, t.event_id])
    prev = t.occurred_at.lag().over(w)
    gap = ibis.interval(minutes=gap_minutes)
    starts = (prev.isnull() | (t.occurred_at > prev + gap)).cast("int64")
    t = t.mutate(_starts=starts)
    w2 = ibis.window(group_by=t.customer_id, order_by=[t.occurred_at, t.event_id], rows=(None, 0))
    t = t.mutate(_session_no=t._starts.sum().over(w2) - 1)
    return t.mutate(session_id=t.customer_id.concat(":", t._session_no.cast("string"))).drop("_starts", "_session_no")


def _session_channels(t: ir.Table) -> ir.Table:
    """Web/app/e-commerce events take the channel of the first informative event of their session."""
    web = t.source_system.isin(SESSION_SYSTEMS)
    informative = web & (t.channel != "Direct") & (t.channel != "Unassigned")
    t = t.mutate(_web=web, _inf=informative)
    inf = t.filter(t._inf)
    first = ibis.struct({"at": inf.occurred_at, "id": inf.event_id})   # same-second events: by id
    firsts = inf.group_by("session_id").aggregate(
        _s_channel=inf.channel.argmin(first),
        _s_rule=inf.channel_rule.argmin(first),
    )
    j = t.left_join(firsts, "session_id")
    channel = j._web.ifelse(j._s_channel.fill_null("Direct"), j.channel)
    rule = (j._web & j._s_rule.notnull()).ifelse(j._s_rule, j.channel_rule)
    return j.mutate(channel=channel, channel_rule=rule).drop("_web", "_inf", "_s_channel", "_s_rule")


#: Event types that make an order (a negative or return one is a return).
ORDER_EVENT_TYPES: tuple[str, ...] = ("purchase", "receipt", "return", "refund")
_BROWSER_SYSTEMS = ("web", "app")


def _one_event_per_order(t: ir.Table) -> ir.Table:
    """Keep one touchpoint per order: a web ``purchase`` and the shop's order file are one order.

    The browser event is kept (it knows the session and its channel); value, items and
    coupon come from the order file when there is one, since the tracker may miss lines.
    """
    is_order = t.event_type.isin(ORDER_EVENT_TYPES) & t.order_id.notnull()
    from_file = ~t.source_system.isin(_BROWSER_SYSTEMS)
    t = t.mutate(_is_order=is_order, _file=from_file)
    w = ibis.window(group_by=[t.customer_id, t.order_id, t.event_type, t._is_order],
                    order_by=[t._file, t.occurred_at, t.event_id])
    wall = ibis.window(group_by=[t.customer_id, t.order_id, t.event_type, t._is_order])
    t = t.mutate(
        _rank=ibis.row_number().over(w),
        _f_rev=t.revenue.max(where=t._file).over(wall),
        _f_items=t["items"].max(where=t._file).over(wall),
        _f_coupon=t.coupon_code.max(where=t._file).over(wall),
    )
    t = t.filter(~t._is_order | (t._rank == 0))
    return t.mutate(
        revenue=t._is_order.ifelse(t._f_rev.fill_null(t.revenue), t.revenue),
        items=t._is_order.ifelse(t._f_items.fill_null(t["items"]), t["items"]),
        coupon_code=t._is_order.ifelse(t._f_coupon.fill_null(t.coupon_code), t.coupon_code),
    ).drop("_is_order", "_file", "_rank", "_f_rev", "_f_items", "_f_coupon")


def touchpoints_expr(
    identified_events: ir.Table,
    rules: ChannelRules,
    *,
    session_gap_minutes: int,
    stage_settings: Mapping[str, Any] | None,
    time_zone: str = "UTC",
) -> ir.Table:
    """The ``touchpoints`` rows of the given events (an Ibis expression, nothing runs here).

    ``identified_events`` is the identity stage's ``events_identified`` view (every event
    column plus ``customer_id``), already restricted to the customers being built; events
    without a customer are left out here and reported by the runner. Record-keeping events
    (:mod:`percorso.build.records`) are left out before sessions are cut: an identify call or
    a CRM row neither opens a session nor gives one its channel.
    """
    t = touchpoint_events(identified_events.filter(identified_events.customer_id.notnull()))
    t = _ad_tags(t)
    props = t.properties.cast("json")
    t = t.mutate(
        campaign=t.utm_campaign.fill_null(props["campaign"].str).fill_null(props["campaign_name"].str),
        device_type=ibis.cases(
            (t.source_system == "app", ibis.literal("app")),
            (~t.online.fill_null(False) | t.user_agent.isnull(), ibis.null("string")),
            (t.user_agent.re_search("(?i)ipad|tablet"), ibis.literal("tablet")),
            (t.user_agent.re_search("(?i)mobi|iphone|android"), ibis.literal("mobile")),
            else_=ibis.literal("desktop"),
        ),
    )
    t = classify(t, rules)
    # offline events that matched no offline rule (a type of a custom source no rule knows)
    # have no marketing channel: they are Unassigned, not Direct
    t = t.mutate(channel=(~t.online.fill_null(False) & ~t.channel_rule.startswith("offline:")
                          & (t.channel_rule != "source")).ifelse(ibis.literal("Unassigned"), t.channel))
    t = _sessions(t, session_gap_minutes)
    t = _session_channels(t)
    t = _one_event_per_order(t)
    t = t.mutate(stage=ibis.null("string"), occurred_at_local=to_local(t.occurred_at, time_zone))
    t = assign_stages(t, stage_settings)
    return t.select(*[t[name].cast(_ibis_type(sql)).name(name) for name, sql in TOUCHPOINT_COLUMNS])


def _ibis_type(sql: str) -> str:
    return {"VARCHAR": "string", "TIMESTAMP": "timestamp", "DOUBLE": "float64", "BOOLEAN": "boolean",
            "INTEGER": "int32", "BIGINT": "int64"}[sql]
