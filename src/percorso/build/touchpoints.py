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

from collections.abc import Callable, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from percorso.build.records import touchpoint_events
from percorso.build.schema import (NOT_INFORMATIVE, SESSION_SYSTEMS, TOUCHPOINT_COLUMNS, TOUCHPOINTS_ENUMS,
                                   TOUCHPOINTS_UNCOMPRESSED, customer_key)
from percorso.channels import classify, url_host
from percorso.channels.rules import ChannelRules
from percorso.engine.dialect import first_by, json_value
from percorso.engine.localtime import local_by_hour
from percorso.journeys.stages import assign_stages

#: A table's columns as (name, SQL type) pairs (:mod:`percorso.build.schema`).
Columns = tuple[tuple[str, str], ...]


#: Ad-platform rows without UTM tags: (platform, is_impression) → (utm_source, utm_medium).
#: Auto-tagged clicks (gclid, fbclid) and impressions carry no UTMs; without this mapping
#: they would fall into ``Direct``. Google impressions in the demo are display network ones.
#: A row of the ``ads`` source not in the table is still paid: its medium is :data:`AD_DEFAULT_MEDIUM`.
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
    ("microsoft", True): ("bing", "cpm"),
    ("bing", True): ("bing", "cpm"),
}
#: The medium of an ad row the table does not name (another platform, or no platform), by
#: whether it is an impression: the source is the platform as written. Before, such a row had
#: no medium, and the GA4 rules read the platform as a referrer: of 2M ad events, the 265,758
#: Bing impressions were in Organic Search; LinkedIn or Pinterest ads would have been Organic
#: Social. ``cpc``/``cpm`` match the paid rules' ``.*cp.*`` (Paid Search/Social/Shopping by the
#: source, else Paid Other), ``cpm`` Display's list.
AD_DEFAULT_MEDIUM: dict[bool, str] = {False: "cpc", True: "cpm"}


def _ad_tags(t: ir.Table) -> ir.Table:
    """Fill UTM source/medium/campaign of ad-platform rows that have none.

    The platform is read from the properties once, into a column the cases compare: written
    into each case, it was parsed out of the JSON text up to 25 times per ad row (the engine
    does not share an expression between the branches of a ``CASE``), in both the sessions
    and the rows query (2M ad events and 1M visits: the full build 12.6-13.2 -> 10.0-10.2 s).
    """
    # only an ad row's properties are parsed (not every event's: two JSON reads a row)
    t = t.mutate(_ad_platform=(t.source_system == "ads").ifelse(
        json_value(t.properties, "platform", "string").lower(), ibis.null("string")))
    ads, platform = t.source_system == "ads", t._ad_platform
    impression = t.event_type == "ad_impression"
    src_cases = [((platform == p) & (impression if imp else ~impression), ibis.literal(s))
                 for (p, imp), (s, _m) in AD_PLATFORM_TAGS.items()]
    med_cases = [((platform == p) & (impression if imp else ~impression), ibis.literal(m))
                 for (p, imp), (_s, m) in AD_PLATFORM_TAGS.items()]
    is_ad = ads & t.utm_source.isnull()
    return t.mutate(
        utm_source=is_ad.ifelse(ibis.cases(*src_cases, else_=platform), t.utm_source),
        utm_medium=is_ad.ifelse(ibis.cases(*med_cases, else_=impression.ifelse(
            AD_DEFAULT_MEDIUM[True], AD_DEFAULT_MEDIUM[False])), t.utm_medium),
        utm_campaign=(ads & t.utm_campaign.isnull()).ifelse(
            json_value(t.properties, "campaign", "string").lower(), t.utm_campaign),
    ).drop("_ad_platform")


#: A touchpoint's ``device_type`` when it has one (NULL offline or without a user agent).
DEVICE_TYPES: tuple[str, ...] = ("app", "tablet", "mobile", "desktop")

#: Event types that make an order (a negative or return one is a return).
ORDER_EVENT_TYPES: tuple[str, ...] = ("purchase", "receipt", "return", "refund")
_BROWSER_SYSTEMS = ("web", "app")

# Why three steps and not one expression: sessions, session channels and the one-event-per-
# order rule are window and group computations; in one query the engine sorted every event
# with all of its ~50 columns, three times over (the session windows were even computed twice,
# once more for the session channels' join), which was 80 % of a full build (1M events: 19 s
# of 24). Here the windows run on a narrow row of ten keys per event (``_keys``), are
# materialised once (``_sessions``), and the wide columns are read once more at the end and
# joined back on the event's row number (a 64-bit integer).


def _classified(t: ir.Table, rules: ChannelRules) -> ir.Table:
    """``t`` (event columns) with UTM tags of ad rows filled, its classified ``channel`` and
    ``channel_rule`` and the order rule's columns (:func:`_order_values`)."""
    return _order_values(_channels(_ad_tags(t), rules))


def _channels(t: ir.Table, rules: ChannelRules) -> ir.Table:
    """``t`` (event columns, ad rows' UTM tags filled) with its classified ``channel`` and ``channel_rule``."""
    t = classify(t, rules)
    # offline events that matched no offline rule (a type of a custom source no rule knows)
    # have no marketing channel: they are Unassigned, not Direct
    return t.mutate(channel=(~t.online.fill_null(False) & ~t.channel_rule.startswith("offline:")
                             & (t.channel_rule != "source")).ifelse(ibis.literal("Unassigned"), t.channel))


#: What a touchpoint's channel and rule are a function of (:func:`_channels` of :func:`_ad_tags`):
#: these columns once the ad rows' tags are filled, and the hosts of the referrer and the page
#: (``_rh``, ``_ph``: all the rules read of the two URLs). The key of :func:`_classes`.
_CLASS_KEYS: tuple[str, ...] = ("utm_source", "utm_medium", "utm_campaign", "click_id_type", "source_system",
                                "event_type", "channel", "online", "_rh", "_ph")


def _class_keys(t: ir.Table) -> ir.Table:
    """``t`` (event columns) with the ad rows' tags filled and the hosts of :data:`_CLASS_KEYS`."""
    t = _ad_tags(t)
    return t.mutate(_rh=url_host(t.referrer), _ph=url_host(t.page_url))


def _classes(rows: ir.Table, rules: ChannelRules, stage_settings: Mapping[str, Any] | None = None,
             staged: bool = False) -> ir.Table:
    """The distinct :data:`_CLASS_KEYS` of the touchpoint events of ``rows``, each classified once:
    its number ``_cls``, channel ``_ch`` and rule ``_rule``, and ``_inf``: whether the rows of
    the class can give a session its channel (:func:`_can_give_channel`); with ``staged`` (stage
    rules that read the event type alone, :func:`_staged_by_type`) also its stage ``_stage``.

    Why: the rules are a chain of ~40 cases with regular expressions, and they read a few columns
    of few values (a 10M-event clickstream: 42 distinct keys). Classified per event, they cost
    ~1.8 CPU s a pass at 10M events, and the full build made two passes (the session firsts, the
    wide rows); the distinct keys take one scan of the columns, and an event's class is a join on
    them (ADR 0076). A referrer or page stands for its host (any URL of the host: the rules read
    nothing else of it), so distinct URLs of one site make one class.
    """
    k = _class_keys(touchpoint_events(rows))
    g = k.group_by(list(_CLASS_KEYS)).aggregate(_url_r=k.referrer.min(), _url_p=k.page_url.min())
    c = _channels(g.mutate(_given=g.channel, referrer=g._url_r, page_url=g._url_p), rules)
    if staged:
        c = assign_stages(c, stage_settings)
    stage = {"_stage": c.stage} if staged else {}
    return c.select(*[c._given.name(n) if n == "channel" else c[n] for n in _CLASS_KEYS],
                    _cls=ibis.row_number().cast("int32"), _ch=c.channel, _rule=c.channel_rule,
                    _inf=_can_give_channel(c), **stage)


def _staged_by_type(stage_settings: Mapping[str, Any] | None) -> bool:
    """Whether the stage rules read a touchpoint's event type alone (no channel, no property), as
    the default ones do: its stage is then its class's (:func:`_classes`; the event type is one of
    the class's keys).

    Why: the rules are a chain of cases, each a list of event types compared as text, made per
    row in the full build's wide statement; made per class (42 rows at 10M events) they cost
    nothing, and the class comes with the row already: the statement 12.1 -> 11.4 CPU s (ADR 0088)."""
    from percorso.journeys.stages import stage_settings as parse_stages

    return all(not r.channels and not r.where for r in parse_stages(stage_settings).rules)


def _order_values(t: ir.Table) -> ir.Table:
    """``t`` with ``_is_order`` and the order values (``_o_*``) on the rows the order rule ranks."""
    is_order = t.event_type.isin(ORDER_EVENT_TYPES) & t.order_id.notnull()
    in_order = is_order.fill_null(True)      # rows the order rule ranks (is_order NULL included, as before)
    return t.mutate(
        _is_order=is_order,
        _o_rev=in_order.ifelse(t.revenue, ibis.null("float64")),
        _o_items=in_order.ifelse(t["items"], ibis.null("string")),
        _o_coupon=in_order.ifelse(t.coupon_code, ibis.null("string")),
    )


def _keys(identified: ir.Table, rules: ChannelRules) -> ir.Table:
    """Per touchpoint event: its row key ``_r``, customer, time, classified channel and what the
    session and order rules need (order values only on order rows), nothing else."""
    t = _classified(touchpoint_events(identified.filter(identified.customer_id.notnull())), rules)
    return t.select("_r", *_customer(t), "occurred_at", "event_id", "source_system", "event_type", "order_id",
                    "channel", "channel_rule", "_is_order", "_o_rev", "_o_items", "_o_coupon")


def _customer(t: ir.Table) -> list[str]:
    """The customer columns of ``t`` the build carries: ``customer_id`` and, when the identified
    events have it, its number ``customer_no``, which every window and group here is by (ADR 0062)."""
    return ["customer_id", *(["customer_no"] if "customer_no" in t.columns else [])]


