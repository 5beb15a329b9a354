"""Web and app sessions as Segment-spec JSON lines, built column-wise with Arrow.

A session opens with a landing ``page`` (``screen`` in the app) whose URL carries the touch's
campaign (utm_*, gclid, fbclid) or whose referrer names the search engine, social network,
price-comparison or referral site; direct visits have neither. Later events in the session
(product views, cart, checkout with error loops, identify, purchase) carry no campaign, as in
GA4. Purchase sessions identify the cookie with the buyer's email, which is how identity
links anonymous browsing to the order; so do visits from a newsletter link (the e-mail platform's
click tracking carries the subscriber), as they do on real shops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from percorso.generate import fmt, network
from percorso.generate.catalog import (CH, LANDING, ORGANIC_SEARCH, ORGANIC_SOCIAL, PAGES, PRODUCTS, REFERRALS,
                                       SHOPPING_SITES, SITE)
from percorso.generate.people import Persons, hex_ids


# event kinds, in their order inside a session
PAGE, LOGIN, VIEW, CART, CHECKOUT, ERROR, IDENT, PURCHASE, REVIEW, SIGNUP = range(10)
NAMES = {
    VIEW: ("product_view", "Product Viewed", "view_item"), CART: ("add_to_cart", "Product Added"),
    CHECKOUT: ("checkout", "Checkout Started", "begin_checkout"), ERROR: ("checkout_error",),
    PURCHASE: ("purchase", "Order Completed"), REVIEW: ("review",), SIGNUP: ("newsletter_signup",),
}
TYPES = fmt.s(["page", "screen", "identify", "track"])
EVENT_POOL = fmt.s([f',"event":"{x}"' for names in NAMES.values() for x in names] + [""])
EVENT_AT = dict(zip(NAMES, np.cumsum([0] + [len(x) for x in NAMES.values()])))
NAME_POOL = fmt.s([f',"name":"{x}"' for x in ("Home", "Materassi", "Cuscini", "Reti", "Lenzuola", "Offerte", "Negozi", "Blog")] + [""])
SKUS, CATEGORIES, PRICES = fmt.s([x[0] for x in PRODUCTS]), fmt.s([x[2] for x in PRODUCTS]), np.array([x[3] for x in PRODUCTS])
ERRORS = fmt.s(["payment_declined", "address_invalid", "timeout"])


@dataclass
class Sessions:
    person: np.ndarray
    t: np.ndarray
    channel: np.ndarray       # catalog channel index, -1 = direct return visit
    kind: np.ndarray          # 0 web, 1 app, 2 store tablet
    device: pa.Array          # anonymousId
    device_id: pa.Array       # app device id ("" on web)
    url: pa.Array             # landing URL
    referrer: pa.Array
    campaign: pa.Array        # utm_campaign ("" when none)
    order: np.ndarray         # purchase index or -1
    review: np.ndarray        # purchase index reviewed or -1
    signup: np.ndarray        # newsletter signup session
    ident: np.ndarray         # a visit whose only purpose here is signing in on this device
    ua: np.ndarray            # user agent of the device at the time (pool index, see :mod:`.network`)
    ip: np.ndarray            # IP address the session came from (:func:`.network.ip_code`)
    failed: np.ndarray        # the checkout failed with an error and the person gave up (a lost sale)
    page: np.ndarray          # landing page (index into catalog.PAGES)


def landing(channel: np.ndarray, campaign: pa.Array, click_id: pa.Array, buying: np.ndarray,
            rng) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Landing URL, referrer and landing page index for sessions of the given channels (each
    channel's query string and referrer built on its own rows, see :func:`.fmt.scatter`).

    Landing pages convert differently (:data:`.catalog.LANDING`): a session in which the person
    buys (or tries to) landed more often on an offer or category page, one that does not on
    the blog or the store finder, so a landing-page report shows conversion rates from about a
    third to about twice the average. The simulation decides the purchase first (the funnel),
    so these differences are not effects of the page.
    """
    n = channel.size
    w_buy, w_other = (np.array([x[i] for x in LANDING.values()]) for i in (0, 1))
    page = np.where(buying, rng.choice(len(PAGES), n, p=w_buy / w_buy.sum()),
                    rng.choice(len(PAGES), n, p=w_other / w_other.sum()))
    shop_src = (rng.random(n) >= 0.5).astype(np.int64)   # trovaprezzi, idealo
    social_src = (rng.random(n) >= 0.7).astype(np.int64)  # facebook, instagram
    # some Google Ads clicks arrive with the gclid only (auto-tagging, no utm)
    gclid_only = (channel == CH["Paid Search"]) & (rng.random(n) < 0.15)

    def utm(ch: int, *parts) -> tuple[np.ndarray, pa.Array]:
        """A channel's query string on its own rows: parts are literals, "campaign", "click" or
        a (names, pick per session) source."""
        r = np.flatnonzero((channel == ch) & ~gclid_only)
        cols = {"campaign": campaign, "click": click_id}
        return r, fmt.join(*[fmt.take(x[0], x[1][r]) if isinstance(x, tuple)
                             else cols[x].take(pa.array(r)) if x in cols else x for x in parts])

    gclid = np.flatnonzero(gclid_only)
    query = fmt.scatter(n, [
        utm(CH["Paid Search"], "?utm_source=google&utm_medium=cpc&utm_campaign=", "campaign", "&gclid=", "click"),
        utm(CH["Paid Social"], "?utm_source=", (["facebook", "instagram"], social_src),
            "&utm_medium=paid_social&utm_campaign=", "campaign", "&fbclid=", "click"),
        utm(CH["Display"], "?utm_source=gdn&utm_medium=display&utm_campaign=", "campaign"),
        utm(CH["Affiliates"], "?utm_source=awin&utm_medium=affiliate&utm_campaign=", "campaign"),
        utm(CH["Paid Shopping"], "?utm_source=", (["trovaprezzi", "idealo"], shop_src), "&utm_medium=cpc&utm_campaign=", "campaign"),
        utm(CH["Email"], "?utm_source=newsletter&utm_medium=email&utm_campaign=", "campaign"),
        utm(CH["Mobile Push Notifications"], "?utm_source=app&utm_medium=push&utm_campaign=", "campaign"),
        (gclid, fmt.join("?gclid=", click_id.take(pa.array(gclid)))),
    ])
    refs = {
        CH["Organic Search"]: ORGANIC_SEARCH, CH["Organic Social"]: ORGANIC_SOCIAL, CH["Referral"]: REFERRALS,
        CH["Organic Shopping"]: SHOPPING_SITES, CH["Paid Shopping"]: SHOPPING_SITES,
    }
    pieces = []
    for ch, pool in refs.items():
        r, which = np.flatnonzero(channel == ch), rng.integers(0, len(pool), n)
        pieces.append((r, fmt.take(pool, which[r])))
    return fmt.join(SITE, fmt.take(PAGES, page), query), fmt.scatter(n, pieces), page


