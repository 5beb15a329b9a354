"""The causal simulation: purchase cycles, channel touches, purchases, after-sales.

Each person starts a purchase cycle on a seasonal date (saldi in January and July, Black
Friday, Christmas). A cycle holds a few touches, each from one channel. Whether the cycle
ends in a purchase, and how soon, depends on the channels that touched the person through
their hidden ``true_effect`` (catalog.CHANNELS): ``logit p = base + propensity + Σ effect``.
Buyers may start a new cycle later (repeat purchases). Everything is vectorised over cycles.

The simulation also knows what attribution tries to estimate: each channel's *incremental*
purchases, the expected purchases of every cycle with all its exposures minus those with that
channel's exposures removed (:class:`ChannelTruth`), computed exactly from the same logits and
delays, with no extra random draws (the generated files do not change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from percorso.generate.catalog import CATEGORY_WEIGHTS, CH, CHANNELS, PRODUCTS, SEASONS, STORES
from percorso.generate.fmt import DAYS, SPAN_S
from percorso.generate.people import Persons

BASE_LOGIT = -1.9
EFFECTS = np.array([c.true_effect for c in CHANNELS])


def season_of_day() -> tuple[np.ndarray, np.ndarray]:
    """Season index and intensity weight for each simulated day."""
    idx = np.zeros(DAYS + 2, dtype=np.int64)
    w = np.ones(DAYS + 2)
    base = date(2024, 1, 1)
    for d in range(DAYS + 2):
        day = date.fromordinal(base.toordinal() + d)
        md = day.strftime("%m-%d")
        for i, (_, start, end, weight) in enumerate(SEASONS):
            if start <= md <= end:
                idx[d], w[d] = i, weight
        if md == "01-01":
            idx[d], w[d] = len(SEASONS) - 1, 0.3
    return idx, w


@dataclass
class Touches:
    person: np.ndarray
    cycle: np.ndarray
    channel: np.ndarray
    t: np.ndarray


@dataclass
class Purchases:
    person: np.ndarray
    t: np.ndarray
    online: np.ndarray
    store: np.ndarray
    category: np.ndarray
    coupon: np.ndarray        # had a flyer touch in the cycle → uses its coupon
    cycle: np.ndarray


@dataclass
class ChannelTruth:
    """Per channel (in ``CHANNELS`` order): what the simulation knows and attribution estimates.

    ``incremental`` is ``Σ_cycles P(purchase observed | all exposures) - P(... | channel's
    exposures removed)``, where *observed* means the purchase falls inside the simulated span
    (the delay shrinks with the lift, so removing a channel also makes late purchases fall
    out). Only the direct effect on the cycle is counted, not the repeat cycles a purchase
    makes possible: attribution credits each purchase to its own journey, so this is the
    quantity a model's credits should track. ``exposed`` counts the cycles the channel touched;
    ``expected`` is the expected number of observed purchases with every exposure.
    """

    exposed: np.ndarray
    incremental: np.ndarray
    expected: float = 0.0


def _observed_p(logit: np.ndarray, lift: np.ndarray, horizon: np.ndarray) -> np.ndarray:
    """P(buy) × P(int(delay) + 600 < horizon), delay ~ Exp(6 days) · e^(-0.45 lift) (as in :func:`_cycle`)."""
    scale = 6 * 86400 * np.exp(-0.45 * lift)
    in_time = np.where(horizon > 600, -np.expm1(-np.maximum(horizon - 600, 0) / scale), 0.0)
    return in_time / (1 + np.exp(-logit))


def _channel_truth(exposed: np.ndarray, logit: np.ndarray, lift: np.ndarray, horizon: np.ndarray) -> ChannelTruth:
    """Exact expected incremental purchases of each channel over these cycles (c × channels, no loop)."""
    drop = exposed * EFFECTS  # what each channel adds to the logit and the lift of each cycle
    full = _observed_p(logit, lift, horizon)[:, None]
    without = _observed_p(logit[:, None] - drop, lift[:, None] - drop, horizon[:, None])
    return ChannelTruth(exposed.sum(axis=0), (full - without).sum(axis=0), float(full.sum()))


def _tod(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds of the day (UTC) weighted to Italian opening and evening hours."""
    hours = rng.choice(24, n, p=_HOUR_P)
    return (hours - 1) % 24 * 3600 + rng.integers(0, 3600, n)


_H = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.3, 1, 2, 3, 4, 5, 5, 4, 4, 4, 5, 6, 6, 6, 6, 7, 7, 5, 3], float)
_HOUR_P = _H / _H.sum()


def simulate(p: Persons, rng: np.random.Generator) -> tuple[Touches, Purchases, np.ndarray, ChannelTruth]:
    """Run every purchase cycle. Returns touches, purchases, loyalty registration times and
    each channel's exposed cycles and incremental purchases."""
    _, weight = season_of_day()
    day_p = weight[:DAYS] / weight[:DAYS].sum()
    n = p.n
    # loyalty members: registered before the window (older members) or during it
    reg = np.where(rng.random(n) < 0.45, -rng.integers(86400, 5 * 365 * 86400, n),
                   rng.integers(0, SPAN_S - 86400, n))
    reg = np.where(p.loyalty, reg, np.iinfo(np.int64).max)

    person = np.arange(n)
    start = np.clip(rng.choice(DAYS, n, p=day_p) - rng.integers(0, 12, n), 0, DAYS - 1) * 86400 + _tod(rng, n)
    t_parts, p_parts = [], []
    truth = ChannelTruth(np.zeros(len(CHANNELS), np.int64), np.zeros(len(CHANNELS)))
    for cycle in range(3):
        if person.size == 0:
            break
        touches, buys, known = _cycle(p, rng, person, start, cycle, reg)
        t_parts.append(touches)
        p_parts.append(buys)
        truth = ChannelTruth(truth.exposed + known.exposed, truth.incremental + known.incremental,
                             truth.expected + known.expected)
        again = rng.random(buys.person.size) < 0.3
        person = buys.person[again]
        start = buys.t[again] + rng.integers(30, 400, person.size) * 86400
        ok = start < SPAN_S - 5 * 86400
        person, start = person[ok], start[ok]
    touches = Touches(*(np.concatenate([getattr(x, f) for x in t_parts]) for f in ("person", "cycle", "channel", "t")))
    purchases = Purchases(*(np.concatenate([getattr(x, f) for x in p_parts])
                            for f in ("person", "t", "online", "store", "category", "coupon", "cycle")))
    return touches, purchases, reg, truth


