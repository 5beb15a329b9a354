"""Writers of the non-web source files (orders, receipts, CRM, loyalty, email, ads, calls, offline, costs).

Each writer formats whole columns with Arrow, breaks ~0.5 % of rows where the format allows
(see :mod:`.noise`), writes the file and reports identity rows and malformed rows to the
:class:`~percorso.generate.run.Truth` collector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from percorso.generate import fmt, hours, noise
from percorso.generate.catalog import (BRAND_CPC, CH, ESP_MONTHLY, FAIR_VISITOR, FAIRS, FLYER_PIECE, FLYER_RUN, MEDIA,
                                       PAID, PRODUCTS, REFERENCE_PEOPLE, SEASON_CPC, SEASONS, STORES)
from percorso.generate.journeys import season_of_day
from percorso.generate.people import hex_ids


def _w():
    from percorso.generate.run import write_csv
    return write_csv


def _empty(n: int) -> pa.Array:
    return fmt.s([""]).take(pa.array(np.zeros(n, np.int64)))


def _line_keys(order: np.ndarray, bad_rows: np.ndarray) -> np.ndarray:
    """Orders that keep all their lines (no malformed line)."""
    good = np.ones(order.max() + 1 if order.size else 0, bool)
    good[order[bad_rows]] = False
    return good


@dataclass
class Returns:
    """Which purchases come back, how and when: ``by_post`` (an online order sent back with the
    courier, refunded by the web shop), ``in_store`` (taken back to a store, any purchase) and
    the time of the refund or of the return receipt."""

    by_post: np.ndarray
    in_store: np.ndarray
    t: np.ndarray


#: Share of online orders returned (mattresses come with a trial period) and, of those, the
#: share brought back to a store instead of the courier; share of store purchases returned.
ONLINE_RETURNS, ONLINE_TO_STORE, STORE_RETURNS = 0.11, 0.3, 0.04


def returns(p, pur, rng) -> Returns:
    """Draw the returns: refunds are booked in the back office's hours (the call center's),
    return receipts when the buyer's home store is open."""
    n = pur.t.size
    back = rng.random(n) < np.where(pur.online, ONLINE_RETURNS, STORE_RETURNS)
    to_store = back & (~pur.online | (rng.random(n) < ONLINE_TO_STORE))
    wanted = pur.t + rng.integers(5, 30, n) * 86400 + np.where(to_store, 0, 5 * 86400)
    sched = np.where(to_store, hours.store_schedule(p.store[pur.person]), hours.CALL_CENTER)
    t = hours.next_open(wanted, rng.exponential(0.5, n), sched)
    back &= t < fmt.SPAN_S
    return Returns(back & ~to_store, back & to_store, t)


