"""Words that come from the data but have a name in the reader's language: stages, event types,
channels, purchase places, attribution models, path anchors.

Why here: the data keeps stable English keys (a selector, a CSV column, a URL parameter uses
them); only what a person reads is translated, at the last moment, through the catalog. A word
the catalog does not know (a page URL, a campaign, a custom stage) is shown as it is. Compound
labels (``page_view → product_view``, ``Email · email_click``) are translated part by part.
"""

from __future__ import annotations

import re
from typing import Any

from percorso.web.pages import N_

WORDS = (
    # stages
    N_("awareness"), N_("consideration"), N_("decision"), N_("purchase"), N_("post_purchase"), N_("advocacy"),
    N_("(nessuna / none)"),
    # event types
    N_("ad_click"), N_("ad_impression"), N_("add_to_cart"), N_("call"), N_("checkout"), N_("checkout_error"),
    N_("coupon_redeemed"), N_("delivery"), N_("email_bounce"), N_("email_click"), N_("email_open"),
    N_("email_sent"), N_("fair_visit"), N_("flyer_received"), N_("login"), N_("loyalty_signup"),
    N_("newsletter_signup"), N_("page_view"), N_("product_view"), N_("receipt"), N_("refund"),
    N_("remove_from_cart"), N_("return"), N_("review"), N_("sales_meeting"), N_("screen_view"), N_("search"),
    N_("signup"), N_("store_visit"), N_("support_ticket"), N_("unsubscribe"), N_("message_sent"),
    # offline channels (GA4's own names stay as GA4 prints them)
    N_("Store / POS"), N_("Call center"), N_("Loyalty"), N_("Events & fairs"), N_("Sales rep"),
    N_("Direct mail / flyer"), N_("Unassigned"),
    # anchors and leftovers
    N_("(start)"), N_("(end)"), N_("other"), N_("(none)"),
    # purchase places and mixes
    N_("online"), N_("offline"), N_("online_only"), N_("store_only"), N_("omnichannel"), N_("no_purchase"),
    N_("online_to_store"), N_("store_to_online"), N_("online → offline"), N_("offline → online"),
    # attribution models and rows
    N_("first"), N_("last"), N_("last_non_direct"), N_("linear"), N_("time_decay"), N_("position"),
    N_("markov_1"), N_("markov_2"), N_("markov_3"), N_("markov_4"), N_("shapley"),
    N_("attributed"), N_("not_attributable"), N_("total"),
    # friction kinds
    N_("node"), N_("transition"), N_("loop"), N_("chain"), N_("outbound"),
    # funnel breakdown
    N_("(all)"),
)

_KEY = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")
_SPLIT = re.compile(r"( → | · | \| |\s\((?:online|offline)\)$)")


def say(value: Any, gettext: Any) -> str:
    """``value`` in the reader's language (compound labels part by part); unknown words unchanged."""
    text = "" if value is None else str(value)
    if not text:
        return text
    whole = gettext(text)
    if whole != text:
        return whole
    if _KEY.fullmatch(text):  # an English key the catalog keeps as it is: "add_to_cart" reads "add to cart"
        return text.replace("_", " ")
    parts = _SPLIT.split(text)
    if len(parts) == 1:
        return text
    out = []
    for part in parts:
        if not part:  # re.split leaves "" around a separator at an end; gettext("") is the catalog header
            continue
        if part.startswith(" (") and part.endswith(")"):
            out.append(f" ({say(part[2:-1], gettext)})")
        else:
            out.append(part if _SPLIT.fullmatch(part) else say(part, gettext))
    return "".join(out)