def _cycle(p: Persons, rng, person, start, cycle, reg) -> tuple[Touches, Purchases, ChannelTruth]:
    c = person.size
    k = np.minimum(1 + rng.poisson(1.3, c), 7)
    cyc = np.repeat(np.arange(c), k)
    share = np.array([ch.share for ch in CHANNELS])
    ch = rng.choice(len(CHANNELS), cyc.size, p=share / share.sum())
    who = person[cyc]
    ch = np.where((ch == CH["Email"]) & ~p.newsletter[who], CH["Organic Search"], ch)
    ch = np.where((ch == CH["Mobile Push Notifications"]) & ~p.app_user[who], CH["Direct"], ch)
    gaps = rng.exponential(3 * 86400, cyc.size).astype(np.int64)
    first = np.r_[0, np.cumsum(k)[:-1]]
    gaps[first] = 0
    cs = np.cumsum(gaps)
    t = start[cyc] + cs - cs[first][cyc]
    inside = t < SPAN_S
    exposed = np.zeros((c, len(CHANNELS)), dtype=bool)
    exposed[cyc[inside], ch[inside]] = True
    last = start + (cs[np.cumsum(k) - 1] - cs[first])
    exposed[:, CH["Loyalty"]] = reg[person] < last
    lift = exposed @ EFFECTS
    logit = BASE_LOGIT + p.propensity[person] + lift + 0.2 * (cycle > 0)
    buy = rng.random(c) < 1 / (1 + np.exp(-logit))
    delay = (rng.exponential(6 * 86400, c) * np.exp(-0.45 * lift)).astype(np.int64) + 600
    tb = last + delay
    buy &= tb < SPAN_S - 3600
    in_store = exposed[:, CH["Store / POS"]] | exposed[:, CH["Events & fairs"]]
    online = rng.random(c) < np.where(in_store, 0.25, 0.58)
    home = p.store[person]
    store = np.where(rng.random(c) < 0.9, home, rng.integers(0, len(STORES), c))
    cats = list(CATEGORY_WEIGHTS)
    category = rng.choice(len(cats), c, p=list(CATEGORY_WEIGHTS.values()))
    coupon = exposed[:, CH["Direct mail / flyer"]]
    touches = Touches(who[inside], np.full(inside.sum(), cycle), ch[inside], t[inside])
    b = np.flatnonzero(buy)
    purchases = Purchases(person[b], tb[b], online[b], store[b], category[b], coupon[b], np.full(b.size, cycle))
    return touches, purchases, _channel_truth(exposed, logit, lift, SPAN_S - 3600 - last)


@dataclass
class Lines:
    """Order lines: ``order`` indexes the purchase, amounts in euro cents."""

    order: np.ndarray
    product: np.ndarray
    qty: np.ndarray
    unit_cents: np.ndarray
    discount_cents: np.ndarray


def basket(pur: Purchases, rng: np.random.Generator, season_idx: np.ndarray) -> Lines:
    """One main product of the cycle's category plus 0–2 add-ons, with seasonal discounts."""
    cats = list(CATEGORY_WEIGHTS)
    prod_cat = np.array([cats.index(x[2]) for x in PRODUCTS])
    price = np.array([x[3] for x in PRODUCTS])
    n = pur.person.size
    extra = rng.choice(3, n, p=[0.55, 0.3, 0.15])
    nlines = 1 + extra
    order = np.repeat(np.arange(n), nlines)
    pos = np.arange(order.size) - np.repeat(np.cumsum(nlines) - nlines, nlines)
    # main line from the cycle's category, add-ons from pillows/sheets/accessories
    by_cat = [np.flatnonzero(prod_cat == i) for i in range(len(cats))]
    main_cat = pur.category[order]
    addon_cat = rng.choice([1, 3, 4], order.size)
    cat = np.where(pos == 0, main_cat, addon_cat)
    pick = rng.random(order.size)
    product = np.empty(order.size, dtype=np.int64)
    for i, members in enumerate(by_cat):
        m = cat == i
        product[m] = members[(pick[m] * members.size).astype(np.int64)]
    qty = np.where((pos > 0) & (rng.random(order.size) < 0.3), 2, 1)
    day = np.clip(pur.t[order] // 86400, 0, DAYS + 1)
    season = season_idx[day]
    rate = np.select([season == 0, season == 3, season == 5, season == 6], [0.3, 0.25, 0.35, 0.1], 0.0)
    rate = np.where(rng.random(order.size) < 0.8, rate, 0.0) + np.where(pur.coupon[order], 0.1, 0.0)
    unit = price[product]
    discount = (unit * qty * rate).astype(np.int64) // 100 * 100
    return Lines(order, product, qty, unit, discount)