def ecommerce(src: Path, p, pur, lines, order_id, anon, ret: Returns, truth, rng) -> None:
    """The web shop's order lines, and its refunds: a returned order's main line again with a
    negative quantity, under the order id plus ``-R`` (status ``refunded``), on the refund day."""
    npur = pur.t.size
    sale = np.flatnonzero(pur.online[lines.order])
    back = np.flatnonzero(ret.by_post)
    lstart = np.r_[0, np.cumsum(np.bincount(lines.order, minlength=npur))[:-1]]
    main = lstart[back]  # an order's first line is its main product (its quantity is 1)
    li = np.r_[sale, main]
    refund = np.r_[np.zeros(sale.size, bool), np.ones(back.size, bool)]
    order = lines.order[li]
    doc = np.where(refund, npur + np.r_[np.zeros(sale.size, np.int64), np.arange(back.size)], order)
    t = np.where(refund, ret.t[order], pur.t[order])
    o = np.argsort(t, kind="stable")
    li, refund, order, doc, t = li[o], refund[o], order[o], doc[o], t[o]
    n = li.size
    starts = np.r_[0, np.flatnonzero(np.diff(doc)) + 1] if n else np.zeros(0, np.int64)
    line_no = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n])) + 1 if n else np.zeros(0, np.int64)
    person = pur.person[order]
    prod = lines.product[li]
    single = np.bincount(doc, minlength=npur + back.size)[doc] == 1
    # the codice fiscale field of the checkout, filled by buyers who want the tax deduction
    # on medical-device mattresses and pillows (or an invoice)
    wants_cf = (rng.random(npur) < 0.3)[order] & ~refund
    keys = pa.concat_arrays([order_id, fmt.join(order_id.take(pa.array(back)), "-R")])
    # a refund gives back what the line cost: its price net of the discount, no discount
    unit = np.where(refund, lines.unit_cents[li] - lines.discount_cents[li], lines.unit_cents[li])
    cols = {
        "order_id": keys.take(pa.array(doc)), "line_no": fmt.num(line_no),
        "order_date": fmt.iso_local_offset(t), "user_id": p.user_id.take(pa.array(person)),
        "email": noise.email_noisy(p.email.take(pa.array(person)), rng),
        "phone": fmt.where(rng.random(n) < 0.7, noise.phone_noisy(p.phone.take(pa.array(person)), rng), ""),
        "codice_fiscale": fmt.where(wants_cf, noise.tax_code_noisy(p.codice_fiscale.take(pa.array(person)), rng), ""),
        "anonymous_id": fmt.where(refund, "", anon.take(pa.array(order))), "sku": fmt.take([x[0] for x in PRODUCTS], prod),
        "product_name": fmt.take([x[1] for x in PRODUCTS], prod), "category": fmt.take([x[2] for x in PRODUCTS], prod),
        "quantity": fmt.num(np.where(refund, -lines.qty[li], lines.qty[li])), "unit_price": fmt.money(unit),
        "discount": fmt.money(np.where(refund, 0, lines.discount_cents[li])), "currency": fmt.where(np.ones(n, bool), "EUR", ""),
        "coupon_code": fmt.where(pur.coupon[order] & ~refund, _coupon(t), ""),
        "shipping_cost": fmt.where(refund | (lines.unit_cents[li] > 20000), "0.00", "9.90"),
        "status": fmt.where(refund, "refunded", fmt.take(["completed", "completed", "completed", "shipped"],
                                                          rng.integers(0, 4, n))),
    }
    rows = noise.pick_rows(single, rng)
    defects = noise.corrupt(cols, rows, {"unparseable_date": "order_date", "non_numeric_amount": "unit_price",
                                         "missing_key": "order_id", "wrong_column_count": "product_name"}, ",", rng)
    _w()(src / "ecommerce_orders.csv", list(cols), list(cols.values()), ",")
    truth.bad("ecommerce", "ecommerce_orders.csv", rows, defects)
    truth.counts["ecommerce_orders.csv"] = n
    truth.facts["online_refunds"] = int(back.size)
    ok = np.zeros(npur + back.size, bool)
    ok[doc] = True
    ok[doc[rows]] = False
    ids = np.flatnonzero(ok)
    truth.add("ecommerce", keys.take(pa.array(ids)), np.r_[pur.person, pur.person[back]][ids], p)


