"""Network context of web and app sessions: households, IP addresses, user agents, cookie churn.

Why this is modelled at all: identity's device link (ADR 0008) matches an anonymous cookie
to a known customer by (IP, user agent), so the demo must make that evidence as ambiguous as
real traffic, or the measured precision would be a fiction:

- a *household* (people who share a family e-mail live together; the others are grouped in
  households of 1–4) has one home IP, reassigned by the provider every few months;
- mobile sessions often come through a carrier's CGNAT, a small pool of addresses shared by
  very many people; some sessions come from an office or public Wi-Fi shared by dozens;
- a device keeps its user agent, but browsers update themselves (Chrome, Edge, Firefox and
  Samsung Internet every four weeks, iOS every couple of months) and user agents are
  *reduced* (Chrome no longer names the phone model), so devices of different people often
  show the same string (two iPhones on the same iOS version at home are indistinguishable);
- the analytics cookie of a device changes when people clear cookies (``CLEAR`` of visits
  find it gone), so a device that signed in once also leaves cookies that never sign in;
  account holders stay signed in for 90 days on a device (the login is a server cookie), so
  their new cookies are identified again. Safari's seven-day cap on script-set cookies (ITP)
  is off by default (``ITP``): the shop is assumed to refresh the analytics cookie from its
  server, the usual mitigation; with it on, recall falls far more (docs/identity.md).

Everything is drawn per person, device or session with numpy; strings come from small pools.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa

from percorso.generate import fmt
from percorso.generate.people import Persons, hex_ids

DAY = 86400
UA_TABLET = ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
             "Mobile/15E148 Safari/604.1")
#: Browser families: (name, UA template with {m} model and {v} version, versions, days per update, mobile).
FAMILIES: tuple[tuple[str, str, tuple[str, ...], int, bool], ...] = (
    ("ios_safari", "Mozilla/5.0 (iPhone; CPU iPhone OS {v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/{s} Mobile/15E148 Safari/604.1", ("16_7", "17_0", "17_1", "17_2", "17_3", "17_4", "17_5", "17_6",
                                               "18_0", "18_1", "18_2", "18_3", "18_4", "18_5"), 60, True),
    ("android_chrome", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
     "Mobile Safari/537.36", tuple(str(v) for v in range(112, 144)), 28, True),
    ("samsung", "Mozilla/5.0 (Linux; Android {a}; {m}) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{v}.0 "
     "Chrome/{c}.0.0.0 Mobile Safari/537.36", tuple(str(v) for v in range(21, 29)), 90, True),
    ("win_chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
     "Safari/537.36", tuple(str(v) for v in range(112, 144)), 28, False),
    ("win_edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
     "Safari/537.36 Edg/{v}.0.0.0", tuple(str(v) for v in range(112, 144)), 28, False),
    ("win_firefox", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
     tuple(str(v) for v in range(112, 144)), 28, False),
    ("mac_safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/{s} Safari/605.1.15", ("16_6", "17_0", "17_1", "17_2", "17_3", "17_4", "17_5", "17_6", "18_0",
                                     "18_1", "18_2", "18_3"), 75, False),
    ("app_ios", "DormireBene/{v} (iPhone; iOS {m}; Scale/3.00)", tuple(f"3.{v}.0" for v in range(2, 14)), 45, True),
    ("app_android", "DormireBene/{v} (Android {m}; {a})", tuple(f"3.{v}.0" for v in range(2, 14)), 45, True),
)
SAMSUNG_MODELS = ("SM-S918B", "SM-S911B", "SM-A546B", "SM-A346B", "SM-A145R", "SM-A256B", "SM-S921B", "SM-G991B",
                  "SM-A536B", "SM-A137F", "SM-S928B", "SM-A155F", "SM-M336B", "SM-G781B")
IOS_APP_OS = ("16.7", "17.4", "17.6", "18.1", "18.3")
ANDROID_APP = (("13", "Pixel 7"), ("14", "SM-A546B"), ("14", "SM-S918B"), ("13", "Redmi Note 12"), ("14", "moto g84"))
#: Web device families: the first device of a person is often a computer, the others phones.
P_FIRST = (0.15, 0.22, 0.06, 0.30, 0.13, 0.06, 0.08, 0.0, 0.0)
P_OTHER = (0.30, 0.38, 0.12, 0.10, 0.03, 0.02, 0.05, 0.0, 0.0)
APP_IOS, APP_ANDROID = 7, 8
#: Where a session is: home Wi-Fi, carrier CGNAT, office/public Wi-Fi (mobile, desktop).
WHERE_MOBILE = (0.55, 0.33, 0.12)
WHERE_DESKTOP = (0.80, 0.0, 0.20)
HOME_BLOCKS = np.array([79, 82, 87, 93, 95, 151, 2, 5])
CGNAT_IPS = 150
#: Safari's seven-day cap applies (the shop sets the analytics cookie from script, as analytics.js does)
ITP = False
#: chance that a visit finds the analytics cookie cleared (browser settings, cleaners, private mode)
CLEAR = 0.02


def _models(f: int) -> int:
    return {2: len(SAMSUNG_MODELS), 7: len(IOS_APP_OS), 8: len(ANDROID_APP)}.get(f, 1)


@lru_cache(maxsize=1)
def _pool() -> tuple[pa.Array, np.ndarray]:
    """Every user agent string (family × model × version, then the store tablet's) and each
    family's offset in the pool. Sessions keep an index into it, not the string."""
    out, offsets = [], []
    for f, (_, tpl, versions, _, _) in enumerate(FAMILIES):
        offsets.append(len(out))
        for m in range(_models(f)):
            for i, v in enumerate(versions):
                a = ("13", "14", "15")[m % 3]
                if f == APP_IOS:
                    out.append(tpl.format(v=v, m=IOS_APP_OS[m]))
                elif f == APP_ANDROID:
                    out.append(tpl.format(v=v, m=ANDROID_APP[m][0], a=ANDROID_APP[m][1]))
                else:
                    out.append(tpl.format(v=v, s=v.replace("_", "."), m=SAMSUNG_MODELS[m] if f == 2 else "",
                                          a=a, c=str(120 + i * 2)))
    return fmt.s(out + [UA_TABLET]), np.array(offsets)


def households(p: Persons, rng: np.random.Generator) -> np.ndarray:
    """Household number of every person: consecutive people in households of 1–4 (person
    numbers are random draws, so neighbours are unrelated), and whoever uses a relative's
    e-mail lives with that relative."""
    sizes = rng.choice([1, 2, 3, 4], p.n, p=[0.33, 0.30, 0.20, 0.17])
    hh = np.repeat(np.arange(p.n), sizes)[: p.n]
    fam = np.flatnonzero(p.family_of >= 0)
    hh[fam] = hh[p.family_of[fam]]
    return hh


def devices(p: Persons, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Family, model, first version and update phase of every device slot.

    Slots ``3 * person + k`` are the person's web devices (browsers), ``3 * n + person`` the
    phone the app runs on (same platform as the person's phone browser).
    """
    n = p.n
    k = np.tile(np.arange(3), n)
    fam = np.where(k == 0, rng.choice(len(P_FIRST), 3 * n, p=P_FIRST), rng.choice(len(P_OTHER), 3 * n, p=P_OTHER))
    ios = (fam[1::3] == 0) | ((fam[1::3] != 1) & (fam[1::3] != 2) & (rng.random(n) < 0.35))
    fam = np.r_[fam, np.where(ios, APP_IOS, APP_ANDROID)]
    nmod = np.array([_models(f) for f in range(len(FAMILIES))])
    nver = np.array([len(x[2]) for x in FAMILIES])
    model = (rng.random(fam.size) * nmod[fam]).astype(np.int64)
    # devices run recent versions at the start, a few lag behind (auto-update off)
    base = np.minimum(rng.geometric(0.5, fam.size) - 1, nver[fam] - 1)
    phase = rng.integers(0, 200 * DAY, fam.size)
    return fam, model, base, phase


def tablet_ua() -> int:
    """Pool index of the store tablets' user agent."""
    return len(_pool()[0]) - 1


def ua_text(idx: np.ndarray) -> pa.Array:
    return _pool()[0].take(pa.array(idx))


def user_agents(fam: np.ndarray, model: np.ndarray, base: np.ndarray, phase: np.ndarray, t: np.ndarray) -> np.ndarray:
    """User agent (pool index) of each session (device attributes per session, ``t`` in
    seconds): the browser's version moves on with its family's update period."""
    pool, off = _pool()
    nver = np.array([len(x[2]) for x in FAMILIES])
    period = np.array([x[3] for x in FAMILIES]) * DAY
    step = (np.maximum(t, 0) + phase) // period[fam]
    ver = np.minimum(base + step, nver[fam] - 1)
    del pool
    return off[fam] + model * nver[fam] + ver


def is_mobile(fam: np.ndarray) -> np.ndarray:
    return np.array([x[4] for x in FAMILIES])[fam]


def ip_code(first: np.ndarray | int, x: np.ndarray | int) -> np.ndarray:
    """An IPv4 address as one integer (first octet, 24 low bits of ``x``); text by :func:`ip_text`."""
    return (np.asarray(first, np.int64) << 24) | (np.asarray(x, np.int64) & 0xFFFFFF)


def ip_text(code: np.ndarray) -> pa.Array:
    return fmt.join(fmt.num(code >> 24), ".", fmt.num((code >> 16) & 255), ".", fmt.num((code >> 8) & 255), ".",
                    fmt.num(1 + (code & 255) % 254))


def session_ips(person: np.ndarray, t: np.ndarray, mobile: np.ndarray, hh: np.ndarray, n: int,
                rng: np.random.Generator) -> np.ndarray:
    """IP address (:func:`ip_code`) of each session: the household's home address of the moment (the provider
    reassigns it every 2–12 months), a carrier CGNAT address (mobile only) or the office /
    public Wi-Fi of the person (shared by ~30 people; a quarter of away sessions elsewhere)."""
    hrng = np.random.default_rng(rng.integers(0, 2**63))
    period = hrng.integers(60, 365, n) * DAY
    hphase = hrng.integers(0, 365 * DAY, n)
    office = hrng.integers(0, max(20, n // 30), n)
    h = hh[person]
    epoch = (np.maximum(t, 0) + hphase[h]) // period[h]
    home = ((h * 2_654_435_761 + epoch * 40_503 + 12_345) % (1 << 32)).astype(np.int64)
    u = rng.random(t.size)
    p_home = np.where(mobile, WHERE_MOBILE[0], WHERE_DESKTOP[0])
    p_cg = np.where(mobile, WHERE_MOBILE[1], WHERE_DESKTOP[1])
    where = np.where(u < p_home, 0, np.where(u < p_home + p_cg, 1, 2))
    away = np.where(rng.random(t.size) < 0.75, office[person], rng.integers(0, max(20, n // 30), t.size))
    cg = rng.integers(0, CGNAT_IPS, t.size)
    first = np.select([where == 0, where == 1], [HOME_BLOCKS[(home >> 24) % HOME_BLOCKS.size], 5], 151)
    x = np.select([where == 0, where == 1], [home, (90 << 16) + cg * 37], (66 << 16) + away * 13)
    return ip_code(first, x)


def churn_cookies(slot: np.ndarray, t: np.ndarray, fam: np.ndarray, first: pa.Array,
                  rng: np.random.Generator) -> pa.Array:
    """Anonymous id of each web session of device ``slot``: the device's first cookie
    (``first``, per session) until a cookie clearing (``CLEAR`` of visits) or, with ``ITP``,
    Safari's seven-day cap (a pause of over a week) gives the device a new one."""
    m = slot.size
    if m == 0:
        return first
    o = np.lexsort((t, slot))
    s, ts = slot[o], t[o]
    head = np.r_[True, s[1:] != s[:-1]]
    gap = np.r_[0, np.diff(ts)]
    safari = np.isin(fam[s], (0, 6)) & ITP
    new = ~head & np.where(safari, gap > 7 * DAY, rng.random(m) < CLEAR)
    fresh = hex_ids(rng, int(new.sum()))
    # index of the cookie each session uses: the last new one since its device's first session
    idx = np.where(new, np.cumsum(new) - 1, -1)
    start = np.where(head, np.arange(m), 0)
    head_pos = np.maximum.accumulate(start)
    last_new = np.maximum.accumulate(np.where(new, np.arange(m), -1))
    use_new = last_new >= head_pos
    pick = np.where(use_new, idx[np.maximum(last_new, 0)], -1)
    out_sorted = pa.concat_arrays([fresh, first.take(pa.array(o))]).take(
        pa.array(np.where(pick >= 0, pick, len(fresh) + np.arange(m))))
    back = np.empty(m, np.int64)
    back[o] = np.arange(m)
    return out_sorted.take(pa.array(back))


def still_signed_in(slot: np.ndarray, t: np.ndarray, sign: np.ndarray, hold_s: int) -> np.ndarray:
    """Whether each session's device (``slot``) signed in at most ``hold_s`` seconds before
    it (``sign``: the sessions that sign in). The shop's login is a server-set cookie, which
    ITP does not cap, so a signed-in device stays signed in across analytics-cookie churn."""
    m = slot.size
    if m == 0:
        return np.zeros(0, bool)
    o = np.lexsort((t, slot))
    s, ts = slot[o], t[o]
    rank = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    big = int(ts.max() - min(int(ts.min()), 0) + hold_s + 1)
    # per device, the latest sign-in so far, encoded with the device's rank so it cannot leak
    last = np.maximum.accumulate(np.where(sign[o], rank * big + ts, rank * big - hold_s - 1))
    out = np.empty(m, bool)
    out[o] = (last >= rank * big - hold_s) & (rank * big + ts - last <= hold_s)
    return out
