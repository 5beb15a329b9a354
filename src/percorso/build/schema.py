"""Columns of the tables the build stage owns: ``touchpoints``, ``orders``, ``customers``,
``record_updates``.

Analyses (journeys, attribution, value, segments) read only these tables and
``campaign_costs``, and a touchpoint's details from its event (:data:`TOUCHPOINT_DETAILS`,
:mod:`percorso.build.details`); they are the seam between the data pipeline and the analyses. The
test fixture :func:`percorso.testing.journeys_for` writes the same tables (and the events) directly.
"""

from __future__ import annotations

from typing import Any

#: Systems whose events share browser/app sessions and inherit the session channel.
SESSION_SYSTEMS: tuple[str, ...] = ("web", "app", "ecommerce")
#: Channels that say nothing of how a customer came: a session's channel is the first other one,
#: and an order placed in a Direct session takes the last other one (GA4's last non-direct click).
NOT_INFORMATIVE: tuple[str, ...] = ("Direct", "Unassigned")

#: The type a customer's order amounts are summed in (``customers.revenue``): each amount to the
#: millionth, the sum exact, so it does not depend on the order the rows are met in (a sum of
#: doubles does: an incremental build's revenue differed from a full build's in the last bit).
REVENUE_DIGITS = 6
REVENUE_DECIMAL = f"decimal(18, {REVENUE_DIGITS})"
#: The type a mean of shares or scores is taken in (``value.health``): each value to the 1e-9th,
#: so the mean is the same whatever order the rows come in (a mean of doubles is not).
MEAN_DECIMAL = "decimal(18, 9)"


def customer_key(t: Any) -> str:
    """The column ``t`` (touchpoint rows, or rows derived from them) is partitioned, grouped and
    joined by per customer: ``customer_no`` when it has it (:data:`TOUCHPOINT_KEYS`), else
    ``customer_id`` (the lake's tables, built on Spark or exported). One value per customer either
    way, so results are the same; the number only costs less to sort and hash."""
    return "customer_no" if "customer_no" in t.columns else "customer_id"


def exact_sum(value: Any, where: Any = None) -> Any:
    """``value`` summed as :data:`REVENUE_DECIMAL` (each term to the millionth), as a double.

    Why: a sum of doubles depends on the order the engine's threads meet the rows, so an
    amount summed over customers changed in its last digit from run to run (cost to serve,
    health); summed as decimals it is exact and the same in any order. A term finer than the
    millionth of a euro is rounded to it.
    """
    return value.cast(REVENUE_DECIMAL).sum(where=where).cast("float64")


def exact_mean(value: Any) -> Any:
    """``value`` averaged as :data:`MEAN_DECIMAL` (each term to the 1e-9th), as a double: the
    same mean in any row order (see :func:`exact_sum`)."""
    return value.cast(MEAN_DECIMAL).mean().cast("float64")