def _sessions(k: ir.Table, gap_minutes: int, carry: ir.Table | None = None) -> ir.Table:
    """Session number ``_sno`` and position ``_seq`` per customer: a new session after
    ``gap_minutes`` of inactivity; positions 1, 2, … in the order of (time, event id).

    Sessions are cut by time alone: events of the same second are always in one session (the
    second one's gap is 0). Both windows follow the one total order (time, then event id; the
    running sum by ``_seq``): with time alone as the order, tied rows at a session's start
    could take their ``_starts`` in one order and be summed in another, and the first of
    them was numbered one session early (measured: the 10M clickstream's session-number sum
    differed by one between two plans of the same query).

    ``_seq`` is the order every journey analysis needs (``touchpoints.seq``, ADR 0035): it comes
    from the sort the session window makes anyway, so an analysis orders a customer's steps by
    one stored integer instead of sorting (time, 32-character event id) again. It numbers the
    key rows, so the order row the one-row-per-order rule leaves out leaves a gap: it is an
    order, not a count of touchpoints.

    ``carry`` (an incremental build's tail, ADR 0040): per customer whose rows before a cut are
    kept, the time ``c_last_at``, session number ``c_sno`` and position ``c_seq`` of the last kept
    row; the first event after the cut is compared with it, and numbers continue from it (every
    event of a tail customer before the cut is a kept touchpoint: ``split_picked``). A customer
    without a carry row is numbered from 0 (sessions) and 1 (positions), as without ``carry``.
    """
    if carry is not None:
        k = k.left_join(carry.select("customer_id", "c_last_at", "c_sno", "c_seq"),
                        "customer_id").drop("customer_id_right")
    w = ibis.window(group_by=k[customer_key(k)], order_by=[k.occurred_at, k.event_id])
    prev = k.occurred_at.lag().over(w)
    if carry is not None:
        prev = prev.fill_null(k.c_last_at)
    gap = ibis.interval(minutes=gap_minutes)
    k = k.mutate(_starts=(prev.isnull() | (k.occurred_at > prev + gap)).cast("int64"),
                 _seq=ibis.row_number().over(w) + 1)
    w2 = ibis.window(group_by=k[customer_key(k)], order_by=k._seq, rows=(None, 0))
    if carry is None:
        return k.mutate(_sno=k._starts.sum().over(w2) - 1).drop("_starts")
    return k.mutate(_sno=k._starts.sum().over(w2) + k.c_sno.fill_null(-1),
                    _seq=k._seq + k.c_seq.fill_null(0)).drop("_starts", "c_last_at", "c_sno", "c_seq")


def _can_give_channel(s: ir.Table) -> ir.BooleanValue:
    """Whether a row of ``s`` can give its session the channel: web/app/e-commerce, not Direct or
    Unassigned (of an event, or of a class of events: :func:`_classes`)."""
    return s.source_system.isin(SESSION_SYSTEMS) & ~s.channel.isin(NOT_INFORMATIVE)


def _informative(s: ir.Table) -> ir.Table:
    """The rows that can give a session its channel (:func:`_can_give_channel`)."""
    return s.filter(_can_give_channel(s))


def _session_firsts(s: ir.Table) -> ir.Table:
    """Web/app/e-commerce sessions: channel and rule of their first informative event.

    First by ``_seq``, the customer's position in the order of (time, event id): that order
    with one integer, kept as each row goes (:func:`~percorso.engine.dialect.first_by`). By the
    pair itself (Ibis's ``argmin``: an aggregate that sorts each session's rows by a struct
    holding the 32-character id) it took 7.3 s of a 10M-event full build once a clickstream's own
    channels made most rows informative (ADR 0035, 2026-12-06).
    """
    inf = _informative(s)
    return inf.group_by([customer_key(inf), "_sno"]).aggregate(
        _s_channel=first_by(inf.channel, inf._seq), _s_rule=first_by(inf.channel_rule, inf._seq))


def _with_firsts(t: ir.Table, firsts: ir.Table) -> ir.Table:
    """``t`` (rows with a customer and ``_sno``) with their sessions' ``firsts`` (:func:`_session_firsts`)."""
    key = customer_key(firsts)
    return t.left_join(firsts, [key, "_sno"]).drop(f"{key}_right", "_sno_right")


def _order_ranks(s: ir.Table) -> ir.Table:
    """Keep one touchpoint per order: a web ``purchase`` and the shop's order file are one order.

    The browser event is kept (it knows the session and its channel); value, items and
    coupon come from the order file when there is one, since the tracker may miss lines.
    Only order rows are ranked (``_rank``); the others are all kept.
    """
    o = s.filter(s._is_order.fill_null(True))
    o = o.mutate(_file=~o.source_system.isin(_BROWSER_SYSTEMS))
    by = [o[customer_key(o)], o.order_id, o.event_type, o._is_order]
    w = ibis.window(group_by=by, order_by=[o._file, o.occurred_at, o.event_id])
    wall = ibis.window(group_by=by)
    return o.select(
        "_r",
        _rank=ibis.row_number().over(w),
        _f_rev=o._o_rev.max(where=o._file).over(wall),
        _f_items=o._o_items.max(where=o._file).over(wall),
        _f_coupon=o._o_coupon.max(where=o._file).over(wall),
    )


def session_rows_expr(s: ir.Table, carry: ir.Table | None = None) -> ir.Table:
    """Per kept touchpoint event (``_r``): its session, channel and rule, session's first
    channel and order values: everything the wide rows take from the session rows, narrow.

    Every value here is computed per customer (sessions, session firsts and order ranks are
    windows and groups by customer), so the session rows of a set of customers are these rows
    of the customers alone: a build in parts by customer (:func:`write_touchpoints`) gives the
    same rows as one query. Order rows other than the kept one of their order are left out.
    """
    sess = s.select("_r", *_customer(s), "_sno", "_seq", _ch=s.channel, _rule=s.channel_rule, _is_order=s._is_order)
    firsts = _session_firsts(s)
    ranks = _order_ranks(s)
    t = _with_firsts(sess, firsts)
    if carry is not None:
        # the session continued across the cut takes the channel of its first informative event
        # when that one is before the cut (``c_fixed``, ADR 0040): it precedes every row here
        c = carry.select("customer_id", "c_sno", "c_fixed", "c_first_ch", "c_first_rule")
        t = t.left_join(c, "customer_id").drop("customer_id_right")
        fixed = (t._sno == t.c_sno).fill_null(False) & t.c_fixed.fill_null(False)
        t = t.mutate(_s_channel=fixed.ifelse(t.c_first_ch, t._s_channel),
                     _s_rule=fixed.ifelse(t.c_first_rule, t._s_rule)).drop("c_sno", "c_fixed", "c_first_ch",
                                                                          "c_first_rule")
    t = t.left_join(ranks, "_r").drop("_r_right")
    return t.filter(~t._is_order | (t._rank == 0))


