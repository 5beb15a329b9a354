"""Hand examples for every GA4 rule (a hit and a near miss each), order, click ids, referrers."""

from __future__ import annotations

import pytest

from percorso.channels import classify_values, load_rules

RULES = load_rules()


def ch(source=None, medium=None, campaign=None, click=None, referrer=None, **kw):
    return classify_values(source, medium, campaign, click, referrer, rules=RULES, **kw)[0]


# (source, medium, campaign, expected channel) — hits and near misses, worked out from
# the GA4 table in docs/channels.md, not from running the code.
CASES = [
    # Direct
    ("(direct)", "(none)", None, "Direct"),
    ("(direct)", "(not set)", None, "Direct"),
    ("(direct)", "cpc", None, "Paid Other"),                 # near miss: medium not none
    # Cross-network
    ("google", "cpc", "pmax_cross-network_it", "Cross-network"),
    ("google", "cpc", "cross network", "Paid Search"),         # near miss: no hyphen
    # Paid Shopping
    ("amazon", "cpc", None, "Paid Shopping"),
    ("newsletter", "paid", "summer-shop", "Paid Shopping"),    # campaign shop regex
    ("newsletter", "paid", "workshop", "Paid Other"),          # near miss: 'workshop' (k before shop)
    ("amazon", "email", None, "Organic Shopping"),             # near miss: not a paid medium
    # Paid Search
    ("google", "cpc", None, "Paid Search"),
    ("bing", "ppc", None, "Paid Search"),
    ("yahoo", "retargeting", None, "Paid Search"),
    ("google", "organic", None, "Organic Search"),             # near miss
    # Paid Social
    ("facebook", "paid_social", None, "Paid Social"),
    ("l.facebook.com", "cpc", None, "Paid Social"),
    ("facebook", "social", None, "Organic Social"),            # near miss
    # Paid Video
    ("youtube", "cpv", None, "Paid Video"),
    ("youtube", "video", None, "Organic Video"),               # near miss
    # Display
    ("dv360", "display", None, "Display"),
    ("criteo", "cpm", None, "Display"),                        # Display (7) comes before Paid Other (8)
    ("google", "cpm", None, "Paid Search"),                    # near miss: 'cpm' matches .*cp.* on a search source
    ("criteo", "banner", None, "Display"),
    ("criteo", "banners", None, "Unassigned"),                 # near miss: exact list
    # Paid Other
    ("partner-x", "paid", None, "Paid Other"),
    ("partner-x", "unpaid", None, "Unassigned"),               # near miss: regex anchored at start
    # Organic Shopping
    ("idealo", "referral", None, "Organic Shopping"),
    ("blog", "referral", "black-friday-shopping", "Organic Shopping"),
    ("blog", "referral", "bishop", "Referral"),                # near miss: 'bishop' (h before shop)
    # Organic Social
    ("instagram", "referral", None, "Organic Social"),
    ("blog", "social media", None, "Organic Social"),
    ("blog", "socialmedia", None, "Unassigned"),               # near miss
    # Organic Video
    ("vimeo", "referral", None, "Organic Video"),
    ("blog", "video-embed", None, "Organic Video"),
    ("blog", "vid", None, "Unassigned"),                       # near miss
    # Organic Search
    ("duckduckgo", "referral", None, "Organic Search"),
    ("myengine", "organic", None, "Organic Search"),
    ("myengine", "organics", None, "Unassigned"),              # near miss
    # Referral
    ("corriere.it", "referral", None, "Referral"),
    ("app-partner", "app", None, "Referral"),
    ("blog", "link", None, "Referral"),
    ("blog", "links", None, "Unassigned"),                     # near miss
    # Email
    ("email", "newsletter", None, "Email"),
    ("crm", "e-mail", None, "Email"),
    ("crm", "e mail", None, "Email"),
    ("crm", "emails", None, "Unassigned"),                     # near miss
    # Affiliates
    ("awin", "affiliate", None, "Affiliates"),
    ("awin", "affiliates", None, "Unassigned"),                # near miss
    # Audio
    ("spotify", "audio", None, "Audio"),
    ("spotify", "podcast", None, "Unassigned"),                # near miss
    # SMS
    ("sms", "text", None, "SMS"),
    ("operator", "sms", None, "SMS"),
    ("operator", "mms", None, "Unassigned"),                   # near miss
    # Mobile Push Notifications
    ("app", "web-push", None, "Mobile Push Notifications"),
    ("app", "mobile", None, "Mobile Push Notifications"),
    ("app", "notifications", None, "Mobile Push Notifications"),
    ("app", "pushy", None, "Unassigned"),                      # near miss: must END with push
    # Italian additions
    ("trovaprezzi.it", "cpc", None, "Paid Shopping"),
    ("kelkoo.it", "referral", None, "Organic Shopping"),
    ("amazon.it", "cpc", None, "Paid Shopping"),
    ("ebay.it", "referral", None, "Organic Shopping"),
    ("libero.it", "referral", None, "Organic Search"),
    ("virgilio.it", "cpc", None, "Paid Search"),
]


