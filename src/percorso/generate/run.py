"""`percorso generate`: simulate the retailer and write every source file plus ground truth.

The order: people → purchase cycles (touches, purchases) → baskets → sessions → files.
Each writer returns its identity rows (source_name, source_key, person index) for the
well-formed rows and its malformed rows, which :func:`generate` gathers into
``ground_truth/``. One ``numpy.random.Generator`` seeded once makes the output a pure
function of ``(customers, seed)``.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from percorso.errors import InputError
from percorso.generate import fmt, network, noise
from percorso.generate.catalog import CH, CHANNELS, PAID, SEASONS, STORES, WEB_CHANNELS
from percorso.generate.journeys import basket, season_of_day, simulate
from percorso.generate.people import Persons, hex_ids, make_persons
from percorso.generate.web import Sessions, build_events, landing


class Truth:
    """Collects identity rows and malformed rows from the writers."""

    def __init__(self) -> None:
        self.identity: list[pa.Table] = []
        self.malformed: list[tuple[str, str, int, str]] = []
        self.counts: dict[str, int] = {}
        self.facts: dict[str, int] = {}

    def add(self, source: str, keys: pa.Array, person: np.ndarray, p: Persons, good: np.ndarray | None = None) -> None:
        if good is not None:
            keys, person = keys.filter(pa.array(good)), person[good]
        n = len(keys)
        self.identity.append(pa.table({"source_name": fmt.s([source]).take(pa.array(np.zeros(n, np.int64))),
                                       "source_key": keys, "person_id": p.person_id.take(pa.array(person))}))

    def bad(self, source: str, file: str, rows: np.ndarray, defects: list[str]) -> None:
        self.malformed += [(source, file, int(r) + 1, d) for r, d in zip(rows, defects)]


def campaign_names(channel: np.ndarray, t: np.ndarray, rng: np.random.Generator,
                   brand: np.ndarray | None = None) -> pa.Array:
    """utm_campaign of each touch: ``<prefix>_<season>_<year>``. Search also has an always-on
    brand campaign: every ``brand`` touch (the navigational visit of a decided buyer) and a
    tenth of the other search clicks (people who know the name)."""
    sidx, _ = season_of_day()
    day = np.clip(t // 86400, 0, fmt.DAYS + 1)
    prefixes = [PAID[c.name][0] if c.name in PAID else "" for c in CHANNELS]
    pre = fmt.take(prefixes, channel)
    season = fmt.take([s[0] for s in SEASONS], sidx[day])
    year = fmt.where(day < 366, "2024", "2025")
    out = fmt.join(pre, "_", season, "_", year)
    is_brand = rng.random(channel.size) < 0.1
    if brand is not None:
        is_brand |= brand
    out = fmt.where((channel == CH["Paid Search"]) & is_brand, "search_brand_always_on", out)
    return fmt.where(np.array(prefixes, dtype=object)[channel] == "", "", out)


def write_csv(path: Path, header: list[str], cols: list[pa.Array], delimiter: str, encoding: str = "utf-8",
              bom: bool = False) -> None:
    lines = fmt.csv_lines([c.fill_null("") for c in cols], delimiter) if cols and len(cols[0]) else pa.array([], pa.string())
    with open(path, "wb") as fh:
        head = delimiter.join(header) + "\n"
        fh.write((b"\xef\xbb\xbf" if bom else b"") + head.encode(encoding))
        if encoding == "utf-8":
            fmt.write_lines(fh, lines, terminated=True)
        else:
            for start in range(0, len(lines), 200_000):
                part = lines.slice(start, 200_000).to_pylist()
                fh.write("".join(part).encode(encoding, errors="replace"))


def generate(out: Path | str, customers: int, seed: int = 42, progress=None) -> dict:
    """Write the demo source files and their ground truth under ``out``.

    Parameters
    ----------
    out : folder; ``out/sources`` and ``out/ground_truth`` are created.
    customers : number of simulated people (the retailer's potential customers).
    seed : the output is a pure function of ``(customers, seed)``.
    progress : optional callable ``(step_name)`` for progress display.

    Returns
    -------
    dict
        The summary also written to ``ground_truth/summary.json``.
    """
    if customers < 1:
        raise InputError(f"--customers must be at least 1, got {customers}")
    previous = pa.default_memory_pool()
    pool, restore = _string_pool()
    pa.set_memory_pool(pool)
    try:
        return _generate(Path(out), customers, seed, progress or (lambda name: None))
    finally:
        pa.set_memory_pool(previous)
        restore()


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def _string_pool() -> tuple[pa.MemoryPool, Callable[[], None]]:
    """The allocator for the run and how to undo its settings.

    The writers build and drop string and index arrays of tens of MB, thousands of times over at
    1M customers; every fresh page costs a kernel fault. jemalloc as pyarrow configures it hands
    large blocks back to the kernel at once; glibc malloc told to keep freed memory (blocks up to
    32 MB from its heap, no trimming) reuses them: at 200k customers page faults went 1.17M ->
    0.56M and system time 5.2 -> 3.8 s, at 1M system time 41 -> 34 s. Where glibc's
    ``mallopt`` is not there, jemalloc (then pyarrow's default) as before.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        try:
            return pa.jemalloc_memory_pool(), lambda: None
        except NotImplementedError:
            return pa.default_memory_pool(), lambda: None
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)

    def restore() -> None:
        # glibc's documented defaults (its dynamic threshold stays off once set)
        mallopt(_M_MMAP_THRESHOLD, 128 << 10)
        mallopt(_M_TRIM_THRESHOLD, 128 << 10)

    return pa.system_memory_pool(), restore


def _generate(out: Path, customers: int, seed: int, step) -> dict:
    (out / "sources").mkdir(parents=True, exist_ok=True)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    step("persone")
    p = make_persons(customers, rng, seed)
    step("cicli di acquisto")
    tc, pur, reg, known = simulate(p, rng)
    o = np.argsort(pur.t, kind="stable")
    for f in ("person", "t", "online", "store", "category", "coupon", "cycle"):
        setattr(pur, f, getattr(pur, f)[o])
    rank = np.empty(o.size, np.int64)
    rank[o] = np.arange(o.size)
    tc.purchase = np.where(tc.purchase >= 0, rank[np.maximum(tc.purchase, 0)], -1)
    sidx, _ = season_of_day()
    lines = basket(pur, rng, sidx)
    npur = pur.person.size
    totals = np.bincount(lines.order, weights=lines.unit_cents * lines.qty - lines.discount_cents, minlength=npur).astype(np.int64)
    order_id = fmt.join("WEB-", fmt.zpad(np.arange(npur) + 100_001, 8))
    tcamp = campaign_names(tc.channel, tc.t, rng, tc.nav)
    click = fmt.where(tc.channel == CH["Paid Search"], fmt.join("Cj0KCQiA", hex_ids(rng, tc.t.size, 12, False)),
                      fmt.join("IwAR", hex_ids(rng, tc.t.size, 12, False)))
    truth = Truth()
    from percorso.generate import sources

    step("sessioni web e app")
    # people who always ask for the digital receipt: their e-mail is on their store receipts
    ereceipt = rng.random(p.n) < 0.35
    ss, touch_session, buy_session = _sessions(p, tc, pur, tcamp, click, ereceipt, rng)
    src = out / "sources"
    for kind_name, mask in (("web", ss.kind != 1), ("app", ss.kind == 1)):
        _write_segment(src / f"{kind_name}_events.jsonl", kind_name, _subset(ss, mask), p, order_id, totals, truth, rng)
    step("ordini e scontrini")
    returned = sources.returns(p, pur, rng)
    sources.ecommerce(src, p, pur, lines, order_id, ss.device.take(pa.array(np.maximum(buy_session, 0))), returned,
                      truth, rng)
    sources.pos(src, p, pur, lines, reg, ereceipt, returned, truth, rng)
    step("CRM, fedeltà, email, ads, call center, eventi, costi")
    sub_time = sources.subscription_times(p, ss)
    crm_ids = sources.crm(src, p, reg, sub_time, pur, truth, rng)
    sources.loyalty(src, p, reg, truth, rng)
    mail = sources.email(src, p, tc, tcamp, ss, touch_session, sub_time, truth, rng)
    sources.ads(src, p, tc, tcamp, click, ss, touch_session, truth, rng)
    sources.call_center(src, p, tc, pur, crm_ids, truth, rng)
    sources.offline(src, p, tc, tcamp, crm_ids, truth, rng)
    sources.costs(src, tc, tcamp, mail, p.n, truth, rng)
    step("verità di base")
    return _write_truth(out / "ground_truth", truth, p, pur, tc, known)


def _subset(ss: Sessions, mask: np.ndarray) -> Sessions:
    idx = np.flatnonzero(mask)
    arr = pa.array(idx)
    return Sessions(**{k: (v.take(arr) if isinstance(v, pa.Array) else v[idx]) for k, v in vars(ss).items()})


def _sessions(p: Persons, tc, pur, tcamp, click, ereceipt, rng):
    """All sessions: one per web/app touch (an online purchase happens in its touch's visit,
    the deciding one or a navigational one, see :mod:`.funnel`), plus store-tablet, review,
    signup and sign-in visits."""
    web_codes = np.array([CH[c] for c in WEB_CHANNELS])
    is_web = np.isin(tc.channel, web_codes)
    ti = np.flatnonzero(is_web)
    tablet_t = np.flatnonzero((tc.channel == CH["Store / POS"]) & (rng.random(tc.t.size) < 0.3))
    online = np.flatnonzero(pur.online)
    review = online[rng.random(online.size) < 0.12]
    subs = np.flatnonzero(p.newsletter & (rng.random(p.n) < 0.5))
    # known people sign in on most of their devices sooner or later (account, e-receipt or
    # loyalty e-mail link, wishlist): one identifying visit per such device. Whoever left an
    # e-mail address (digital receipts at the till, fair visitors) gets the retailer's mails,
    # and a click on one identifies the device (ESP click tracking)
    known = p.has_account | p.newsletter | p.loyalty
    known[pur.person[online]] = True
    # so does whoever gave their address at a checkout that then failed (the shop's "your order
    # is waiting" e-mails reach them)
    known[tc.person[tc.failed]] = True
    known[pur.person[~pur.online & ereceipt[pur.person]]] = True
    known[tc.person[tc.channel == CH["Events & fairs"]]] = True
    sign_person = np.repeat(np.arange(p.n), 3)
    sign_k = np.tile(np.arange(3), p.n)
    signs = np.flatnonzero(known[sign_person] & (sign_k < p.n_devices[sign_person]) & (rng.random(sign_person.size) < 0.92))
    # the app's digital loyalty card and order tracking need a sign-in: known app users sign in once
    app_signs = np.flatnonzero(known & p.app_user & (rng.random(p.n) < 0.9))
    sp, sk = np.r_[sign_person[signs], app_signs], np.r_[sign_k[signs], np.zeros(app_signs.size, np.int64)]
    nsig = sp.size
    person = np.concatenate([tc.person[ti], tc.person[tablet_t], pur.person[review], subs, sp])
    t = np.concatenate([tc.t[ti], tc.t[tablet_t] + 300,
                        pur.t[review] + rng.integers(10, 40, review.size) * 86400, rng.integers(0, fmt.SPAN_S - 86400, subs.size),
                        rng.integers(0, fmt.SPAN_S - 86400, nsig)])
    channel = np.concatenate([tc.channel[ti], np.full(tablet_t.size + review.size + subs.size + nsig, CH["Direct"])])
    n = person.size
    kind = np.zeros(n, np.int64)
    nt = ti.size
    order = np.full(n, -1)
    order[:nt] = tc.purchase[ti]  # purchases are bought on the web shop, not in the app
    failed = np.zeros(n, bool)
    failed[:nt] = tc.failed[ti]
    app = (channel[:nt] == CH["Mobile Push Notifications"]) | ((channel[:nt] == CH["Direct"]) & p.app_user[person[:nt]] & (rng.random(nt) < 0.4))
    kind[:nt] = np.where(app & (order[:nt] < 0) & ~failed[:nt], 1, 0)
    kind[nt: nt + tablet_t.size] = 2
    kind[n - app_signs.size:] = 1
    rev = np.full(n, -1)
    rev[nt + tablet_t.size: nt + tablet_t.size + review.size] = review
    signup = np.zeros(n, bool)
    signup[n - nsig - subs.size: n - nsig] = True
    ident = np.zeros(n, bool)
    ident[n - nsig:] = True
    keep = t < fmt.SPAN_S
    dev_k = rng.integers(0, 3, n) % p.n_devices[person]
    dev_k[n - nsig:] = sk
    # network context: devices keep a user agent (updated over time) and lose cookies (ITP,
    # clearing); sessions come from the household's home IP, a carrier CGNAT or an office
    fam, model, base, phase = network.devices(p, rng)
    slot = np.where(kind == 1, 3 * p.n + person, person * 3 + dev_k)
    web = np.flatnonzero(kind == 0)
    device = p.cookies.take(pa.array(person * 3 + dev_k))
    churned = network.churn_cookies(slot[web], t[web], fam, device.take(pa.array(web)), rng)
    pick = np.arange(n)
    pick[web] = n + np.arange(web.size)
    device = pa.concat_arrays([device, churned]).take(pa.array(pick))
    device = fmt.where(kind == 1, p.app_anon.take(pa.array(person)), device)
    tablets = hex_ids(np.random.default_rng(7), len(STORES))
    device = fmt.where(kind == 2, tablets.take(pa.array(p.store[person])), device)
    ua = np.where(kind == 2, network.tablet_ua(), network.user_agents(fam[slot], model[slot], base[slot], phase[slot], t))
    ip = network.session_ips(person, t, network.is_mobile(fam[slot]), network.households(p, rng), p.n, rng)
    ip = np.where(kind == 2, network.ip_code(151, (11 << 16) + (40 << 8) + 9 + p.store[person]), ip)
    # account holders stay signed in on a device for 90 days after signing in on it (buying or
    # an identifying visit): their later visits identify whatever analytics cookie they carry
    acct = p.has_account[person] & (kind != 2)
    ident |= acct & network.still_signed_in(slot, t, acct & (ident | (order >= 0) | failed), 90 * 86400)
    camp = pa.concat_arrays([tcamp.take(pa.array(ti)), fmt.s([""]).take(pa.array(np.zeros(n - nt, np.int64)))])
    clk = pa.concat_arrays([click.take(pa.array(ti)), fmt.s([""]).take(pa.array(np.zeros(n - nt, np.int64)))])
    url, ref, page = landing(channel, camp, clk, (order >= 0) | failed, rng)
    ss = Sessions(person, t, channel, kind, device, fmt.where(kind == 1, p.app_device.take(pa.array(person)), ""),
                  url, ref, camp, order, rev, signup, ident, ua, ip, failed, page)
    src_touch = np.full(n, -1)
    src_touch[:nt] = ti
    ss = _subset(ss, keep)
    src_touch = src_touch[keep]
    o = np.argsort(ss.t, kind="stable")
    ss, src_touch = _reorder(ss, o), src_touch[o]
    touch_session = np.full(tc.t.size, -1)
    touch_session[src_touch[src_touch >= 0]] = np.flatnonzero(src_touch >= 0)
    buy_session = np.full(pur.t.size, -1)
    buy_session[ss.order[ss.order >= 0]] = np.flatnonzero(ss.order >= 0)
    return ss, touch_session, buy_session


def _reorder(ss: Sessions, o: np.ndarray) -> Sessions:
    arr = pa.array(o)
    return Sessions(**{k: (v.take(arr) if isinstance(v, pa.Array) else v[o]) for k, v in vars(ss).items()})


def _rows(ss: Sessions, start: int, count: int) -> Sessions:
    """Sessions ``start`` to ``start + count`` as zero-copy views (slices share the buffers)."""
    return Sessions(**{k: (v.slice(start, count) if isinstance(v, pa.Array) else v[start: start + count])
                       for k, v in vars(ss).items()})


def _write_segment(path: Path, source: str, ss: Sessions, p: Persons, order_id, totals, truth: Truth, rng) -> None:
    """Write one Segment JSONL file in session chunks, breaking ~0.5 % of lines on purpose."""
    chunk = 250_000
    line0 = 0
    with open(path, "wb") as fh:
        for start in range(0, ss.person.size, chunk):
            part = _rows(ss, start, chunk)
            parts, mid, person, kind = build_events(part, p, order_id, totals, rng)
            m = len(mid)
            rows = noise.pick_rows((kind == 0) | (kind == 2), rng)
            defects = [("broken_json", "missing_key", "unknown_event_type")[i] for i in rng.integers(0, 3, rows.size)]
            d = np.array(defects, dtype=object)
            mask = np.zeros(m, bool)
            miss = mask.copy(); miss[rows[d == "missing_key"]] = True
            unk = mask.copy(); unk[rows[d == "unknown_event_type"]] = True
            broken = mask.copy(); broken[rows[d == "broken_json"]] = True
            parts[1] = fmt.where(unk, "evento_sconosciuto", parts[1])
            parts[3] = fmt.where(miss, "", parts[3])
            parts[4] = fmt.where(miss, "", parts[4])
            parts[5] = fmt.where(miss, ',"anonymousId":"', parts[5])
            parts[-1] = fmt.where(broken, ',"broken\n', parts[-1])  # truncated JSON
            fmt.write_joined(fh, parts)
            good = np.ones(m, bool)
            good[rows] = False
            truth.add(source, mid, person, p, good)
            truth.bad(source, path.name, rows + line0, defects)
            line0 += m
    truth.counts[path.name] = line0


def _write_truth(gt: Path, truth: Truth, p: Persons, pur, tc, known) -> dict:
    ident = pa.concat_tables(truth.identity)
    pacsv.write_csv(ident, gt / "identity.csv")
    eff = pa.table({"channel": [c.name for c in CHANNELS], "funnel": [c.funnel for c in CHANNELS],
                    "true_effect": [c.true_effect for c in CHANNELS], "exposed_cycles": known.exposed,
                    "incremental_conversions": known.incremental, "incremental_se": known.se.round(1),
                    "description": [c.description for c in CHANNELS]})
    pacsv.write_csv(eff, gt / "channel_effects.csv")
    mal = truth.malformed
    pacsv.write_csv(pa.table({"source_name": [m[0] for m in mal], "file": [m[1] for m in mal],
                              "line": pa.array([m[2] for m in mal], pa.int64()), "defect": [m[3] for m in mal]}),
                    gt / "malformed.csv")
    total_rows = sum(truth.counts.values())
    summary = {
        "persons": p.n, "orders": int(pur.person.size), "online_orders": int(pur.online.sum()),
        "store_orders": int((~pur.online).sum()), "touches": int(tc.t.size), "rows": truth.counts,
        "cycles": known.cycles, "cycles_without_purchase": known.cycles - known.purchases,
        "total_rows": total_rows, "malformed": len(mal), "identity_rows": ident.num_rows,
        "lost_at_checkout": int(tc.failed.sum()), **truth.facts,
    }
    (gt / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary
