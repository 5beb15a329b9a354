"""Canonical event types, their aliases (Segment and GA4 names) and online/offline systems."""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "page_view", "screen_view", "product_view", "search", "add_to_cart", "remove_from_cart",
    "checkout", "checkout_error", "purchase", "refund", "store_visit", "receipt", "return",
    "loyalty_signup", "newsletter_signup", "unsubscribe", "identify", "alias", "login", "signup",
    "email_sent", "email_open", "email_click", "email_bounce",
    "ad_impression", "ad_click", "call", "support_ticket", "review", "fair_visit",
    "sales_meeting", "coupon_redeemed", "flyer_received", "delivery", "crm_update", "campaign_cost",
    "group",
)

#: The company's own actions toward a customer, not steps the customer took: sends, bounces,
#: impressions, mailings, deliveries. Why one list here: "where do customers get stuck" must
#: rank what customers did (friction ranks only their own steps and reports these apart: an
#: e-mail sent to everyone who has not bought yet otherwise tops every friction table).
OUTBOUND_EVENT_TYPES: tuple[str, ...] = ("email_sent", "email_bounce", "ad_impression", "flyer_received", "delivery")

#: The type of an event whose source name is neither canonical nor an alias (a clickstream's own
#: ``catalog``, ``cart``): the name itself stays in ``event_name``.
GENERIC_EVENT_TYPE = "custom"

#: Aliases → canonical type. Keys are compared lowercased with spaces and dashes as "_".
EVENT_TYPE_ALIASES: dict[str, str] = {
    # Segment e-commerce v2
    "order_completed": "purchase",
    "product_viewed": "product_view",
    "product_added": "add_to_cart",
    "product_removed": "remove_from_cart",
    "checkout_started": "checkout",
    "products_searched": "search",
    "order_refunded": "refund",
    "signed_up": "signup",
    "signed_in": "login",
    "logged_in": "login",
    # Segment email spec
    "email_delivered": "email_sent",
    "email_opened": "email_open",
    "email_link_clicked": "email_click",
    "email_bounced": "email_bounce",
    "unsubscribed": "unsubscribe",
    # GA4 names
    "view_item": "product_view",
    "view_item_list": "page_view",
    "select_item": "product_view",
    "begin_checkout": "checkout",
    "add_payment_info": "checkout",
    "add_shipping_info": "checkout",
    "view_search_results": "search",
    "sign_up": "signup",
    "screen": "screen_view",
    "page": "page_view",
    "pageview": "page_view",
    "sale": "receipt",
    "scontrino": "receipt",
    "reso": "return",
}

#: Record-keeping events: rows a system writes about a person, not something the person did or
#: received. An identify/alias call records who a browser belongs to (the login or signup it
#: accompanies is the customer's action); a CRM export row records a profile or consent as it
#: stood at ``updated_at``; a campaign cost row records spend. They feed identity resolution and
#: the profile (name, contacts, consent), but they are **never touchpoints**: the build keeps them
#: out of ``touchpoints`` (hence out of first/last channel, touchpoint counts, sessions, journeys,
#: cohorts, personas, attribution) and stores them in ``record_updates`` instead. Outbound
#: contacts (:data:`OUTBOUND_EVENT_TYPES`: sends, impressions) stay touchpoints: they happened to
#: the person, and the analyses that must not credit them (attribution, friction) set them apart.
#: A Segment ``group`` call records which account (company, household) a person belongs to.
RECORD_KEEPING_EVENT_TYPES: tuple[str, ...] = ("identify", "alias", "crm_update", "campaign_cost", "group")

#: Source systems whose touchpoints are digital.
ONLINE_SOURCE_SYSTEMS: frozenset[str] = frozenset({"web", "app", "ecommerce", "esp", "ads", "crm_web"})


def is_touchpoint_type(event_type: str | None) -> bool:
    """Whether an event of this canonical type is a touchpoint (not record keeping).

    Examples
    --------
    >>> is_touchpoint_type("page_view"), is_touchpoint_type("crm_update")
    (True, False)
    """
    return event_type not in RECORD_KEEPING_EVENT_TYPES


def canonical_event_type(name: str) -> str | None:
    """Canonical type for a source event name, or ``None`` when it is not recognised.

    Examples
    --------
    >>> canonical_event_type("Order Completed")
    'purchase'
    >>> canonical_event_type("view_item")
    'product_view'
    """
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key in EVENT_TYPES:
        return key
    return EVENT_TYPE_ALIASES.get(key)


def event_label(event_type: str | None, event_name: str | None) -> str | None:
    """What people read for an event: its type, or a generic event's own name (``catalog``, not
    ``custom``), as the journeys' default node labels it.

    Examples
    --------
    >>> event_label("custom", "catalog"), event_label("page_view", "view_item_list")
    ('catalog', 'page_view')
    """
    if event_type == GENERIC_EVENT_TYPE and event_name:
        return event_name
    return event_type