def _coupon(t: np.ndarray) -> pa.Array:

    sidx, _ = season_of_day()
    day = np.clip(t // 86400, 0, fmt.DAYS + 1)
    return fmt.join("DB", pc.utf8_upper(fmt.take([s[0].replace("_", "") for s in SEASONS], sidx[day])),
                    fmt.where(day < 366, "24", "25"))


def pos(src: Path, p, pur, lines, reg, ereceipt, returned: Returns, truth, rng) -> None:
    """Store receipts (and store returns, negative quantities) in the Italian gestionale layout."""
    store_buy = ~pur.online
    ret, ret_t = returned.in_store, returned.t
    truth.facts["store_returns"] = int(ret.sum())
    # receipts: store purchases + returns (of any purchase)
    r_pur = np.r_[np.flatnonzero(store_buy), np.flatnonzero(ret)]
    r_t = np.r_[pur.t[store_buy], ret_t[ret]]
    r_ret = np.r_[np.zeros(store_buy.sum(), bool), np.ones(ret.sum(), bool)]
    r_store = np.where(r_ret, p.store[pur.person[r_pur]], pur.store[r_pur])
    loc, _ = fmt.local_seconds(r_t)
    day = loc // 86400
    o = np.lexsort((r_t, day, r_store))
    r_pur, r_t, r_ret, r_store, day, loc = r_pur[o], r_t[o], r_ret[o], r_store[o], day[o], loc[o]
    key = r_store * 10_000 + day
    nr = key.size
    starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1] if nr else np.zeros(0, np.int64)
    number = np.arange(nr) - np.repeat(starts, np.diff(np.r_[starts, nr])) + 1 if nr else np.zeros(0, np.int64)
    person = pur.person[r_pur]
    card_ok = p.loyalty[person] & (reg[person] < r_t) & (rng.random(nr) < 0.9)
    # "scontrino parlante": the buyer's codice fiscale on the receipt, for the 19% deduction on
    # medical-device mattresses and pillows; and the digital receipt sent by e-mail, which
    # some people (``ereceipt``) always choose (e-mail asked at the till when no card is shown)
    # payment is a property of the receipt, not of its lines; consumer credit at the till
    # ("Finanziamento") needs the buyer's codice fiscale, so financed receipts always carry it
    pay = rng.integers(0, 4, nr)
    cf_ok = ~r_ret & ((rng.random(nr) < 0.45) | (pay == 3))
    mail_ok = ~card_ok & ereceipt[person]
    # lines: every line of a purchase; a return takes only the main line
    lstart = np.r_[0, np.cumsum(np.bincount(lines.order, minlength=pur.t.size))[:-1]]
    nl = np.where(r_ret, 1, np.bincount(lines.order, minlength=pur.t.size)[r_pur])
    rec = np.repeat(np.arange(nr), nl)
    within = np.arange(rec.size) - np.repeat(np.cumsum(nl) - nl, nl)
    li = lstart[r_pur[rec]] + within
    sign = np.where(r_ret[rec], -1, 1)
    prod = lines.product[li]
    n = rec.size
    store_ids = fmt.take([s[0] for s in STORES], r_store)
    date_s = fmt.date_str(loc, "%d/%m/%Y")
    cols = {
        "Negozio": store_ids.take(pa.array(rec)), "Numero scontrino": fmt.num(number[rec]),
        "Data": date_s.take(pa.array(rec)), "Ora": fmt.time_str(loc[rec], seconds=False),
        "Carta fedeltà": fmt.where(card_ok[rec], p.card.take(pa.array(person[rec])), ""),
        "Codice fiscale": fmt.where(cf_ok[rec], noise.tax_code_noisy(p.codice_fiscale.take(pa.array(person[rec])), rng), ""),
        "Email": fmt.where(mail_ok[rec], noise.email_noisy(p.email.take(pa.array(person[rec])), rng), ""),
        "Codice articolo": fmt.take([x[0] for x in PRODUCTS], prod),
        "Descrizione": fmt.take([x[1] for x in PRODUCTS], prod), "Categoria": fmt.take([x[2] for x in PRODUCTS], prod),
        "Quantità": fmt.num(lines.qty[li] * sign), "Prezzo unitario": fmt.money(lines.unit_cents[li], ","),
        "Sconto": fmt.money(np.where(sign < 0, 0, lines.discount_cents[li]), ","),
        "Pagamento": fmt.take(["Carta", "Bancomat", "Contanti", "Finanziamento"], pay[rec]),
        "Codice coupon": fmt.where(pur.coupon[r_pur[rec]] & (sign > 0), _coupon(r_t[rec]), ""),
        "Riga": fmt.num(within + 1),
    }
    rows = noise.pick_rows(nl[rec] == 1, rng)
    defects = noise.corrupt(cols, rows, {"unparseable_date": "Data", "non_numeric_amount": "Prezzo unitario",
                                         "missing_key": "Numero scontrino", "wrong_column_count": "Descrizione"}, ";", rng)
    _w()(src / "pos_receipts.csv", list(cols), list(cols.values()), ";", bom=True)
    truth.bad("pos", "pos_receipts.csv", rows, defects)
    truth.counts["pos_receipts.csv"] = n
    good = np.ones(nr, bool)
    good[rec[rows]] = False
    keys = fmt.join(store_ids, ":", fmt.date_str(loc, "%Y-%m-%d"), ":", fmt.num(number))
    truth.add("pos", keys, person, p, good)


def subscription_times(p, ss) -> np.ndarray:
    """When each newsletter subscriber subscribed (seconds; negative = before the window)."""
    t = np.where(p.newsletter, -86400, np.iinfo(np.int64).max)
    sig = np.flatnonzero(ss.signup)
    t[ss.person[sig]] = ss.t[sig]
    return t


