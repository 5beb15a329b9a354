"""Opening hours of the demo retailer in local time (Europe/Rome), and waiting for them.

Why: people visit a store, call the call center or pay at a till only when these are open.
The funnel's clock (:mod:`.funnel`) runs in continuous time (exponential gaps between
contacts), so a store visit drawn at 03:02 on a Sunday must wait for the store to open. Each
schedule is a *traffic intensity* per quarter hour of local time (zero when closed, lower at
lunch, higher on Saturday afternoon); a visit drawn at ``t`` happens at the first arrival
after ``t`` of a Poisson process with that intensity, i.e. at ``O⁻¹(O(t) + E)`` where ``O``
is the cumulative intensity and ``E`` an exponential wait measured in "typical open days".
The result is inside opening hours by construction, later than ``t`` (causality kept), and
its time of day follows the schedule's profile. Everything is vectorised over quarter hours
of the simulated span (tens of thousands of slots) and over the visits.

Schedules (local time; closed on 1 January, Easter Sunday and Monday, 1 May, 15 August,
25 and 26 December):

- ``STORE``: Monday–Saturday 9:30–19:30 with a lunch dip; Sundays in December and the first
  Sunday of the winter and summer sales; stores in :data:`catalog.SUNDAY_STORES` also open
  every Sunday 10:00–19:00 (``STORE_SUNDAY``).
- ``CALL_CENTER``: Monday–Friday 9:00–19:00, Saturday 9:00–13:00.
- ``FAIR``: every day 10:00–19:00 (busier at weekends); visits to the stand.
- ``POST``: Monday–Saturday 8:30–14:00; flyers arrive with the post.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from percorso.generate.fmt import DAYS, T0, _utc_offset_hours

STORE, STORE_SUNDAY, CALL_CENTER, FAIR, POST = range(5)
SLOT = 900
#: Slots after the window, so that a visit near its end still finds an opening (then falls outside).
_PAD_DAYS = 10
_N = (DAYS + _PAD_DAYS) * 86400 // SLOT


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month = (h + m - 7 * n + 114) // 31
    return date(year, month, (h + m - 7 * n + 114) % 31 + 1)


def _day_flags() -> tuple[np.ndarray, np.ndarray]:
    """Per local day of the span (day 0 = 2024-01-01): closed holiday, special Sunday opening."""
    n = DAYS + _PAD_DAYS + 1
    holiday, special = np.zeros(n, bool), np.zeros(n, bool)
    start = T0.date()
    for d in range(n):
        day = start + timedelta(days=d)
        easter = _easter(day.year)
        holiday[d] = (day.month, day.day) in {(1, 1), (5, 1), (8, 15), (12, 25), (12, 26)} or \
            day in (easter, easter + timedelta(days=1))
        first_sales_sunday = day.month in (1, 7) and day.weekday() == 6 and day.day <= 7
        special[d] = day.weekday() == 6 and (day.month == 12 or first_sales_sunday)
    return holiday, special


#: Intensity per local hour 0..23 (the half hour before opening / after closing is handled by
#: the minute bounds below).
_WEEKDAY = np.array([0] * 9 + [0.55, 0.65, 0.75, 0.55, 0.35, 0.4, 0.7, 0.9, 1.0, 1.1, 0.8] + [0] * 4)
_SATURDAY = np.array([0] * 9 + [0.8, 1.2, 1.4, 1.1, 0.6, 0.7, 1.3, 1.6, 1.7, 1.6, 1.1] + [0] * 4)
_SUNDAY = np.array([0] * 10 + [0.8, 1.1, 1.0, 0.6, 0.7, 1.2, 1.4, 1.3, 1.0] + [0] * 5)
_CALLS = np.array([0] * 9 + [1.2, 1.3, 1.2, 1.0, 0.6, 0.8, 1.0, 1.0, 0.9, 0.7] + [0] * 5)
_FAIR = np.array([0] * 10 + [0.8, 1.1, 1.2, 0.9, 1.0, 1.2, 1.2, 1.0, 0.7] + [0] * 5)
_POST = np.array([0] * 8 + [1.0, 1.0, 1.0, 1.0, 1.0, 1.0] + [0] * 10)


@lru_cache(maxsize=8)
def intensity(schedule: int) -> np.ndarray:
    """Traffic intensity of every UTC quarter hour of the span (0 when closed)."""
    start = np.arange(_N, dtype=np.int64) * SLOT
    off = _utc_offset_hours()[np.minimum(start // 3600, _utc_offset_hours().size - 1)]
    loc = start + off * 3600
    day = loc // 86400
    weekday = day % 7  # 2024-01-01 was a Monday
    minute = loc % 86400 // 60
    hour = minute // 60
    holiday, special = _day_flags()
    sunday = weekday == 6
    if schedule in (STORE, STORE_SUNDAY):
        open_ = (minute >= 9 * 60 + 30) & (minute < 19 * 60 + 30) & ~sunday
        w = np.where(weekday == 5, _SATURDAY[hour], _WEEKDAY[hour])
        sunday_open = sunday & (special[day] | (schedule == STORE_SUNDAY)) & (minute >= 600) & (minute < 1140)
        w = np.where(sunday_open, _SUNDAY[hour], np.where(open_, w, 0.0))
    elif schedule == CALL_CENTER:
        open_ = (minute >= 540) & (((weekday < 5) & (minute < 1140)) | ((weekday == 5) & (minute < 780)))
        w = np.where(open_, _CALLS[hour], 0.0)
    elif schedule == POST:
        w = np.where((minute >= 510) & (minute < 840) & ~sunday, _POST[hour], 0.0)
    else:
        w = np.where((minute >= 600) & (minute < 1140), _FAIR[hour] * np.where(weekday >= 5, 1.5, 1.0), 0.0)
    w = np.where(holiday[day], 0.0, w)
    return w / (w.sum() / (DAYS + _PAD_DAYS))  # one typical open day sums to about 1


@lru_cache(maxsize=8)
def _cumulative(schedule: int) -> np.ndarray:
    return np.r_[0.0, np.cumsum(intensity(schedule))]


def next_open(t: np.ndarray, wait_days: np.ndarray, schedule: np.ndarray | int) -> np.ndarray:
    """When a visit wanted at ``t`` (UTC seconds since T0) happens: the first arrival after ``t``
    of the schedule's Poisson process, ``wait_days`` (≥ 0, in typical open days) of intensity on.

    ``schedule`` is one schedule for all or one per visit. A visit that would happen after the
    padded span gets a time past the window (callers drop or clip it).
    """
    t = np.asarray(t, np.int64)
    wait = np.asarray(wait_days, np.float64)
    sched = np.broadcast_to(np.asarray(schedule, np.int64), t.shape)
    out = np.empty(t.shape, np.int64)
    for s in np.unique(sched):
        m = sched == s
        cum, w = _cumulative(int(s)), intensity(int(s))
        tt = np.clip(t[m], 0, _N * SLOT - 1)
        k = tt // SLOT
        here = cum[k] + w[k] * (tt % SLOT) / SLOT
        target = np.minimum(here + np.broadcast_to(wait, t.shape)[m], cum[-1] * (1 - 1e-12))
        j = np.searchsorted(cum, target, side="right") - 1  # slot whose span holds the target
        j = np.clip(j, 0, _N - 1)
        frac = np.where(w[j] > 0, (target - cum[j]) / np.where(w[j] > 0, w[j], 1.0), 0.0)
        out[m] = np.maximum(j * SLOT + (np.clip(frac, 0, 1) * (SLOT - 1)).astype(np.int64), t[m])
    return out


def is_open(t: np.ndarray, schedule: np.ndarray | int) -> np.ndarray:
    """Whether each UTC time falls in an open quarter hour of its schedule."""
    t = np.asarray(t, np.int64)
    sched = np.broadcast_to(np.asarray(schedule, np.int64), t.shape)
    k = np.clip(t // SLOT, 0, _N - 1)
    out = np.zeros(t.shape, bool)
    for s in np.unique(sched):
        m = sched == s
        out[m] = intensity(int(s))[k[m]] > 0
    return out


def store_schedule(store: np.ndarray) -> np.ndarray:
    """Schedule of each store index (:data:`STORE_SUNDAY` for the stores open every Sunday)."""
    from percorso.generate.catalog import STORES, SUNDAY_STORES

    sunday = np.array([s[0] in SUNDAY_STORES for s in STORES])
    return np.where(sunday[np.asarray(store, np.int64)], STORE_SUNDAY, STORE)


#: Newsletter send slots in local time: (weekday, minute of the day) — Tuesday 10:00, Friday 17:30.
SENDS: tuple[tuple[int, int], ...] = ((1, 600), (4, 1050))


@lru_cache(maxsize=1)
def send_times() -> np.ndarray:
    """UTC seconds of every newsletter send slot of the window, sorted (the e-mail platform
    sends each campaign at one of these moments, in a burst of a few minutes)."""
    day = np.arange(DAYS)
    out = []
    for weekday, minute in SENDS:
        loc = day[day % 7 == weekday] * 86400 + minute * 60
        # local → UTC: the offset of that hour (sends are on weekdays, never at a DST change)
        off = _utc_offset_hours()[np.maximum(loc - 3600, 0) // 3600]
        out.append(loc - off * 3600)
    return np.sort(np.concatenate(out))