@pytest.mark.parametrize(("source", "medium", "campaign", "expected"), CASES)
def test_hand_examples(source, medium, campaign, expected):
    assert ch(source, medium, campaign) == expected


def test_every_enabled_channel_has_a_hand_example():
    hit = {c[3] for c in CASES}
    assert {r.channel for r in RULES.rules} <= hit


def test_order_precedence_first_match_wins():
    # youtube + cpc is both Paid Video (8) and Paid Other (10): the earlier rule wins
    assert classify_values("youtube", "cpc", None, rules=RULES) == ("Paid Video", "ga4-2026:8")
    # a shopping campaign on google cpc: Paid Shopping (5) comes before Paid Search (6)
    assert ch("google", "cpc", "shopping_feed") == "Paid Shopping"
    # cross-network beats everything but Direct and the click-id rule
    assert ch("facebook", "cpc", "cross-network") == "Cross-network"


def test_case_insensitive():
    assert ch("Google", "CPC", None) == "Paid Search"
    assert ch(" FACEBOOK ", "Paid_Social", None) == "Paid Social"
    assert ch("Newsletter", "E-Mail", None) == "Email"
    assert ch("blog", "Referral", "Black-Friday-SHOPPING") == "Organic Shopping"


def test_click_id_rules():
    assert classify_values(None, None, None, "gclid", rules=RULES) == ("Paid Search", "ga4-2026:1")
    assert ch(click="GBRAID") == "Paid Search"
    assert ch(click="wbraid", referrer="https://www.google.it/") == "Paid Search"
    # UTMs present: the UTMs decide, not the click id
    assert ch("newsletter", "email", None, click="gclid") == "Email"
    # fbclid / igshid / srsltid alone do not make a visit paid
    assert ch(click="fbclid") == "Direct"
    assert ch(click="igshid", referrer="https://l.instagram.com/") == "Organic Social"
    assert ch(click="srsltid", referrer="https://www.google.com/") == "Organic Search"
    assert ch(click="fbclid", referrer="https://m.facebook.com/story") == "Organic Social"


def test_referrer_fallback():
    assert ch(referrer="https://www.google.it/search?q=scarpe") == "Organic Search"
    assert ch(referrer="https://search.libero.it/") == "Organic Search"
    assert ch(referrer="https://l.facebook.com/l.php?u=x") == "Organic Social"
    assert ch(referrer="https://www.youtube.com/watch?v=1") == "Organic Video"
    assert ch(referrer="https://www.trovaprezzi.it/prezzo") == "Organic Shopping"
    assert ch(referrer="https://www.corriere.it/articolo") == "Referral"
    # internal referrer (same host as the page) is ignored → Direct
    assert ch(referrer="https://shop.example.it/a", page_url="https://shop.example.it/b") == "Direct"
    # not a URL → no referrer
    assert ch(referrer="(none)") == "Direct"
    # UTMs win over the referrer
    assert ch("newsletter", "email", None, referrer="https://www.google.it/") == "Email"
    # utm_source without medium: medium (not set), decided by the source list
    assert ch("google", None, None) == "Organic Search"
    assert ch("partner", None, None) == "Unassigned"


def test_nothing_is_direct():
    assert classify_values(None, None, None, rules=RULES) == ("Direct", "ga4-2026:2")
    assert ch("", "  ", "") == "Direct"


def test_offline_mapping_and_given_channel():
    assert ch(source_system="pos", event_type="receipt") == "Store / POS"
    assert ch(source_system="events", event_type="store_visit") == "Store / POS"
    assert ch(source_system="call_center", event_type="call") == "Call center"
    assert ch(source_system="loyalty", event_type="loyalty_signup") == "Loyalty"
    assert ch(source_system="events", event_type="fair_visit") == "Events & fairs"
    assert ch(source_system="events", event_type="sales_meeting") == "Sales rep"
    assert ch(source_system="events", event_type="flyer_received") == "Direct mail / flyer"
    assert ch(source_system="ESP", event_type="email_open") == "Email"
    assert classify_values(source_system="pos", rules=RULES)[1] == "offline:2"
    # a given channel wins over everything
    assert classify_values("google", "cpc", None, source_system="pos", channel="Sales rep", rules=RULES) == (
        "Sales rep", "source")
    # web rows go through the GA4 rules
    assert ch("google", "cpc", None, source_system="web", event_type="page_view") == "Paid Search"