def crm(src: Path, p, reg, sub_time, pur, truth, rng) -> pa.Array:
    """CRM contacts (Latin-1, ``;``); returns the crm_id of every person ("" when unknown)."""
    buyers = np.zeros(p.n, bool)
    buyers[pur.person[pur.online]] = True
    known = p.has_account | p.newsletter | p.loyalty | buyers
    crm_ids = fmt.where(known, fmt.join("CRM", fmt.zpad(np.arange(p.n) * 7 + 1000, 8)), "")
    first = np.flatnonzero(known)
    upd = first[rng.random(first.size) < 0.1]
    person = np.r_[first, upd]
    t0 = np.clip(np.minimum(reg[person], sub_time[person]), 0, fmt.SPAN_S - 86400)
    t0 = np.where(t0 >= fmt.SPAN_S - 86400, rng.integers(0, fmt.SPAN_S - 86400, person.size), t0)
    t = np.r_[t0[: first.size], t0[first.size:] + rng.integers(86400, 200 * 86400, upd.size)]
    t = np.minimum(t, fmt.SPAN_S - 60)
    n = person.size
    pa_p = pa.array(person)
    city = fmt.take([s[1] for s in STORES], p.store[person])
    cols = {
        "crm_id": crm_ids.take(pa_p), "updated_at": fmt.iso_local_naive(t, "T"),
        "first_name": p.first.take(pa_p), "last_name": p.last.take(pa_p),
        "email": noise.email_noisy(p.email.take(pa_p), rng),
        "phone": fmt.where(rng.random(n) < 0.8, noise.phone_noisy(p.phone.take(pa_p), rng), ""),
        "codice_fiscale": fmt.where(rng.random(n) < 0.4, p.codice_fiscale.take(pa_p), ""),
        # the web shop's account number, which the shop's connector writes on the contact
        # (empty for contacts without a web account)
        "user_id": p.user_id.take(pa_p),
        "city": city, "province": fmt.take([s[2] for s in STORES], p.store[person]),
        "consent_profiling": fmt.where(rng.random(n) < 0.6, "1", "0"),
        "consent_marketing": fmt.where(p.newsletter[person] | (rng.random(n) < 0.3), "1", "0"),
        "origin": fmt.where(p.loyalty[person], "negozio", fmt.where(p.newsletter[person], "newsletter", "ecommerce")),
    }
    rows = noise.pick_rows(np.ones(n, bool), rng)
    defects = noise.corrupt(cols, rows, {"unparseable_date": "updated_at", "missing_key": "crm_id",
                                         "wrong_column_count": "city"}, ";", rng)
    _w()(src / "crm_contacts.csv", list(cols), list(cols.values()), ";", encoding="latin-1")
    truth.bad("crm", "crm_contacts.csv", rows, defects)
    truth.counts["crm_contacts.csv"] = n
    good = np.ones(n, bool)
    good[rows] = False
    # the record key as ingest forms it (percorso.ingest.plan: instants in UTC, microseconds),
    # not the file's local text: a truth key that never meets its event leaves the CRM rows,
    # identity's record keeping, out of every score (and out of the bench's recall bound)
    keys = fmt.join(crm_ids.take(pa_p), ":", fmt.date_str(t), "T", fmt.time_str(t), ".000000")
    truth.add("crm", keys, person, p, good)
    return crm_ids


def loyalty(src: Path, p, reg, truth, rng) -> None:
    """Loyalty members as an Excel sheet (vectorised writer, see :mod:`.xlsx`)."""
    from percorso.generate.xlsx import write_xlsx

    members = np.flatnonzero(p.loyalty)
    pm = pa.array(members)
    when = (np.datetime64("2024-01-01T00:00:00") + reg[members].astype("timedelta64[s]") + np.timedelta64(3600, "s"))
    birth = np.datetime64("1900-01-01") + p.birth_day[members].astype("timedelta64[D]")
    stores = p.store[members]
    write_xlsx(src / "loyalty_cards.xlsx", "Tessere", {
        "card_number": p.card.take(pm), "registered_at": pa.array(np.datetime_as_string(when)),
        "store_id": fmt.take([s[0] for s in STORES], stores), "first_name": p.first.take(pm),
        "last_name": p.last.take(pm), "email": noise.email_noisy(p.email.take(pm), rng),
        "phone": noise.phone_noisy(p.phone.take(pm), rng), "birth_date": pa.array(np.datetime_as_string(birth)),
        "codice_fiscale": fmt.where(rng.random(members.size) < 0.75, noise.tax_code_noisy(p.codice_fiscale.take(pm), rng), ""),
        "city": fmt.take([s[1] for s in STORES], stores), "province": fmt.take([s[2] for s in STORES], stores),
        "consent_marketing": rng.random(members.size) < 0.7, "consent_profiling": rng.random(members.size) < 0.5,
    })
    truth.counts["loyalty_cards.xlsx"] = int(members.size)
    truth.add("loyalty", p.card.take(pm), members, p)