def build_events(ss: Sessions, p: Persons, order_id: pa.Array, revenue: np.ndarray, rng) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray]:
    """Segment JSON lines of the sessions. Returns lines, messageIds, person and event kind per line."""
    n = ss.person.size
    buy = ss.order >= 0
    login = (p.has_account[ss.person] & (ss.kind != 2) & ((rng.random(n) < 0.3) | buy | ss.failed))
    # an account holder's identifying visit (a sign-in, or a visit within the 90 days a login
    # lasts) is signed in: its identify call is identify(userId, traits), and analytics.js
    # puts the userId on every later call of the visit, as after a login
    signed_in = login | (p.has_account[ss.person] & (ss.kind != 2) & ss.ident)
    checkout = buy | ss.failed | (rng.random(n) < 0.03)
    counts = {
        PAGE: np.ones(n, np.int64), LOGIN: login.astype(np.int64),
        VIEW: rng.poisson(0.7, n) + (buy | ss.failed), CART: ((rng.random(n) < 0.2) | buy | ss.failed).astype(np.int64),
        CHECKOUT: checkout.astype(np.int64),
        # errors: every lost sale's checkout (:data:`.funnel.CHECKOUT_LOST`) had one or two; a few
        # buyers retried after one; a few other abandoned checkouts (price, delivery date) had one
        ERROR: np.where(ss.failed, rng.integers(1, 3, n), checkout & (rng.random(n) < np.where(buy, 0.05, 0.08))).astype(np.int64),
        # newsletter links carry the subscriber token (ESP click tracking), so e-mail visits identify
        # (a failed checkout had asked for the e-mail address before the payment step)
        IDENT: (buy | ss.failed | (ss.kind == 2) | ss.signup | ss.ident | (ss.channel == CH["Email"])).astype(np.int64),
        PURCHASE: buy.astype(np.int64),
        REVIEW: (ss.review >= 0).astype(np.int64), SIGNUP: ss.signup.astype(np.int64),
    }
    sess = np.concatenate([np.repeat(np.arange(n), c) for c in counts.values()])
    kind = np.concatenate([np.full(int(c.sum()), k) for k, c in counts.items()])
    order = np.argsort(sess, kind="stable")
    sess, kind = sess[order], kind[order]
    m = sess.size
    starts = np.r_[0, np.flatnonzero(np.diff(sess)) + 1]
    pos = np.arange(m) - np.repeat(starts, np.diff(np.r_[starts, m]))
    t = ss.t[sess] + pos * 35 + rng.integers(0, 30, m)
    person = ss.person[sess]
    app = ss.kind[sess] == 1
    mid = hex_ids(rng, m)

    # parts every row has come from small pools of finished strings (one take each); parts only
    # some kinds carry are joined on those rows alone and placed with fmt.scatter
    typ = fmt.take(TYPES, np.where(kind == PAGE, app.astype(np.int64), np.where((kind == LOGIN) | (kind == IDENT), 2, 3)))
    alias = rng.random(m)
    ev = np.full(m, len(EVENT_POOL) - 1)
    for k, names in NAMES.items():
        rows = kind == k
        ev[rows] = EVENT_AT[k] + np.minimum((alias[rows] * len(names) * 1.6).astype(np.int64), len(names) - 1)
    event_part = fmt.take(EVENT_POOL, ev)
    name_part = fmt.take(NAME_POOL, np.where(kind == PAGE, ss.page[sess], len(NAME_POOL) - 1))
    has_uid = np.flatnonzero(signed_in[sess] & (kind != PAGE))
    user_part = fmt.scatter(m, [(has_uid, fmt.join(',"userId":"', p.user_id.take(pa.array(person[has_uid])), '"'))])
    cap = rng.random(m) < 0.15
    # the e-mail goes in the identify traits (sign-in, identify) or the purchase's context traits
    er = np.flatnonzero((kind == IDENT) | (kind == LOGIN) | (kind == PURCHASE))
    email = p.email.take(pa.array(person[er]))
    email = fmt.where(cap[er], pa.compute.utf8_capitalize(email), email)
    email_traits = fmt.join(',"traits":{"email":"', email, '"}')
    in_ctx = kind[er] == PURCHASE
    traits = fmt.scatter(m, [(er[~in_ctx], email_traits.filter(pa.array(~in_ctx)))])
    ctx_traits = fmt.scatter(m, [(er[in_ctx], email_traits.filter(pa.array(in_ctx)))])

    prod = rng.integers(0, len(PRODUCTS), m)
    rating = rng.choice([2, 3, 4, 5, 5], m)
    error = rng.integers(0, 3, m)
    vc = np.flatnonzero((kind == VIEW) | (kind == CART))
    pv = prod[vc]
    buys, revs, errs = np.flatnonzero(kind == PURCHASE), np.flatnonzero(kind == REVIEW), np.flatnonzero(kind == ERROR)
    oid_b = order_id.take(pa.array(ss.order[sess[buys]]))
    oid_r = order_id.take(pa.array(ss.review[sess[revs]]))
    props = fmt.scatter(m, [
        (vc, fmt.join('"product_id":"', fmt.take(SKUS, pv), '","category":"', fmt.take(CATEGORIES, pv), '","price":', fmt.money(PRICES[pv]))),
        (buys, fmt.join('"order_id":"', oid_b, '","revenue":', fmt.money(revenue[ss.order[sess[buys]]]), ',"currency":"EUR"')),
        (revs, fmt.join('"order_id":"', oid_r, '","rating":', fmt.num(rating[revs]))),
        (errs, fmt.join('"error":"', fmt.take(ERRORS, error[errs]), '"')),
    ])

    first = np.flatnonzero(kind == PAGE)
    views = np.flatnonzero(kind == VIEW)
    url = fmt.scatter(m, [(first, ss.url.take(pa.array(sess[first]))),
                          (views, fmt.join(SITE + "/p/", fmt.take(SKUS, prod[views]))),
                          (np.flatnonzero((kind != PAGE) & (kind != VIEW)), SITE + "/checkout")])
    ref = fmt.scatter(m, [(first, ss.referrer.take(pa.array(sess[first]))), (np.flatnonzero(kind != PAGE), SITE + "/")])
    camp = ss.campaign.take(pa.array(sess[first]))
    named = pa.compute.utf8_length(camp).to_numpy() > 0
    camp_part = fmt.scatter(m, [(first[named], fmt.join(',"campaign":{"name":"', camp.filter(pa.array(named)), '"}'))])
    ua = network.ua_text(ss.ua[sess])
    on_app = np.flatnonzero(app)
    dev_part = fmt.scatter(m, [(on_app, fmt.join(',"device":{"id":"', ss.device_id.take(pa.array(sess[on_app])), '","type":"ios"}'))])
    ip = network.ip_text(ss.ip[sess])
    # Segment clock skew: a few devices send originalTimestamp/sentAt from a wrong clock
    sk = np.flatnonzero(rng.random(m) < 0.05)
    skew = rng.integers(-600, 600, sk.size)
    ms = rng.integers(0, 1000, m)
    sk_text = fmt.join(',"originalTimestamp":"', fmt.iso_utc(t[sk] + skew, ms[sk]), '","sentAt":"',
                       fmt.iso_utc(t[sk] + skew + 2, ms[sk]), '"')
    sk_part = fmt.scatter(m, [(sk, sk_text)])
    parts = [
        '{"type":"', typ, '"', ',"messageId":"', mid, '","anonymousId":"', ss.device.take(pa.array(sess)), '"',
        user_part, event_part, name_part, ',"properties":{', props, '},"context":{"page":{"url":"', url,
        '","referrer":"', ref, '"},"userAgent":"', ua, '","ip":"', ip, '"', camp_part, dev_part, ctx_traits, "}",
        traits, ',"timestamp":"', fmt.iso_utc(t, ms), '"', sk_part, "}\n",
    ]
    return parts, mid, person, kind
