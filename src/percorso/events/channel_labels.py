"""A channel a file names in its own words, and the channel name every report uses for it.

Why: a clickstream export often carries the exporter's channel of each event (``paid_search``,
``social``, ``Email``, ``Diretto``). Kept only in ``properties``, it was never read: every event of
such a file was ``Direct`` (the 10M-event benchmark file of issue 15: six channels in the file,
one in every report). The ingest now gives the label as the event's ``channel`` (the channel a
source gives wins over the rules, ``channel_rule = "source"``, docs/channels.md), translated by
this table, as event names are by :data:`percorso.events.types.EVENT_TYPE_ALIASES`. A label the
table does not know is kept as written: the report then shows the source's own name, never a
guess. ``percorso.channels.names.KNOWN_CHANNELS`` is the vocabulary the values come from (a test
holds the two together; this package imports no other).
"""

from __future__ import annotations

#: The channel names of the reports (GA4's default channel group, the offline channels).
_NAMES: tuple[str, ...] = (
    "Direct", "Cross-network", "Paid Shopping", "Paid Search", "Paid Social", "Paid Video", "Display",
    "Paid Other", "Organic Shopping", "Organic Social", "Organic Video", "Organic Search", "Referral",
    "Email", "Affiliates", "Audio", "SMS", "Mobile Push Notifications", "Unassigned", "Store / POS",
    "Call center", "Loyalty", "Events & fairs", "Sales rep", "Direct mail / flyer", "AI Assistant",
)

#: Other words for them, English and Italian, as exports and spreadsheets write them.
_ALIASES: dict[str, tuple[str, ...]] = {
    "Direct": ("diretto", "diretta", "accesso_diretto", "typein", "type_in", "(none)", "none", "(direct)"),
    "Organic Search": ("organic", "seo", "search", "organic_search_traffic", "natural_search", "free_search",
                       "ricerca_organica", "organico", "ricerca"),
    "Paid Search": ("cpc", "ppc", "sem", "sea", "paid_search_traffic", "search_ads", "adwords", "google_ads",
                    "ricerca_a_pagamento"),
    "Organic Social": ("social", "social_media", "social_network", "socials", "social_organico"),
    "Paid Social": ("social_ads", "social_paid", "paid_social_media", "social_a_pagamento", "facebook_ads",
                    "meta_ads"),
    "Email": ("e_mail", "mail", "newsletter", "dem", "emailing", "email_marketing"),
    "Referral": ("referrals", "referrer", "referer", "siti_referenti"),
    "Display": ("banner", "display_ads", "programmatic"),
    "Affiliates": ("affiliate", "affiliation", "affiliazione", "affiliati"),
    "SMS": ("text_message",),
    "Mobile Push Notifications": ("push", "mobile_push", "push_notification", "push_notifications", "web_push",
                                  "notifiche_push"),
    "Organic Video": ("video", "youtube"),
    "Paid Video": ("video_ads",),
    "Organic Shopping": ("shopping",),
    "Paid Shopping": ("shopping_ads", "google_shopping"),
    "Cross-network": ("performance_max", "pmax"),
    "Audio": ("podcast",),
    "Paid Other": ("other_paid",),
    "Unassigned": ("unknown", "(not_set)", "not_set", "sconosciuto", "non_assegnato"),
    "Store / POS": ("store", "pos", "negozio", "punto_vendita"),
    "Call center": ("call_centre", "callcenter", "contact_center"),
    "Events & fairs": ("events", "fair", "fairs", "fiera", "fiere", "eventi"),
    "Sales rep": ("sales", "agente", "rappresentante"),
    "Direct mail / flyer": ("direct_mail", "flyer", "volantino", "volantinaggio"),
}


#: Words for where or how an event was recorded, not for how the customer came: Segment's own
#: ``channel`` field (``browser``, ``server``, ``mobile``) and the platform columns of exports.
#: Such a label gives no channel (the rules decide, as for an empty one).
NOT_A_CHANNEL: tuple[str, ...] = ("browser", "server", "mobile", "client", "web", "online", "app", "ios",
                                  "android", "desktop", "tablet")


def label_key(text: str) -> str:
    """A label as the table's keys are written: lowercase, spaces and dashes as ``_`` (the
    ingest computes the same in SQL, ``percorso.engine.backend.name_key_sql``)."""
    return text.strip().lower().replace(" ", "_").replace("-", "_")


#: Normalised label → channel name: each name itself (``Paid Search``, ``paid search``,
#: ``paid-search``), then its aliases; ``""`` (no channel) for :data:`NOT_A_CHANNEL`.
CHANNEL_LABELS: dict[str, str] = {
    **{label_key(name): name for name in _NAMES},
    **{label_key(alias): name for name, aliases in _ALIASES.items() for alias in aliases},
    **{label_key(word): "" for word in NOT_A_CHANNEL},
}


def channel_of_label(text: str | None) -> str | None:
    """The channel of a label as the ingest gives it (for tests and the Python API): the
    table's name, else the label as written (trimmed); ``None`` for an empty one or a word of
    :data:`NOT_A_CHANNEL`.

    >>> channel_of_label("paid_search"), channel_of_label(" Newsletter "), channel_of_label("Partner")
    ('Paid Search', 'Email', 'Partner')
    >>> channel_of_label("browser") is None
    True
    """
    if text is None or not text.strip():
        return None
    return CHANNEL_LABELS.get(label_key(text), text.strip()) or None