def email(src: Path, p, tc, tcamp, ss, touch_session, sub_time, truth, rng) -> pa.Table:
    """ESP events: sends, opens and clicks (clicks are the Email touches and land on the site).

    Campaigns go out at the newsletter's send slots (:func:`.hours.send_times`, local time), in
    a burst of up to 20 minutes; a click's send is the last slot before it, its open just
    before it. The campaign id names the month of the send. Returns the sends and the clicks
    with their send time and campaign, for the platform's cost rows (:func:`costs`)."""
    et = np.flatnonzero(tc.channel == CH["Email"])
    subs = np.flatnonzero(p.newsletter)
    slots = hours.send_times()
    k = 4
    bg_person = np.repeat(subs, k)
    bg_t = slots[rng.integers(0, slots.size, bg_person.size)] + rng.integers(0, 1200, bg_person.size)
    bg_ok = bg_t > sub_time[bg_person]
    bg_person, bg_t = bg_person[bg_ok], bg_t[bg_ok]
    from percorso.generate.run import campaign_names

    bg_camp = campaign_names(np.full(bg_t.size, CH["Email"]), bg_t, rng)
    bg_open = rng.random(bg_t.size) < 0.25
    bg_open_t = bg_t[bg_open] + 300 + (rng.exponential(4 * 3600, int(bg_open.sum()))).astype(np.int64)
    sess = touch_session[et]
    link = fmt.where(sess >= 0, ss.url.take(pa.array(np.maximum(sess, 0))), "") if len(ss.url) else _empty(et.size)
    click_t = tc.t[et]
    last = np.searchsorted(slots, click_t - 600, side="right") - 1
    sent_t = np.where(last >= 0, slots[np.maximum(last, 0)] + rng.integers(0, 1200, et.size), click_t - 5 * 3600)
    sent_t = np.minimum(sent_t, click_t - 300)
    parts = [  # (person, t, event, campaign, link, time of the send)
        (tc.person[et], sent_t, "sent", tcamp.take(pa.array(et)), _empty(et.size), sent_t),
        (tc.person[et], click_t - 120, "open", tcamp.take(pa.array(et)), _empty(et.size), sent_t),
        (tc.person[et], click_t, "click", tcamp.take(pa.array(et)), link, sent_t),
        (bg_person, bg_t, "sent", bg_camp, _empty(bg_t.size), bg_t),
        (bg_person[bg_open], bg_open_t, "open", bg_camp.filter(pa.array(bg_open)), _empty(int(bg_open.sum())),
         bg_t[bg_open]),
    ]
    uns = subs[rng.random(subs.size) < 0.03]
    uns_t = rng.integers(0, fmt.SPAN_S, uns.size)
    parts.append((uns, uns_t, "unsubscribe", _empty(uns.size), _empty(uns.size), uns_t))
    billed = pa.table({"sent": np.clip(np.r_[sent_t, bg_t, sent_t], 0, fmt.SPAN_S - 1),
                       "campaign": pa.concat_arrays([parts[0][3], parts[3][3], parts[2][3]]),
                       "click": np.r_[np.zeros(et.size + bg_t.size, bool), np.ones(et.size, bool)]})
    person = np.concatenate([x[0] for x in parts])
    t = np.clip(np.concatenate([x[1] for x in parts]), 0, fmt.SPAN_S - 1)
    sent = np.clip(np.concatenate([x[5] for x in parts]), 0, fmt.SPAN_S - 1)
    ev = pa.concat_arrays([fmt.take([x[2]], np.zeros(x[0].size, np.int64)) for x in parts])
    camp = pa.concat_arrays([x[3] for x in parts])
    link = pa.concat_arrays([x[4] for x in parts])
    o = np.argsort(t, kind="stable")
    po = pa.array(o)
    person, t, sent, ev, camp, link = person[o], t[o], sent[o], ev.take(po), camp.take(po), link.take(po)
    n = person.size
    month = fmt.date_str(fmt.local_seconds(sent)[0], "%y%m")
    cid = fmt.join("cmp_", pc.utf8_slice_codeunits(camp, 0, 3), month)
    cols = {"event_id": fmt.join("esp_", hex_ids(rng, n, 10, False)), "event": ev, "timestamp": fmt.iso_utc(t),
            "email": p.email.take(pa.array(person)), "campaign_id": cid, "campaign_name": camp, "link_url": link}
    rows = noise.pick_rows(np.ones(n, bool), rng)
    defects = noise.corrupt(cols, rows, {"unparseable_date": "timestamp", "missing_time": "timestamp",
                                         "unknown_event_type": "event"}, ",", rng)
    _w()(src / "email_events.csv", list(cols), list(cols.values()), ",")
    truth.bad("email", "email_events.csv", rows, defects)
    truth.counts["email_events.csv"] = n
    good = np.ones(n, bool)
    good[rows] = False
    truth.add("email", cols["event_id"], person, p, good)
    return billed