#: Every column a touchpoint shows, in the order readers and exports see them. Most are stored in
#: ``touchpoints`` (:data:`TOUCHPOINT_COLUMNS`); the event's own descriptive columns that no
#: analysis groups, filters or joins by unasked are details (:data:`TOUCHPOINT_DETAILS`), read from
#: ``events`` by ``event_id`` by the queries that name one (:func:`percorso.build.details.with_details`).
TOUCHPOINT_FIELDS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("occurred_at", "TIMESTAMP"),           # UTC
    ("occurred_at_local", "TIMESTAMP"),     # wall time in the project zone: days, weeks, months, filters
    ("event_type", "VARCHAR"),              # canonical type
    ("event_name", "VARCHAR"),              # stored: the default journey node of a generic event
    ("source_name", "VARCHAR"),             # detail
    ("source_system", "VARCHAR"),
    ("channel", "VARCHAR"),                 # GA4 channel group or offline channel
    ("channel_rule", "VARCHAR"),            # id of the rule that matched (rules version:row)
    ("online", "BOOLEAN"),
    ("session_id", "VARCHAR"),              # customer_id + ':' + session number
    ("seq", "BIGINT"),                      # position in the customer's touchpoints by (occurred_at, event_id)
    ("stage", "VARCHAR"),                   # filled by the journeys stage rules (NULL until then)
    ("utm_source", "VARCHAR"),              # derived for ad rows without tags (touchpoints.AD_PLATFORM_TAGS)
    ("utm_medium", "VARCHAR"),
    ("utm_campaign", "VARCHAR"),
    ("campaign", "VARCHAR"),                # campaign name used for ROI joins (utm_campaign or source campaign)
    ("coupon_code", "VARCHAR"),             # derived: a merged order's from the order file
    ("order_id", "VARCHAR"),
    ("revenue", "DOUBLE"),
    ("currency", "VARCHAR"),                # stored: the orders step reads it
    ("store_id", "VARCHAR"),
    ("page_url", "VARCHAR"),                # detail
    ("referrer", "VARCHAR"),                # detail
    ("region", "VARCHAR"),                  # detail
    ("device_type", "VARCHAR"),             # desktop | mobile | tablet | app | NULL (offline)
    ("items", "VARCHAR"),                   # JSON array; derived: a merged order's from the order file
    ("properties", "VARCHAR"),              # JSON object; detail
)
#: The event's own columns a touchpoint shows as they are in ``events``, not stored in
#: ``touchpoints`` (ADR 0061): writing a column costs the build ~0.15-0.5 s per 10M rows whatever
#: its values, and these are read only by a query that names one (a page, region or property
#: node, an attribution level, the customer's timeline, an export), which joins the events by id.
#: ``event_name`` stays stored (every journey analysis labels a generic event by it), and so do
#: ``currency`` (the orders step reads it from the touchpoints), the UTM tags, ``coupon_code`` and
#: ``items`` (the build changes them for ad rows and merged orders).
TOUCHPOINT_DETAILS: tuple[str, ...] = ("source_name", "page_url", "referrer", "region", "properties")
#: Stored keys no reader is shown (ADR 0062): ``customer_no`` is the customer id's number
#: (:func:`percorso.engine.identity_keys_sql.customer_no_sql`), the integer the build's session
#: windows and the journeys' windows and groupings partition by, and an incremental build probes
#: by, instead of the string id (10M touchpoints: the journeys' window 2.0-2.5 → 1.3 s). Exports,
#: the lake, a person's access archive and the timeline show :data:`TOUCHPOINT_FIELDS` without it
#: (:func:`percorso.build.details.with_details`); a table without it (the lake's, built on Spark)
#: is read by ``customer_id`` (:func:`customer_key`).
TOUCHPOINT_KEYS: tuple[tuple[str, str], ...] = (("customer_no", "BIGINT"),)
#: Fields ``touchpoints`` computes when they are read, from the stored column that takes their
#: place (ADR 0073): ``session_id`` is ``customer_id`` + ``':'`` + ``session_no``, a DuckDB
#: generated column (:data:`percorso.engine.build_sql.TOUCHPOINTS_GENERATED`). Written, it was a
#: distinct string a row or nearly (10M events: ~0.35-1.0 s of the build); the session number is a
#: small integer. Readers, and users' own SQL, read ``session_id`` as before; ``session_no`` is a
#: stored key no reader is shown, like :data:`TOUCHPOINT_KEYS`. The lake's tables (Spark's too)
#: store ``session_id`` itself.
TOUCHPOINT_COMPUTED: dict[str, tuple[str, str]] = {"session_id": ("session_no", "INTEGER")}
#: The columns ``touchpoints`` stores: what analyses group, filter and join by, and what the build
#: derives; the keys right after ``customer_id``, a computed field's stored column in its place.
TOUCHPOINT_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    k for c in TOUCHPOINT_FIELDS if c[0] not in TOUCHPOINT_DETAILS
    for k in ((c, *TOUCHPOINT_KEYS) if c[0] == "customer_id" else (TOUCHPOINT_COMPUTED.get(c[0], c),)))
#: The columns the ``touchpoints`` table shows (``SELECT *``, the catalog): the stored ones, each
#: computed field right after its stored column. A table with others was written by an older
#: version and is rebuilt whole (:func:`percorso.build.runner.run_build`).
TOUCHPOINT_TABLE_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    k for c in TOUCHPOINT_COLUMNS
    for k in (c, *[(f, dict(TOUCHPOINT_FIELDS)[f]) for f, (s, _) in TOUCHPOINT_COMPUTED.items() if s == c[0]]))
#: ``touchpoints`` columns stored uncompressed by a full build (ADR 0054): one distinct value a
#: row or nearly, which DuckDB's string compression encodes one by one (10M events: writing
#: ``event_id`` 1.37 → 0.46 s); readers see the same values.
TOUCHPOINTS_UNCOMPRESSED: tuple[str, ...] = ("event_id",)
#: ``orders`` and ``customers`` columns stored uncompressed by a full build (ADR 0095), for the
#: same reason: about one distinct value a row, analysed and encoded one by one when written and
#: decoded when read (an incremental build's probe of ``customer_id`` reads every row).
ORDERS_UNCOMPRESSED: tuple[str, ...] = ("order_id", "customer_id", "event_id")
CUSTOMERS_UNCOMPRESSED: tuple[str, ...] = ("customer_id",)
#: ``touchpoints`` text columns a full build stores as the enumeration of the values they can
#: take (ADR 0071): a handful each, known before the rows are (the events' distinct values, the
#: channel rules, the stage rules), and written as small integers where DuckDB's string
#: compression analysed every value (10M events: ~1.2-1.6 s of the build). Readers see text.
#: ``campaign`` is not one: its values come out of the events' properties.
TOUCHPOINTS_ENUMS: tuple[str, ...] = ("event_type", "event_name", "source_system", "channel", "channel_rule",
                                      "stage", "device_type")