def _rows_of(rows: ir.Table, s: ir.Table, stage_settings: Mapping[str, Any] | None, time_zone: str,
             carry: ir.Table | None = None, columns: Columns = TOUCHPOINT_COLUMNS) -> ir.Table:
    """The wide rows: every event column of ``rows`` joined to its session row, channel and order values."""
    return _wide_rows(rows, session_rows_expr(s, carry), stage_settings, time_zone, columns)


def _wide_rows(rows: ir.Table, srows: ir.Table, stage_settings: Mapping[str, Any] | None,
               time_zone: str, columns: Columns = TOUCHPOINT_COLUMNS) -> ir.Table:
    """The ``touchpoints`` rows of the events of ``rows`` that have session rows ``srows``
    (:func:`session_rows_expr`): one join on the 64-bit ``_r``, then the columns computed per row."""
    from percorso.events.schema import EVENT_COLUMN_NAMES

    return _finish(rows.select("_r", *EVENT_COLUMN_NAMES).inner_join(srows, "_r"), rows, stage_settings, time_zone,
                   columns)


def _finish(t: ir.Table, rows: ir.Table, stage_settings: Mapping[str, Any] | None, time_zone: str,
            columns: Columns = TOUCHPOINT_COLUMNS) -> ir.Table:
    """The ``touchpoints`` ``columns`` of ``t``: every event column and its session row's
    (:func:`session_rows_expr`); ``rows``: the events, whose hours give the local times.

    ``columns``: the stored ones (the details are read from ``events`` by id, ADR 0061), or
    every field for the lake, whose ``touchpoints`` a cluster reads without the events' join."""
    web = t.source_system.isin(SESSION_SYSTEMS)
    t = t.mutate(
        channel=web.ifelse(t._s_channel.fill_null("Direct"), t._ch),
        channel_rule=(web & t._s_rule.notnull()).ifelse(t._s_rule, t._rule),
        session_no=t._sno,
        seq=t._seq,
        revenue=t._is_order.ifelse(t._f_rev.fill_null(t.revenue), t.revenue),
        items=t._is_order.ifelse(t._f_items.fill_null(t["items"]), t["items"]),
        coupon_code=t._is_order.ifelse(t._f_coupon.fill_null(t.coupon_code), t.coupon_code),
    )
    t = _ad_tags(t)
    # read once per distinct properties text where the rows have it (:func:`_with_source_campaigns`)
    named = t._p_campaign if "_p_campaign" in t.columns else _source_campaign(t.properties)
    app, tablet, mobile, desktop = DEVICE_TYPES
    t = t.mutate(
        campaign=t.utm_campaign.fill_null(named),
        device_type=ibis.cases(
            (t.source_system == "app", ibis.literal(app)),
            (~t.online.fill_null(False) | t.user_agent.isnull(), ibis.null("string")),
            (t.user_agent.re_search("(?i)ipad|tablet"), ibis.literal(tablet)),
            (t.user_agent.re_search("(?i)mobi|iphone|android"), ibis.literal(mobile)),
            else_=ibis.literal(desktop),
        ),
        stage=ibis.null("string"),
    )
    # by the offset of each UTC hour, converted once per hour of these events (engine/localtime.py)
    t = local_by_hour(t, "occurred_at", rows, time_zone, "occurred_at_local")
    # a class's stage (``_stage``, :func:`_classes`) when the rules read the event type alone
    t = t.mutate(stage=t._stage) if "_stage" in t.columns else assign_stages(t, stage_settings)
    # ``touchpoints`` stores the session number and computes the id when read (ADR 0073); the
    # lake's table, which a cluster reads as it is, stores the id
    fields = {"session_id": t.customer_id.concat(":", t.session_no.cast("string"))}
    return t.select(*[(fields[name] if name in fields else t[name]).cast(_ibis_type(sql)).name(name)
                      for name, sql in columns])


def _source_campaign(properties: ir.StringValue) -> ir.StringValue:
    """The campaign a source names in an event's ``properties`` (``campaign``, else ``campaign_name``):
    a touchpoint's ``campaign`` when it has no UTM campaign."""
    return json_value(properties, "campaign", "string").fill_null(json_value(properties, "campaign_name", "string"))


def _with_source_campaigns(rows: ir.Table, texts: ir.Table | None = None) -> ir.Table:
    """``rows`` with ``_p_campaign``, :func:`_source_campaign` of their ``properties``, read once per
    distinct ``properties`` text (of ``texts``, the same events as stored, when ``rows`` is a view
    that joins them to more: its joins are not made twice) and joined to the rows by it.

    Why: a source writes few distinct property texts (a 10M clickstream: 36), and the two JSON
    reads per row cost the full build's wide statement 1.3-2.2 CPU s at 10M events; the distinct
    texts and the join on them, on the event rows as scanned, 0.2-0.3 (ADR 0066). A row without
    properties matches nothing, and its campaign stays NULL, as the reads give."""
    # the texts of rows without a UTM campaign: the ones the reads per row would parse, no more
    texts = rows if texts is None else texts
    p = texts.filter(texts.properties.notnull() & texts.utm_campaign.isnull()).select("properties").distinct()
    p = p.select(_p_props=p.properties, _p_campaign=_source_campaign(p.properties))
    return rows.left_join(p, rows.properties == p._p_props).drop("_p_props")