def ads(src: Path, p, tc, tcamp, click, ss, touch_session, truth, rng) -> None:
    """Ad platform clicks and the impressions tracked on the clicking devices (Parquet), times as
    UTC instants (a naive time would be read in the project time zone, putting each click an
    hour or two away from its landing).

    Social and display ads are seen more than once before a click: each click comes with one
    impression or a few (1.6 on average) on the same device in the week before it (the
    platforms' view tracking; more would add events to many never-identified cookies, and the
    20,000-people demo's identity recall, 0.955 at least, is measured over every event).
    The impressions of everyone else are in the cost report only, aggregated per day and
    campaign (:func:`costs`), as platforms report them; so impressions ≫ clicks there, and the
    file stays small. ``cost`` is what the row was billed: a cost per click for search, a cost
    per thousand impressions on the impression rows of social and display.
    """
    ai = np.flatnonzero(np.isin(tc.channel, [CH["Paid Search"], CH["Paid Social"], CH["Display"]]))
    seen = ai[tc.channel[ai] != CH["Paid Search"]]
    freq = 1 + rng.poisson(0.6, seen.size)
    imp = np.repeat(seen, freq)
    idx = np.r_[ai, imp]
    is_click = np.r_[np.ones(ai.size, bool), np.zeros(imp.size, bool)]
    t = tc.t[idx] - np.where(is_click, 0, rng.integers(60, 7 * 86400, idx.size))
    keep = t >= 0
    idx, is_click, t = idx[keep], is_click[keep], t[keep]
    ch = tc.channel[idx]
    sess = touch_session[idx]
    anon = fmt.where(sess >= 0, ss.device.take(pa.array(np.maximum(sess, 0))), "")
    url = fmt.where(is_click & (sess >= 0), ss.url.take(pa.array(np.maximum(sess, 0))), "")
    code = np.select([ch == CH["Paid Search"], ch == CH["Paid Social"]], [0, 1], 2)
    n = idx.size
    m = [MEDIA[x] for x in ("Paid Search", "Paid Social", "Display")]
    cpc = rng.uniform(*m[0].cpc, n)
    cpm = np.where(code == 1, rng.uniform(*m[1].cpm, n), rng.uniform(*m[2].cpm, n))
    cost = np.where(is_click, np.where(code == 0, cpc, 0.0), cpm / 1000)
    o = np.argsort(t, kind="stable")
    table = pa.table({
        "click_event_id": fmt.join("ad_", hex_ids(rng, n, 10, False)),
        "timestamp": pa.array((t + fmt.T0.timestamp()).astype("int64"), pa.int64()).cast(pa.timestamp("s", tz="UTC")),
        "platform": fmt.take(["google", "meta", "google"], code),
        "click_id": fmt.where(is_click & (code < 2), click.take(pa.array(idx)), ""),
        "click_id_type": fmt.where(is_click & (code < 2), fmt.take(["gclid", "fbclid", ""], code), ""),
        "campaign": tcamp.take(pa.array(idx)),
        "ad_group": fmt.take(["materassi", "cuscini", "offerte", "brand"], rng.integers(0, 4, n)),
        "event": fmt.where(is_click, "click", "impression"), "anonymous_id": anon, "landing_url": url,
        "cost": cost.round(4),
    }).take(pa.array(o))
    pq.write_table(table, src / "ad_clicks.parquet")
    truth.counts["ad_clicks.parquet"] = n
    truth.add("ads", table["click_event_id"].combine_chunks(), tc.person[idx][o], p)


def call_center(src: Path, p, tc, pur, crm_ids, truth, rng) -> None:
    """Calls: pre-sale information (Call center touches), delivery questions, after-sales."""
    pre = np.flatnonzero(tc.channel == CH["Call center"])
    on = np.flatnonzero(pur.online & (rng.random(pur.t.size) < 0.25))
    sup = np.flatnonzero(rng.random(pur.t.size) < 0.06)
    person = np.r_[tc.person[pre], pur.person[on], pur.person[sup]]
    # pre-sale calls are funnel contacts, already in opening hours (funnel.OPENING); the others
    # are made when the call center is open
    later = np.r_[pur.t[on] + rng.integers(1, 10, on.size) * 86400, pur.t[sup] + rng.integers(20, 300, sup.size) * 86400]
    t = np.r_[tc.t[pre], hours.next_open(later, rng.exponential(0.3, later.size), hours.CALL_CENTER)]
    reason = np.r_[np.zeros(pre.size, np.int64), np.ones(on.size, np.int64), rng.integers(2, 4, sup.size)]
    keep = t < fmt.SPAN_S
    person, t, reason = person[keep], t[keep], reason[keep]
    o = np.argsort(t, kind="stable")
    person, t, reason = person[o], t[o], reason[o]
    n = person.size
    pp = pa.array(person)
    cols = {"call_id": fmt.join("CALL", fmt.zpad(np.arange(n) + 1, 8)), "started_at": fmt.iso_local_naive(t),
            "phone": noise.phone_noisy(p.phone.take(pp), rng),
            "crm_id": fmt.where(rng.random(n) < 0.5, crm_ids.take(pp), ""),
            "reason": fmt.take(["informazioni_prodotto", "stato_consegna", "assistenza", "reso"], reason),
            "outcome": fmt.take(["risolto", "risolto", "richiamare", "inoltrato"], rng.integers(0, 4, n)),
            "duration_s": fmt.num(rng.integers(40, 1200, n)),
            "agent": fmt.join("AG", fmt.zpad(rng.integers(1, 25, n), 2))}
    rows = noise.pick_rows(np.ones(n, bool), rng)
    defects = noise.corrupt(cols, rows, {"unparseable_date": "started_at", "missing_time": "started_at",
                                         "wrong_column_count": "reason"}, ",", rng)
    _w()(src / "call_center.csv", list(cols), list(cols.values()), ",")
    truth.bad("call_center", "call_center.csv", rows, defects)
    truth.counts["call_center.csv"] = n
    good = np.ones(n, bool)
    good[rows] = False
    truth.add("call_center", cols["call_id"], person, p, good)


