"""The demo's causal journey process: contacts move people through a purchase funnel, step by step.

Why this exists: attribution claims to recover which contacts *caused* purchases. A demo whose
purchase depends only on the set of channels present gives it nothing to recover beyond reach
(ADR 0005). Here we simulate the mechanism attribution is meant to recover, the way journeys
work and the reason last click is criticised (ADR 0006):

- A purchase cycle starts when a need arises (a seasonal date). The person is in **awareness**
  (repeat buyers start in **consideration**: they know the shop). At each step one contact
  happens; its channel is drawn from a mix that depends on the stage: channels the retailer
  pushes (display, social, flyers, e-mail, ...) come at any stage, channels the person seeks
  out (``pull``: search, comparison sites, the store, a call, typing the address) come far
  more often once they are considering.
- The contact may move the person one stage on: awareness → consideration with probability
  ``σ(BASE_LOGIT[0] + propensity + effect)`` and consideration → **decision** with
  ``σ(BASE_LOGIT[1] + propensity + season + effect)`` (both can happen on one contact), where
  ``effect`` is the channel's hidden ``true_effect`` (catalog.CHANNELS, the single source of
  truth) weighted by how well its funnel role fits the stage (:data:`FIT`), plus Loyalty's
  when the person is a member. Without a contact that works, people still move, slowly
  (word of mouth, passing by a store): purchases that would have happened anyway.
- After a step without a decision the person may leave (``DROP``, higher in awareness): most
  journeys end with no purchase. The next step comes after an exponential gap, shorter once
  considering. A journey has at most ``STEPS`` contacts and ends at the edge of the window.
- A decision becomes a purchase: in store (the usual choice after a store or fair visit:
  research in store, buy there or online, and the reverse) or online, either in the same
  visit as the deciding web contact or in a later **navigational** visit (``NAV``: Direct,
  a brand search, a brand-term ad click) that is caused by the decision and causes nothing.
  An online purchase may fail at checkout for good (``CHECKOUT_LOST``): a lost sale.
- Store visits, calls, fair visits and flyers (delivered by the post), and purchases in store,
  happen when the place is open (:mod:`.hours`): the contact waits for the next opening, so
  the steps after it come later.

Everything is vectorised over cycles (the only loops are over the ``STEPS`` steps and, for
the ground truth, over channels). Every random number of a cycle is drawn up front
(:class:`Draws`) so a counterfactual can replay it (:func:`channel_truth`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from percorso.generate import hours
from percorso.generate.catalog import CH, CHANNELS, WEB_CHANNELS
from percorso.generate.fmt import SPAN_S

DAY = 86400
#: Most contacts in one purchase cycle.
STEPS = 8
#: Log-odds, per step, of moving on with no effective contact: awareness → consideration,
#: consideration → decision.
BASE_LOGIT = np.array([-1.8, -1.6])
#: Chance that the journey ends after a step without a decision, in awareness / consideration.
DROP = np.array([0.35, 0.20])
#: Mean days to the next contact, in awareness / consideration.
GAP_DAYS = np.array([5.0, 3.0])
#: Weight of ``pull`` channels in the contact mix, in awareness / consideration (push = 1).
PULL = np.array([0.4, 1.6])
#: Share of a channel's ``true_effect`` acting on (awareness → consideration, consideration →
#: decision), by funnel role: an ad that makes a brand known does little to close a sale, a
#: store consultation closes sales and also makes the brand known.
FIT: dict[str, tuple[float, float]] = {"upper": (1.0, 0.25), "mid": (0.5, 1.0), "navigational": (1.0, 1.0),
                                       "membership": (1.0, 1.0)}
#: Decision log-odds per unit of log seasonal intensity (saldi, Black Friday, Christmas push decisions).
SEASON_LOGIT = 0.5
#: Channel of the navigational visit in which a decided person buys online (a later visit).
NAV: dict[str, float] = {"Direct": 0.6, "Organic Search": 0.2, "Paid Search": 0.2}
#: Chance of buying online: after a store or fair visit in the cycle / otherwise.
ONLINE = (0.25, 0.58)
#: Chance that an online purchase happens in the deciding web visit itself (click and buy).
SAME_VISIT = 0.3
#: Mean days from a decision to the purchase (navigational visit or store), when not in the same visit;
#: for a store purchase, days of store opening (:mod:`.hours`).
BUY_DAYS = 1.5
#: Contacts that need a place to be open: channel → (schedule, mean wait in open days). A store
#: visit drawn at night happens when the person's store opens (:func:`.hours.next_open`);
#: ``hours.STORE`` stands for the person's home store's schedule.
OPENING: dict[str, tuple[int, float]] = {"Store / POS": (hours.STORE, 0.5), "Call center": (hours.CALL_CENTER, 0.3),
                                         "Events & fairs": (hours.FAIR, 0.3), "Direct mail / flyer": (hours.POST, 0.5)}
#: Chance that an online purchase fails at checkout (payment declined, address rejected, a
#: timeout) and the person gives up: a sale the errors cost (the cycle ends without a purchase).
CHECKOUT_LOST = 0.07

N_CH = len(CHANNELS)
LOYALTY = CH["Loyalty"]
NAV_CODES = np.array([CH[c] for c in NAV])
NAV_CDF = np.cumsum(list(NAV.values()))
_IS_WEB = np.isin(np.arange(N_CH), [CH[c] for c in WEB_CHANNELS if c != "Mobile Push Notifications"])
_STORE_LIKE = np.array([CH["Store / POS"], CH["Events & fairs"]])
_SCHED = np.full(N_CH, -1)
_WAIT = np.zeros(N_CH)
for _name, (_sched, _wait) in OPENING.items():
    _SCHED[CH[_name]], _WAIT[CH[_name]] = _sched, _wait


def effect_matrix() -> np.ndarray:
    """``(channels, 2)`` log-odds a contact adds at (awareness, consideration)."""
    return np.array([[c.true_effect * f for f in FIT[c.funnel]] for c in CHANNELS])


def mix_cdf() -> np.ndarray:
    """Cumulative contact mix ``(4, 2, channels)``: person class × stage × channel.

    Class = ``newsletter + 2 * app_user``: e-mail reaches subscribers only, push notifications
    app users only (their weight goes to the other channels, in proportion).
    """
    share = np.array([c.share for c in CHANNELS])
    pull = np.array([c.pull for c in CHANNELS])
    w = np.empty((4, 2, N_CH))
    for cls in range(4):
        avail = np.ones(N_CH)
        avail[CH["Email"]] = cls & 1
        avail[CH["Mobile Push Notifications"]] = (cls >> 1) & 1
        for s in range(2):
            w[cls, s] = share * np.where(pull, PULL[s], 1.0) * avail
    cdf = np.cumsum(w, axis=2)
    cdf /= cdf[:, :, -1:]
    cdf[:, :, -1] = 1.0
    return cdf


@dataclass
class Cycles:
    """The cycles of one round: who, when they start, and what the process reads about them."""

    person: np.ndarray
    start: np.ndarray       # seconds, first contact
    stage0: np.ndarray      # 0 awareness, 1 consideration (repeat buyers)
    cls: np.ndarray         # newsletter + 2 * app_user
    propensity: np.ndarray
    reg: np.ndarray         # loyalty registration time (int64 max: never)
    season: np.ndarray      # decision log-odds per day (shared, not per cycle)
    schedule: np.ndarray | None = None  # opening hours of the person's store (hours.STORE if None)

    def take(self, rows: np.ndarray) -> Cycles:
        return Cycles(**{f.name: (v if f.name == "season" or v is None else v[rows])
                         for f in fields(self) for v in [getattr(self, f.name)]})

    def store_schedule(self) -> np.ndarray:
        return np.full(self.person.size, hours.STORE) if self.schedule is None else self.schedule


@dataclass
class Draws:
    """Every random number of a set of cycles, drawn once so a counterfactual replays them.

    ``step``: (5, cycles, STEPS) uniforms for the channel, awareness, decision, leaving and the
    wait for opening hours; ``gap``: (cycles, STEPS) unit exponentials; ``cycle``: (5, cycles)
    uniforms for buying online, buying in the deciding visit, the navigational channel, the
    minutes to pay and a failed checkout;
    ``delay``: unit exponentials for the days from decision to purchase.
    """

    step: np.ndarray
    gap: np.ndarray
    cycle: np.ndarray
    delay: np.ndarray

    def take(self, rows: np.ndarray) -> Draws:
        return Draws(self.step[:, rows], self.gap[rows], self.cycle[:, rows], self.delay[rows])


def draw(rng: np.random.Generator, n: int) -> Draws:
    """The random numbers of ``n`` cycles (float32: ~170 bytes per cycle)."""
    return Draws(rng.random((5, n, STEPS), dtype=np.float32), rng.standard_exponential((n, STEPS), dtype=np.float32),
                 rng.random((5, n), dtype=np.float32), rng.standard_exponential(n, dtype=np.float32))


@dataclass
class Walk:
    """Where each cycle went: ``channel`` (cycles, STEPS; -1 = no contact), the contact times,
    the step of the decision (-1: none), whether a Loyalty membership acted at some step and the
    opening hours of the person's store."""

    channel: np.ndarray
    t: np.ndarray
    decided: np.ndarray
    member: np.ndarray
    schedule: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def walk(c: Cycles, d: Draws, removed: int = -1) -> Walk:
    """Run the funnel for every cycle; ``removed`` is a channel whose contacts have no effect.

    A removed channel's contacts still take their step (the person lives that time) but move
    nothing, so everything downstream of them (stage, mix of later contacts, gaps, leaving)
    can differ from the factual walk. With the same :class:`Draws` a cycle that the channel
    never reached walks exactly as before.
    """
    n = c.person.size
    eff = effect_matrix()
    if removed >= 0:
        eff[removed] = 0.0
    loyalty = eff[LOYALTY]
    cdf = mix_cdf()
    stage = c.stage0.astype(np.int64).copy()
    t = c.start.astype(np.int64).copy()
    alive = t < SPAN_S
    channel = np.full((n, STEPS), -1, np.int8)
    times = np.zeros((n, STEPS), np.int64)
    decided = np.full(n, -1, np.int64)
    member = np.zeros(n, bool)
    u_ch, u_aware, u_decide, u_stay, u_open = d.step
    sched = c.store_schedule()
    for j in range(STEPS):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        ch = (u_ch[idx, j, None] > cdf[c.cls[idx], stage[idx]]).sum(axis=1)
        tj = _when_open(ch, t[idx], sched[idx], u_open[idx, j])
        late = tj >= SPAN_S  # the store would open after the window: no contact
        alive[idx[late]] = False
        idx, ch, tj = idx[~late], ch[~late], tj[~late]
        s = stage[idx]
        channel[idx, j], times[idx, j] = ch, tj
        mem = c.reg[idx] < tj
        member[idx] |= mem
        base = c.propensity[idx, None] + np.where(mem, 1.0, 0.0)[:, None] * loyalty[None, :]
        aware = (s == 0) & (u_aware[idx, j] < _sigmoid(BASE_LOGIT[0] + base[:, 0] + eff[ch, 0]))
        s = np.where(aware, 1, s)
        day = np.clip(tj // DAY, 0, c.season.size - 1)
        dec = (s == 1) & (u_decide[idx, j] < _sigmoid(BASE_LOGIT[1] + base[:, 1] + c.season[day] + eff[ch, 1]))
        decided[idx[dec]] = j
        stage[idx] = s
        stay = ~dec & (u_stay[idx, j] >= DROP[s])
        t[idx] = tj + (d.gap[idx, j] * GAP_DAYS[s] * DAY).astype(np.int64)
        alive[idx] = stay & (t[idx] < SPAN_S)
    return Walk(channel, times, decided, member, sched)


def _when_open(ch: np.ndarray, t: np.ndarray, store: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Contact times, those of channels with opening hours (:data:`OPENING`) moved to the next
    arrival in them: an exponential wait of ``_WAIT`` open days from the uniform ``u``."""
    r = np.flatnonzero(_SCHED[ch] >= 0)
    if r.size == 0:
        return t
    out = t.copy()
    sched = np.where(_SCHED[ch[r]] == hours.STORE, store[r], _SCHED[ch[r]])
    out[r] = hours.next_open(t[r], -np.log1p(-u[r].astype(np.float64)) * _WAIT[ch[r]], sched)
    return out


@dataclass
class Outcome:
    """What each cycle's decision became: ``bought`` (purchase inside the window), its time,
    online or in store, bought in the deciding visit, the time of the visit in which it was
    bought online (the deciding one or a navigational one), and that visit's channel.
    ``lost``: an online purchase given up after a checkout error (its visit is real, with a
    checkout and an error; ``bought`` is false)."""

    bought: np.ndarray
    t: np.ndarray
    online: np.ndarray
    same_visit: np.ndarray
    visit_t: np.ndarray
    visit_channel: np.ndarray
    lost: np.ndarray


def outcome(w: Walk, d: Draws) -> Outcome:
    """Turn decisions into purchases (same rule for the factual and every counterfactual walk)."""
    n = w.decided.size
    decided = w.decided >= 0
    step = np.maximum(w.decided, 0)
    rows = np.arange(n)
    t_dec = w.t[rows, step]
    ch_dec = w.channel[rows, step].astype(np.int64)
    store_seen = np.isin(w.channel, _STORE_LIKE).any(axis=1)
    u_online, u_same, u_nav, u_min, u_fail = d.cycle
    online = u_online < np.where(store_seen, ONLINE[0], ONLINE[1])
    same = online & _IS_WEB[np.maximum(ch_dec, 0)] & (u_same < SAME_VISIT)
    visit_t = t_dec + np.where(same, 0, 600 + (d.delay * BUY_DAYS * DAY).astype(np.int64))
    t_buy = visit_t + 120 + (u_min * 780).astype(np.int64)
    # in store: the first moment the store is open after the decision (a wait in open days)
    st = np.flatnonzero(decided & ~online)
    if st.size:
        t_buy[st] = hours.next_open(t_dec[st] + 600, d.delay[st].astype(np.float64) * BUY_DAYS, w.schedule[st])
        visit_t[st] = t_buy[st]
    in_window = decided & (t_buy < SPAN_S - 3600)
    lost = in_window & online & (u_fail < CHECKOUT_LOST)
    visit_channel = np.where(same, ch_dec, NAV_CODES[np.minimum(np.searchsorted(NAV_CDF, u_nav * NAV_CDF[-1]),
                                                                 NAV_CODES.size - 1)])
    return Outcome(in_window & ~lost, t_buy, online, same, visit_t, np.where(online, visit_channel, -1), lost)


def exposure(w: Walk) -> np.ndarray:
    """``(cycles, channels)``: which channels reached each cycle before its decision (Loyalty:
    a membership that acted at some step)."""
    n = w.decided.size
    hit = np.zeros(n * N_CH, bool)
    r, j = np.nonzero(w.channel >= 0)
    hit[r * N_CH + w.channel[r, j]] = True
    hit = hit.reshape(n, N_CH)
    hit[:, LOYALTY] = w.member
    return hit


@dataclass
class ChannelTruth:
    """Per channel (in ``CHANNELS`` order): what the simulation knows and attribution estimates.

    ``incremental``: purchases with every contact minus purchases when the channel's contacts
    move nothing, *including* everything they set off downstream (later stages, later
    contacts, their timing), from a paired re-run of the same cycles with the same random
    numbers (common random numbers). Only the cycle's own purchase is counted, not the repeat
    cycles a purchase makes possible: attribution credits each purchase to its own journey.
    ``se``: its Monte Carlo standard error as an estimate of the expected difference, from the
    per-cycle differences (conservative: it also counts the differences between cycles).
    ``exposed`` counts the cycles the channel reached, ``purchases`` the factual purchases.
    """

    exposed: np.ndarray
    incremental: np.ndarray
    se: np.ndarray
    purchases: int = 0
    cycles: int = 0

    def __add__(self, other: ChannelTruth) -> ChannelTruth:
        return ChannelTruth(self.exposed + other.exposed, self.incremental + other.incremental,
                            np.hypot(self.se, other.se), self.purchases + other.purchases, self.cycles + other.cycles)


def channel_truth(c: Cycles, d: Draws, w: Walk, out: Outcome) -> ChannelTruth:
    """Paired counterfactual per channel: re-walk the cycles it reached with its effect removed.

    Cycles the channel did not reach walk identically without it (same draws, same states), so
    their difference is exactly 0 and only the reached cycles are re-run: one vectorised
    :func:`walk` per channel over its reached cycles.
    """
    n = c.person.size
    hit = exposure(w)
    inc = np.zeros(N_CH)
    ssq = np.zeros(N_CH)
    for ch in range(N_CH):
        rows = np.flatnonzero(hit[:, ch])
        if rows.size == 0:
            continue
        dr = d.take(rows)
        again = outcome(walk(c.take(rows), dr, removed=ch), dr)
        diff = out.bought[rows].astype(np.int64) - again.bought
        inc[ch], ssq[ch] = diff.sum(), (diff * diff).sum()
    var = np.maximum(ssq - inc * inc / max(n, 1), 0.0)
    return ChannelTruth(hit.sum(axis=0), inc, np.sqrt(var), int(out.bought.sum()), n)