def keyed(table: ir.Table) -> ir.Table:
    """``table`` with its row key ``_r``: the view's ``event_row`` or ``rowid`` column (the events
    rowid: ``events_identified``, ``percorso.engine.event_store.WITH_ROWID``), else the table's
    own rowid (a staged table of scoped events)."""
    if "event_row" in table.columns:
        return table.rename(_r="event_row")
    if "rowid" in table.columns:
        return table.rename(_r="rowid")
    return table.mutate(_r=table.rowid())


def write_touchpoints(
    engine: Any,
    target: str,
    identified_events: ir.Table,
    rows: ir.Table,
    rules: ChannelRules,
    *,
    session_gap_minutes: int,
    stage_settings: Mapping[str, Any] | None,
    time_zone: str = "UTC",
    parts: int = 1,
    progress: Callable[[str], None] | None = None,
    started: Callable[[], None] | None = None,
    columns: Columns = TOUCHPOINT_COLUMNS,
    seen: dict[str, list[str]] | None = None,
) -> int:
    """Write table ``target``: the ``touchpoints`` rows of the given events; returns the row count.

    ``identified_events`` is the identity stage's ``events_identified`` view (every event
    column plus ``customer_id``), or the staged events of the customers being rebuilt, with
    ``_r`` (:func:`keyed`); ``rows`` holds the same events' columns with the same ``_r``
    (``events`` itself for a full build). Events without a customer are left out here and
    reported by the runner. Record-keeping events (:mod:`percorso.build.records`) are left
    out before sessions are cut: an identify call or a CRM row neither opens a session nor
    gives one its channel.

    ``parts`` > 1 (a full build larger than the engine's memory, ADR 0036): the narrow key rows
    are written once, their windows run customer part by customer part (hash of the customer
    id), and the wide rows are joined in ranges of ``_r``; each statement then holds a
    ``parts``-th of the data, so the engine sorts and joins in memory instead of spilling
    (spilled, the windows and the join wrote 40 GB at 100M events). Same rows: every window
    and group is per customer, the join is per ``_r``.

    ``started`` is called once, before the engine runs the longest statement (in one part on
    DuckDB the wide one, else the first): a full build starts compiling the next build's plan on
    a thread there, while the engine holds the build's own thread.

    ``columns``: the stored ones by default; the lake build writes every field (:func:`_finish`).

    ``seen``: filled, by a full build in one part on DuckDB, with the distinct event types, names,
    systems and given channels of ``rows`` (:func:`_seen`), which it reads for the enumerations
    anyway: the runner then knows without a scan of its own whether any event is record keeping.
    """
    if parts <= 1 and engine.kind == "duckdb":
        return _write_numbered(engine, target, identified_events, rows, rules, session_gap_minutes,
                               stage_settings, time_zone, started, columns, seen)
    if parts <= 1:
        # Spark (the lake build): the classification materialised with the sessions; in the
        # wide statement, Spark's optimiser inlined its projections until the driver's heap ran out
        sql = engine.compile(sessions_expr(identified_events, rules, session_gap_minutes))
        if started is not None:
            started()
        s = engine.temp_table(sql)
        try:
            return engine.create_table(target, touchpoint_rows_expr(rows, s, stage_settings, time_zone,
                                                                    columns=columns))
        finally:
            engine.drop_temp(s)
    say = progress or (lambda _m: None)
    if started is not None:
        started()
    keys = _keys(identified_events, rules)
    # stored tables, not temp ones: temp tables live in memory and spill uncompressed
    part = ((keys.customer_id.hash() % parts) + parts) % parts      # the hash is signed here
    engine.create_table("_build_keys", keys.mutate(_part=part.cast("int32")))
    kt = engine.table("_build_keys")
    try:
        for b in range(parts):
            say(f"sessioni / sessions {b + 1}/{parts}")
            srows = session_rows_expr(_sessions(kt.filter(kt._part == b).drop("_part"), session_gap_minutes))
            if b == 0:
                engine.create_table("_build_srows", srows)
            else:
                engine.insert_expr("_build_srows", srows)
        engine.drop_table("_build_keys")
        st = engine.table("_build_srows")
        # one row by Engine.rows: a pandas frame would load pandas into the build (~0.3 s) for it
        bounds = engine.rows(st.aggregate(lo=st._r.min(), hi=st._r.max(), n=st.count()))[0]
        if not int(bounds["n"]):       # no touchpoint event: the (empty) rows in one statement
            return engine.create_table(target, _wide_rows(rows, st, stage_settings, time_zone, columns),
                                       generated=_generated(columns))
        lo, hi = int(bounds["lo"]), int(bounds["hi"])
        step = (hi - lo) // parts + 1
        for c in range(parts):
            say(f"punti di contatto / touchpoints {c + 1}/{parts}")
            a, z = lo + c * step, lo + (c + 1) * step
            expr = _wide_rows(rows.filter((rows._r >= a) & (rows._r < z)), st.filter((st._r >= a) & (st._r < z)),
                              stage_settings, time_zone, columns)
            if c == 0:
                engine.create_table(target, expr, generated=_generated(columns))
            else:
                engine.insert_expr(target, expr)
        return engine.count(target)
    finally:
        engine.drop_table("_build_keys")
        engine.drop_table("_build_srows")


def _write_numbered(engine: Any, target: str, identified_events: ir.Table, rows: ir.Table, rules: ChannelRules,
                    session_gap_minutes: int, stage_settings: Mapping[str, Any] | None, time_zone: str,
                    started: Callable[[], None] | None, columns: Columns = TOUCHPOINT_COLUMNS,
                    seen: dict[str, list[str]] | None = None) -> int:
    """:func:`write_touchpoints` in one part on DuckDB: the session numbers (their tied rows then
    put in order), the session firsts and order ranks, then the wide rows (ADR 0054, 0064).

    The statements' SQL but the classes' (0.9 s of Ibis at any size, twice the old path's) is
    compiled on a thread while the engine runs the classes and then numbers the sessions, against
    the temporary tables' names chosen beforehand: the numbers' first, the classes' statement
    waiting for none of it (ADR 0088). ``started`` is called right before the wide statement,
    which leaves the interpreter free for its ~7 s at 10M events (the next build's plan compiles
    on a thread: started before, it held the interpreter the short statements between wanted)."""
    import threading

    from percorso.engine.backend import temp_name
    from percorso.engine.build_sql import set_tied_positions

    names = [temp_name() for _ in range(4)]
    classes = _classes(rows, rules, stage_settings, staged=_staged_by_type(stage_settings))
    cls = ibis.table(classes.schema(), name=names[3])
    # a row without a time may change session when the ties are put in order: no session is then
    # taken from its first row (:func:`_session_numbers`); one count, from the column's statistics
    timed = not engine.rows(rows.filter(rows.occurred_at.isnull()).aggregate(n=ibis._.count()))[0]["n"]
    numbers = _session_numbers(identified_events, session_gap_minutes, cls, firsts_at_start=timed)
    # the numbers carry the customer's number alone: the wide rows take the id from the identified events
    identified = None if "customer_id" in numbers.columns else identified_events
    sql: dict[str, str] = {}
    failed: list[BaseException] = []
    numbered = threading.Event()   # the numbers' SQL is compiled (or failed)

    def compile_rest() -> None:
        try:
            sql["numbers"] = engine.compile(numbers)
            numbered.set()
            s = ibis.table(numbers.schema(), name=names[0])
            sql["ties"] = engine.compile(_tied_positions(rows, s))
            firsts, ranks = _numbered_firsts(s), _numbered_ranks(rows, s)
            sql["firsts"], sql["ranks"] = engine.compile(firsts), engine.compile(ranks)
            sql["rows"] = engine.compile(_numbered_rows(
                rows, s, ibis.table(firsts.schema(), name=names[1]), ibis.table(ranks.schema(), name=names[2]),
                cls, stage_settings, time_zone, columns, identified))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failed.append(exc)
        finally:
            numbered.set()

    classes_sql = engine.compile(classes)
    compiling = threading.Thread(target=compile_rest, name="touchpoints-compile")
    compiling.start()
    made: list[Any] = []
    try:
        made.append(engine.temp_table(classes_sql, name=names[3]))
        numbered.wait()
        if "numbers" not in sql:
            raise failed[0]
        made.append(engine.temp_table(sql["numbers"], name=names[0]))
        compiling.join()
        if failed:
            raise failed[0]
        set_tied_positions(engine, names[0], sql["ties"])
        made.append(engine.temp_table(sql["firsts"], name=names[1]))
        made.append(engine.temp_table(sql["ranks"], name=names[2]))
        values = _seen(engine, rows)
        if seen is not None:
            seen.update(values)
        nulls = _never_filled(engine, values["source_system"]) if columns == TOUCHPOINT_COLUMNS else ()
        if started is not None:
            started()
        return engine.create_table(target, sql["rows"], uncompressed=TOUCHPOINTS_UNCOMPRESSED,
                                   enums=_enum_values(values, rules, stage_settings),
                                   generated=_generated(columns), null_columns=nulls)
    finally:
        compiling.join()
        for t in made:
            engine.drop_temp(t)


def _generated(columns: Columns) -> dict[str, tuple[str, str, str]] | None:
    """The generated columns (ADR 0073) a DuckDB table of ``columns`` declares: the computed
    fields whose stored column it has (the stored columns; the lake's, every field, has none)."""
    from percorso.engine.build_sql import TOUCHPOINTS_GENERATED

    names = {n for n, _ in columns}
    return {s: g for s, g in TOUCHPOINTS_GENERATED.items() if s in names and g[0] not in names} or None


def _seen(engine: Any, rows: ir.Table) -> dict[str, list[str]]:
    """The distinct types, names, systems and given channels (read as :func:`~percorso.channels.classify`
    reads them) of the events ``rows``: one scan of four dictionary-compressed columns."""
    seen = engine.rows(rows.aggregate(
        event_type=rows.event_type.collect(distinct=True), event_name=rows.event_name.collect(distinct=True),
        source_system=rows.source_system.collect(distinct=True),
        channel=rows.channel.strip().nullif("").collect(distinct=True)))[0]
    return {k: v or [] for k, v in seen.items()}


def _never_filled(engine: Any, systems: list[str]) -> tuple[str, ...]:
    """The :data:`~percorso.build.schema.TOUCHPOINTS_FILLED_BY` columns no event can fill: the
    events' store lacks every event column that fills one, and no event is of a system that does
    (``systems``: the events' own, :func:`_seen`). NULL in every touchpoint, they are not written
    (ADR 0076).

    Why from the store's columns and not the rows: a column the store lacks is NULL in every event
    (ADR 0075) and known without a scan; an older project's store, which has every column, keeps
    every touchpoint column written."""
    from percorso.build.schema import TOUCHPOINTS_FILLED_BY
    from percorso.engine.event_store import stored

    have = set(stored(engine))
    return tuple(c for c, (cols, fill_systems) in TOUCHPOINTS_FILLED_BY.items()
                 if not have & set(cols) and not set(fill_systems) & set(systems))