def offline(src: Path, p, tc, tcamp, crm_ids, truth, rng) -> None:
    """Fair visits, flyers (with coupon codes) and store visits without a purchase."""
    codes = {CH["Events & fairs"]: 0, CH["Direct mail / flyer"]: 1, CH["Store / POS"]: 2}
    idx = np.flatnonzero(np.isin(tc.channel, list(codes)))
    typ = np.select([tc.channel[idx] == c for c in codes], list(codes.values()))
    person = tc.person[idx]
    n = idx.size
    pp = pa.array(person)
    fair = rng.integers(0, len(FAIRS), n)
    card = fmt.where(p.loyalty[person], p.card.take(pp), "")
    has_card = p.loyalty[person]
    cols = {
        "record_id": fmt.join("OT", fmt.zpad(np.arange(n) + 1, 8)),
        "event_type": fmt.take(["fair_visit", "flyer_received", "store_visit"], typ),
        "occurred_at": fmt.iso_local_naive(tc.t[idx]),
        "email": fmt.where((typ == 0) | ((typ == 2) & ~has_card & (rng.random(n) < 0.5)), noise.email_noisy(p.email.take(pp), rng), ""),
        "phone": fmt.where((typ != 1) & (rng.random(n) < 0.5), noise.phone_noisy(p.phone.take(pp), rng), ""),
        "crm_id": fmt.where(typ == 1, crm_ids.take(pp), ""),
        "loyalty_card": fmt.where(typ != 0, card, ""),
        "store_id": fmt.where(typ == 2, fmt.take([s[0] for s in STORES], p.store[person]),
                              fmt.where(typ == 0, fmt.take([f[1] for f in FAIRS], fair), "")),
        "campaign": fmt.where(typ == 2, "", tcamp.take(pa.array(idx))),
        "coupon_code": fmt.where(typ == 1, _coupon(tc.t[idx]), ""),
        "fair_name": fmt.where(typ == 0, fmt.take([f[0] for f in FAIRS], fair), ""),
    }
    rows = noise.pick_rows(np.ones(n, bool), rng)
    defects = noise.corrupt(cols, rows, {"unparseable_date": "occurred_at", "missing_time": "occurred_at",
                                         "unknown_event_type": "event_type"}, ",", rng)
    _w()(src / "offline_touchpoints.csv", list(cols), list(cols.values()), ",")
    truth.bad("events", "offline_touchpoints.csv", rows, defects)
    truth.counts["offline_touchpoints.csv"] = n
    good = np.ones(n, bool)
    good[rows] = False
    truth.add("events", cols["record_id"], person, p, good)