#: ``touchpoints`` columns that only the given event columns fill, or an event of the given system
#: (``_ad_tags`` fills an ad row's UTM tags, the ``app`` system gives a device type): a full build
#: whose events' store has none of the columns (``event_store``, ADR 0075) and no event of the
#: systems declares the column NULL, never written (ADR 0076). A 10M clickstream: nine of them.
TOUCHPOINTS_FILLED_BY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "utm_source": (("utm_source",), ("ads",)),
    "utm_medium": (("utm_medium",), ("ads",)),
    "utm_campaign": (("utm_campaign",), ("ads",)),
    "coupon_code": (("coupon_code",), ()),          # a merged order's is the order file's, an event's too
    "order_id": (("order_id",), ()),
    "currency": (("currency",), ()),
    "store_id": (("store_id",), ()),
    "device_type": (("user_agent",), ("app",)),
    "items": (("items",), ()),
}

ORDER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("order_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("event_id", "VARCHAR"),
    ("occurred_at", "TIMESTAMP"),           # UTC
    ("occurred_at_local", "TIMESTAMP"),     # wall time in the project zone (engine/localtime.py)
    ("revenue", "DOUBLE"),                  # net of discounts; negative for returns
    ("currency", "VARCHAR"),
    ("n_lines", "INTEGER"),
    ("n_items", "DOUBLE"),
    ("store_id", "VARCHAR"),                # NULL for online orders
    ("online", "BOOLEAN"),
    ("channel", "VARCHAR"),                 # channel of purchase (web session channel, or 'Store / POS')
    ("source_system", "VARCHAR"),
    ("coupon_code", "VARCHAR"),
    ("is_return", "BOOLEAN"),
    ("items", "VARCHAR"),
)

CUSTOMER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "VARCHAR"),
    ("first_seen_at", "TIMESTAMP"),
    ("last_seen_at", "TIMESTAMP"),
    ("n_touchpoints", "BIGINT"),            # 0 for a person known only from record updates
    ("n_orders", "BIGINT"),                 # purchase orders (returns excluded)
    ("revenue", "DOUBLE"),                  # net revenue: purchases minus returns (build/definitions.py)
    ("is_identified", "BOOLEAN"),           # has a strong identifier (login, email, phone, card, CRM, tax code)
    ("n_identifiers", "BIGINT"),
    ("n_anonymous_ids", "BIGINT"),
    ("n_devices", "BIGINT"),
    ("n_emails", "BIGINT"),
    ("n_phones", "BIGINT"),
    ("n_cards", "BIGINT"),
    ("consent_profiling", "BOOLEAN"),
    ("consent_marketing", "BOOLEAN"),
    ("first_name", "VARCHAR"),
    ("last_name", "VARCHAR"),
    ("email_key", "VARCHAR"),               # keyed hash of the latest e-mail: the raw value is only sealed
    ("phone_key", "VARCHAR"),               # in the PII vault (percorso.privacy.contacts opens a page of them)
    ("loyalty_card", "VARCHAR"),
    ("city", "VARCHAR"),
    ("province", "VARCHAR"),
    ("birth_date", "DATE"),                 # from the loyalty card or CRM record (latest wins); date triggers
    ("home_store", "VARCHAR"),              # store with most receipts
    ("first_channel", "VARCHAR"),           # channel of the first touchpoint (NULL without touchpoints)
    ("current_stage", "VARCHAR"),           # stage of the latest staged touchpoint
    ("merged_from", "VARCHAR"),             # JSON list of retired ids merged into this one
)


#: Record-keeping events (:data:`percorso.events.RECORD_KEEPING_EVENT_TYPES`: CRM record
#: updates, identify/alias calls) of each customer: never touchpoints, kept for the profile.
RECORD_UPDATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("occurred_at", "TIMESTAMP"),           # UTC
    ("event_type", "VARCHAR"),
    ("event_name", "VARCHAR"),
    ("source_name", "VARCHAR"),
    ("source_system", "VARCHAR"),
)