def _enum_values(seen: dict[str, list[str]], rules: ChannelRules,
                 stage_settings: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The values each :data:`~percorso.build.schema.TOUCHPOINTS_ENUMS` column of the touchpoints
    of the events ``seen`` (:func:`_seen`) can take: the events' own (type, name, system, a given
    channel), the channels and rule labels of ``rules``, the stages of the stage rules, the device
    types.

    Why from the inputs and not the rows: the rows are written once, in the statement the
    enumerations are declared for; the events' four distinct sets take one scan of four
    dictionary-compressed columns (10M events: 0.15 s). A value missed here costs time, not
    rows: the insert fails and is made again with text columns (:meth:`Engine.create_table`).
    """
    from percorso.engine.backend import ENUM_MAX_VALUES
    from percorso.journeys.stages import stage_settings as parse_stages

    channels = {r.channel for r in rules.rules} | {o.channel for o in rules.offline} | set(NOT_INFORMATIVE)
    labels = ({"source", rules.unassigned_label} | {rules.label(r.rule_id) for r in rules.rules}
              | {f"offline:{o.rule_id}" for o in rules.offline})
    values = {"event_type": seen["event_type"], "event_name": seen["event_name"],
              "source_system": seen["source_system"], "channel": [*seen["channel"], *channels],
              "channel_rule": list(labels), "stage": [r.stage for r in parse_stages(stage_settings).rules],
              "device_type": list(DEVICE_TYPES)}
    # a column of many values (a source naming every page's event) stays text: the gain is the few values'
    return {c: values[c] for c in TOUCHPOINTS_ENUMS if len(values[c]) <= ENUM_MAX_VALUES}


def _session_numbers(identified_events: ir.Table, session_gap_minutes: int, classes: ir.Table,
                     firsts_at_start: bool = True) -> ir.Table:
    """Per touchpoint event (``_r``): its customer key, session number ``_sno``, position ``_seq``,
    whether another row of the customer has its time (``_tie``), its class of ``classes``
    (:func:`_classes`: ``_cls`` and ``_inf``), and ``_f``: its session's first informative class
    when the session's first row gives it, else -1 (first step of a full build in one part).

    Why so narrow: the session windows sort every row they carry; with the channel and order
    columns along (:func:`sessions_expr`) the two windows took 6.7 s at 10M events, with the
    four keys 3.3 s (ADR 0054); without the customer id (the number is the key) less again. The
    class is two narrow columns (a 32-bit number and a flag), found by a join on the few distinct
    keys of the classes: the session firsts then group these rows alone, and the wide rows take
    the channel of the class by its number (ADR 0076).

    Why by (time, ``_r``) and not (time, event id), the order :func:`_sessions` defines: a
    32-character text in the sort key made the first window's sort three times an integer's
    (ADR 0064). The two orders differ only among rows of one customer and one time, which
    are one block of positions in both and one session (their gap is 0): the numbers of such
    rows are put right afterwards (:func:`_tied_positions`), the others are already the same.

    Why ``_f``: a session's channel is the class of its first informative row, and in most sessions
    that is the first row (the 10M clickstream: 4.2M sessions of 5.05M). Its class comes with the
    running sum that numbers the sessions (the latest start's class, packed below its position so
    that a running ``max`` finds it), and only the other sessions are grouped
    (:func:`_numbered_firsts`): the group of all 4.65M sessions with an informative row, and the
    wide rows' join to them, cost more than the ``max`` (ADR 0085). A first row tied with another
    (``_tie``) is not taken: the order of the tied rows is put right afterwards. With
    ``firsts_at_start`` false (an event without a time: the ties may move it to another session)
    every session is grouped, as before.
    """
    k = _class_keys(touchpoint_events(identified_events.filter(identified_events.customer_id.notnull())))
    key = customer_key(k)
    k = k.inner_join(classes, [k[c].identical_to(classes[c]) for c in _CLASS_KEYS])
    k = k.select("_r", key, "occurred_at", "_cls", "_inf")
    w = ibis.window(group_by=k[key], order_by=[k.occurred_at, k._r])
    prev, nxt = k.occurred_at.lag().over(w), k.occurred_at.lead().over(w)
    gap = ibis.interval(minutes=session_gap_minutes)
    k = k.mutate(_starts=(prev.isnull() | (k.occurred_at > prev + gap)).cast("int64"),
                 _seq=ibis.row_number().over(w) + 1,
                 _tie=prev.identical_to(k.occurred_at) | nxt.identical_to(k.occurred_at))
    w2 = ibis.window(group_by=k[key], order_by=k._seq, rows=(None, 0))
    if firsts_at_start:
        # per start: its position, and below it its class + 1 (0: the group finds the session's first)
        given = (k._inf & ~k._tie).ifelse(k._cls.cast("int64") + 1, 0)
        start = (k._starts == 1).ifelse(k._seq * _START_SHIFT + given, ibis.null("int64"))
        first = ((start.max().over(w2) % _START_SHIFT) - 1).cast("int32")
    else:
        first = ibis.literal(-1, "int32")
    # the engine sums to a 128-bit integer: the stored column's type (``session_no``) instead, so the
    # firsts' groups and the wide rows' joins carry and compare 4 bytes, not 16
    return k.select("_r", key, _sno=(k._starts.sum().over(w2) - 1).cast("int32"), _seq=k._seq, _tie=k._tie,
                    _cls=k._cls, _inf=k._inf, _f=first)


#: What a session start's position is multiplied by in :func:`_session_numbers` to hold its class
#: below it: classes are numbered from 0 in 32 bits, positions stay below 2**31 (a larger one
#: overflows the 64-bit product, an error, never a wrong class).
_START_SHIFT = 2**32


def _tied_positions(rows: ir.Table, numbers: ir.Table) -> ir.Table:
    """Per tied row of ``numbers`` (:func:`_session_numbers`): its ``_sno`` and ``_seq`` in the order
    of (time, event id).

    A block of one customer's rows of one time holds the same positions in both orders, from
    its smallest ``_seq``: the row with the block's ``q``-th event id (from 0) takes that one
    plus ``q``. Its session is the block's first one, which is all of it (gap 0), except for
    rows without a time: each of them after the first starts a session (the comparison with
    the previous time is NULL), so their sessions count up as their positions do.
    """
    key = customer_key(numbers)
    t = numbers.filter(numbers._tie).select("_r", key, "_sno", "_seq").inner_join(
        rows.select("_r", "occurred_at", "event_id"), "_r")
    block = ibis.window(group_by=[t[key], t.occurred_at])
    q = ibis.row_number().over(ibis.window(group_by=[t[key], t.occurred_at], order_by=t.event_id))
    return t.select("_r", _sno=t._sno.min().over(block) + t.occurred_at.isnull().ifelse(q, 0),
                    _seq=t._seq.min().over(block) + q)


def _numbered_firsts(numbers: ir.Table) -> ir.Table:
    """:func:`_session_firsts` of the events with session ``numbers``, by their classes: per session
    with an informative row (``_inf``) whose first row does not give its class (``_f`` -1,
    :func:`_session_numbers`), the class ``_s_cls`` of the first informative one."""
    inf = numbers.filter(numbers._inf & (numbers._f == -1))
    return inf.group_by([customer_key(inf), "_sno"]).aggregate(_s_cls=first_by(inf._cls, inf._seq))


def _numbered_ranks(rows: ir.Table, numbers: ir.Table) -> ir.Table:
    """:func:`_order_ranks` of the events of ``rows`` with session ``numbers`` (order rows only)."""
    o = _order_values(rows)
    return _order_ranks(o.filter(o._is_order.fill_null(True)).inner_join(numbers, "_r"))


def _numbered_rows(rows: ir.Table, numbers: ir.Table, firsts: ir.Table, ranks: ir.Table, classes: ir.Table,
                   stage_settings: Mapping[str, Any] | None, time_zone: str,
                   columns: Columns = TOUCHPOINT_COLUMNS, identified: ir.Table | None = None) -> ir.Table:
    """The ``touchpoints`` rows of the events of ``rows`` that have session ``numbers``
    (:func:`_session_numbers`), with their sessions' ``firsts`` and their orders' ``ranks``
    (materialised: a relation a statement reads twice, the engine materialises whole): the
    same rows as :func:`touchpoint_rows_expr` of :func:`sessions_expr`, the channels those of
    the events' ``classes`` (:func:`_classes`, by number).

    ``identified``: the same events with ``customer_id`` (``events_identified``), where the numbers
    carry the customer's number alone; the rows are read from it, so the id comes with the
    event (the view's join on the map's 1M identifiers) instead of a join of the 10M numbers to
    the customers by number, whose string id the join to the events by ``_r`` then carried in
    its 10M-row hash table (10M events, one profile each: those joins 3.2 → 2.2 CPU s, ADR 0079)."""
    from percorso.events.schema import EVENT_COLUMN_NAMES

    events = rows.select("_r", *EVENT_COLUMN_NAMES) if identified is None else identified.select(
        "_r", *EVENT_COLUMN_NAMES, "customer_id")
    t = _with_source_campaigns(events, rows).inner_join(numbers.drop("_tie", "_inf"), "_r")
    # the ad rows' tags are filled by :func:`_finish`
    staged = ["_stage"] if "_stage" in classes.columns else []
    t = _order_values(t).inner_join(classes.select("_cls", "_ch", "_rule", *staged), "_cls").drop("_cls")
    t = _with_firsts(t, firsts)
    t = t.mutate(_s_cls=(t._f == -1).ifelse(t._s_cls, t._f)).drop("_f")
    first = classes.select(_s_cls=classes._cls, _s_channel=classes._ch, _s_rule=classes._rule)
    t = t.left_join(first, "_s_cls").drop("_s_cls", "_s_cls_right")
    t = t.left_join(ranks, "_r").drop("_r_right")
    return _finish(t.filter(~t._is_order | (t._rank == 0)), rows, stage_settings, time_zone, columns)


def sessions_expr(identified_events: ir.Table, rules: ChannelRules, session_gap_minutes: int,
                  carry: ir.Table | None = None) -> ir.Table:
    """The narrow session rows of the touchpoint events (first of the two steps of
    :func:`write_touchpoints`, materialised before the second); ``carry``: see :func:`_sessions`."""
    return _sessions(_keys(identified_events, rules), session_gap_minutes, carry)


def touchpoint_rows_expr(rows: ir.Table, sessions: ir.Table, stage_settings: Mapping[str, Any] | None,
                         time_zone: str = "UTC", carry: ir.Table | None = None,
                         columns: Columns = TOUCHPOINT_COLUMNS) -> ir.Table:
    """The ``touchpoints`` rows: the events of ``rows`` joined to their materialised ``sessions``."""
    return _rows_of(rows, sessions, stage_settings, time_zone, carry, columns)


def _ibis_type(sql: str) -> str:
    return {"VARCHAR": "string", "TIMESTAMP": "timestamp", "DOUBLE": "float64", "BOOLEAN": "boolean",
            "INTEGER": "int32", "BIGINT": "int64", "DATE": "date"}[sql]