def costs(src: Path, tc, tcamp, mail: pa.Table, people: int, truth, rng) -> None:
    """Daily cost report per channel × campaign (local days), as the platforms and the
    marketing office book it (:data:`.catalog.MEDIA` and the constants after it):

    - ad channels: the platform's clicks (the tracked ones over ``tracked``), impressions at a
      click-through rate in the channel's range, cost per click or per thousand impressions,
      dearer in the busy seasons, cheap for the brand search campaign;
    - e-mail: the platform's monthly fee spread over the month's send days, with the sends
      (as impressions) and the clicks of each send day's campaigns;
    - flyers: the print run (``FLYER_RUN`` flyers per recorded recipient, as impressions) at a
      price per flyer; fairs: the stand's cost per recorded visitor (visitors as impressions).

    Fixed fees scale with ``people`` / :data:`.catalog.REFERENCE_PEOPLE`; everything else
    follows the simulated activity, so returns on spend do not depend on the demo's size.
    """
    names = list(CH)
    sidx, _ = season_of_day()
    counted = [c for c in (*MEDIA, "Direct mail / flyer", "Events & fairs")]
    idx = np.flatnonzero(np.isin(tc.channel, [CH[c] for c in counted]))
    loc, _ = fmt.local_seconds(tc.t[idx])
    tab = pa.table({"day": loc // 86400, "ch": tc.channel[idx], "campaign": tcamp.take(pa.array(idx))})
    g = tab.group_by(["day", "ch", "campaign"]).aggregate([([], "count_all")])
    day, ch, seen = g["day"].to_numpy(), g["ch"].to_numpy(), g["count_all"].to_numpy()
    camp = g["campaign"].combine_chunks()
    k = day.size
    tracked = np.ones(len(names))
    ctr_lo, ctr_hi, price_lo, price_hi = (np.zeros(len(names)) for _ in range(4))
    per_click = np.zeros(len(names), bool)
    for name, m in MEDIA.items():
        i = CH[name]
        tracked[i], (ctr_lo[i], ctr_hi[i]) = m.tracked, m.ctr
        per_click[i] = m.cpc is not None
        price_lo[i], price_hi[i] = m.cpc if m.cpc else m.cpm
    media = np.isin(ch, [CH[c] for c in MEDIA])
    clicks = np.where(media, np.maximum(np.rint(seen / tracked[ch] * rng.uniform(0.9, 1.1, k)), seen), 0).astype(np.int64)
    impressions = np.where(media, np.rint(clicks / rng.uniform(ctr_lo[ch], np.maximum(ctr_hi[ch], 1e-9))), seen)
    season = np.array([s[0] for s in SEASONS], dtype=object)[sidx[np.clip(day, 0, fmt.DAYS + 1)]]
    uplift = np.array([SEASON_CPC.get(x, 1.0) for x in season])
    brand = pc.equal(camp, "search_brand_always_on").to_numpy(zero_copy_only=False)
    price = rng.uniform(price_lo[ch], price_hi[ch]) * uplift * np.where(brand, BRAND_CPC, 1.0)
    cost = np.where(per_click[ch], clicks * price, impressions * price / 1000)
    flyer = ch == CH["Direct mail / flyer"]
    impressions = np.where(flyer, seen * FLYER_RUN, impressions)
    cost = np.where(flyer, seen * FLYER_RUN * rng.uniform(*FLYER_PIECE, k), cost)
    cost = np.where(ch == CH["Events & fairs"], seen * rng.uniform(*FAIR_VISITOR, k), cost)
    # e-mail: per send day and campaign, the sends and the clicks they brought
    mloc, _ = fmt.local_seconds(mail["sent"].to_numpy())
    mt = pa.table({"day": mloc // 86400, "campaign": mail["campaign"], "click": mail["click"],
                   "send": pc.invert(mail["click"])})
    mg = mt.group_by(["day", "campaign"]).aggregate([("send", "sum"), ("click", "sum")])
    mday, sends, mclicks = mg["day"].to_numpy(), mg["send_sum"].to_numpy(), mg["click_sum"].to_numpy()
    month = fmt.date_str(mday * 86400, "%Y-%m").to_numpy(zero_copy_only=False)
    _, mi = np.unique(month, return_inverse=True)
    month_sends = np.bincount(mi, weights=sends)[mi]
    fee = ESP_MONTHLY * people / REFERENCE_PEOPLE * sends / np.maximum(month_sends, 1)
    day = np.r_[day, mday]
    ch = np.r_[ch, np.full(mday.size, CH["Email"])]
    camp = pa.concat_arrays([camp, mg["campaign"].combine_chunks()])
    cost = np.r_[cost, fee]
    impressions = np.r_[impressions, sends].astype(np.int64)
    clicks = np.r_[clicks, mclicks].astype(np.int64)
    keep = (cost > 0) | (impressions > 0)
    o = np.lexsort((np.arange(day.size), ch, day))
    o = o[keep[o]]
    day, ch, camp, cost, impressions, clicks = day[o], ch[o], camp.take(pa.array(o)), cost[o], impressions[o], clicks[o]
    n = day.size
    cols = {"date": fmt.date_str(day * 86400), "channel": fmt.take(names, ch), "campaign": camp,
            "source": fmt.take([PAID.get(nm, ("", "", ""))[1] for nm in names], ch),
            "medium": fmt.take([PAID.get(nm, ("", "", ""))[2] for nm in names], ch),
            "cost": fmt.money(np.rint(cost * 100).astype(np.int64)), "impressions": fmt.num(impressions),
            "clicks": fmt.num(clicks)}
    rows = noise.pick_rows(np.ones(n, bool), rng)
    defects = noise.corrupt(cols, rows, {"non_numeric_amount": "cost"}, ",", rng)
    _w()(src / "campaign_costs.csv", list(cols), list(cols.values()), ",")
    truth.bad("costs", "campaign_costs.csv", rows, defects)
    truth.counts["campaign_costs.csv"] = n
