"""Purchase cycles of the demo population: who is contacted when, who buys, and baskets.

Each person starts a purchase cycle on a seasonal date (saldi in January and July, Black
Friday, Christmas). The cycle is a sequential journey through a funnel (:mod:`.funnel`):
each contact's channel changes the person's stage, and the stage decides which contacts
come next, how soon, whether the person leaves and whether they decide to buy; the decision
becomes a purchase online (in the deciding visit or a later navigational one) or in store.
Buyers may start a new cycle later (repeat purchases), already considering the shop. The
rounds of cycles are vectorised; the loops are over rounds (3), steps and channels only.

The simulation also knows what attribution tries to estimate: each channel's *incremental*
purchases (:class:`~percorso.generate.funnel.ChannelTruth`), from a paired re-run of every
cycle the channel reached with the channel's effect removed and the same random numbers, so
the contacts and steps it set off downstream are removed with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from percorso.generate import funnel, hours
from percorso.generate.catalog import CATEGORY_WEIGHTS, CH, CHANNELS, PRODUCTS, SEASONS, STORES
from percorso.generate.fmt import DAYS, SPAN_S
from percorso.generate.funnel import ChannelTruth
from percorso.generate.people import Persons

#: Chance that a buyer starts another purchase cycle, and the days until it starts.
REPEAT = 0.3
REPEAT_DAYS = (30, 400)
ROUNDS = 3


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
    """Contacts in time order within each cycle. ``nav``: the navigational visit a decided
    person buys in; ``purchase``: index of the online purchase made in this contact's visit
    (-1: none); ``failed``: the visit's checkout failed with an error and the sale was lost."""

    person: np.ndarray
    cycle: np.ndarray
    channel: np.ndarray
    t: np.ndarray
    nav: np.ndarray
    purchase: np.ndarray
    failed: np.ndarray


_TOUCH_FIELDS = ("person", "cycle", "channel", "t", "nav", "purchase", "failed")


@dataclass
class Purchases:
    person: np.ndarray
    t: np.ndarray
    online: np.ndarray
    store: np.ndarray
    category: np.ndarray
    coupon: np.ndarray        # had a flyer touch in the cycle → uses its coupon
    cycle: np.ndarray


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
    season = funnel.SEASON_LOGIT * np.log(weight)
    n = p.n
    # loyalty members: registered before the window (older members) or during it
    reg = np.where(rng.random(n) < 0.45, -rng.integers(86400, 5 * 365 * 86400, n),
                   rng.integers(0, SPAN_S - 86400, n))
    reg = np.where(p.loyalty, reg, np.iinfo(np.int64).max)
    cls = p.newsletter.astype(np.int64) + 2 * p.app_user

    person = np.arange(n)
    start = np.clip(rng.choice(DAYS, n, p=day_p) - rng.integers(0, 12, n), 0, DAYS - 1) * 86400 + _tod(rng, n)
    t_parts, p_parts = [], []
    truth = ChannelTruth(np.zeros(len(CHANNELS), np.int64), np.zeros(len(CHANNELS)), np.zeros(len(CHANNELS)))
    for cycle in range(ROUNDS):
        if person.size == 0:
            break
        cyc = funnel.Cycles(person, start, np.full(person.size, min(cycle, 1)), cls[person], p.propensity[person],
                            reg[person], season, hours.store_schedule(p.store[person]))
        touches, buys, known = _round(p, rng, cyc, cycle)
        t_parts.append(touches)
        p_parts.append(buys)
        truth = truth + known
        again = rng.random(buys.person.size) < REPEAT
        person = buys.person[again]
        start = buys.t[again] + rng.integers(*REPEAT_DAYS, person.size) * 86400
        ok = start < SPAN_S - 5 * 86400
        person, start = person[ok], start[ok]
    offsets = np.cumsum([0] + [b.person.size for b in p_parts])
    for touches, off in zip(t_parts, offsets):
        touches.purchase = np.where(touches.purchase >= 0, touches.purchase + off, -1)
    touches = Touches(*(np.concatenate([getattr(x, f) for x in t_parts])
                        for f in _TOUCH_FIELDS))
    purchases = Purchases(*(np.concatenate([getattr(x, f) for x in p_parts])
                            for f in ("person", "t", "online", "store", "category", "coupon", "cycle")))
    return touches, purchases, reg, truth


def _round(p: Persons, rng, cyc: funnel.Cycles, cycle: int) -> tuple[Touches, Purchases, ChannelTruth]:
    """One round of cycles: walk the funnel, turn decisions into purchases, and the truth."""
    c = cyc.person.size
    draws = funnel.draw(rng, c)
    w = funnel.walk(cyc, draws)
    out = funnel.outcome(w, draws)
    truth = funnel.channel_truth(cyc, draws, w, out)
    # contacts of the walk, then the navigational visits of online buyers who did not buy in
    # the deciding visit; the purchase's visit is the deciding contact or the navigational one
    # (a checkout that failed for good happened in such a visit too, with no purchase)
    row, step = np.nonzero(w.channel >= 0)
    b = np.flatnonzero(out.bought)
    visit = np.flatnonzero(out.bought | out.lost)
    nav_rows = visit[out.online[visit] & ~out.same_visit[visit]]
    same_rows = visit[out.online[visit] & out.same_visit[visit]]
    buy_id = np.full(c, -1)
    buy_id[b] = np.arange(b.size)
    purchase = np.full(row.size, -1)
    at_decision = (step == w.decided[row]) & np.isin(row, same_rows)
    purchase[at_decision] = buy_id[row[at_decision]]
    t_row = np.r_[row, nav_rows]
    failed = np.r_[at_decision & out.lost[row], out.lost[nav_rows]]
    touches = Touches(cyc.person[t_row], np.full(t_row.size, cycle),
                      np.r_[w.channel[row, step].astype(np.int64), out.visit_channel[nav_rows]],
                      np.r_[w.t[row, step], out.visit_t[nav_rows]],
                      np.r_[np.zeros(row.size, bool), np.ones(nav_rows.size, bool)],
                      np.r_[purchase, buy_id[nav_rows]], failed)
    o = np.lexsort((touches.t, t_row))
    touches = Touches(*(getattr(touches, f)[o] for f in _TOUCH_FIELDS))
    hit = funnel.exposure(w)
    hit[nav_rows, out.visit_channel[nav_rows]] = True  # exposed = what the data shows, visits to buy too
    truth.exposed = hit.sum(axis=0)
    home = p.store[cyc.person[b]]
    other = rng.integers(0, len(STORES), b.size)
    # now and then another store than the home one, if it is open then (e.g. not on a Sunday)
    away = (rng.random(b.size) >= 0.9) & hours.is_open(out.t[b], hours.store_schedule(other))
    store = np.where(away, other, home)
    cats = list(CATEGORY_WEIGHTS)
    category = rng.choice(len(cats), b.size, p=list(CATEGORY_WEIGHTS.values()))
    coupon = hit[b, CH["Direct mail / flyer"]]
    purchases = Purchases(cyc.person[b], out.t[b], out.online[b], store, category, coupon, np.full(b.size, cycle))
    return touches, purchases, truth


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
