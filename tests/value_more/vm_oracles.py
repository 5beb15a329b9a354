"""Slow, obviously-correct Python versions of cost to serve and the health index (test oracles)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

OFFLINE = {"Store / POS", "Call center", "Events & fairs", "Sales rep", "Direct mail / flyer", "Loyalty"}
MARKETING = {"Email", "SMS", "Mobile Push Notifications", "Paid Search", "Paid Social", "Paid Shopping",
             "Paid Video", "Paid Other", "Display", "Cross-network", "Affiliates", "Audio", "Direct mail / flyer"}
FLAT = {"Email": 0.01, "SMS": 0.08, "Direct mail / flyer": 0.60}


def steps_of(journeys):
    """Per customer a list of (type, datetime, fields) sorted by time, with session numbers."""
    out = {}
    for cid, steps in journeys.items():
        rows = sorted(((s[0], datetime.fromisoformat(s[1]), dict(s[2]) if len(s) > 2 else {}) for s in steps),
                      key=lambda r: r[1])
        sess, last, res = 0, None, []
        for typ, ts, f in rows:
            if last is not None and (ts - last).total_seconds() > 30 * 60:
                sess += 1
            last = ts
            res.append((typ, ts, f, sess))
        out[cid] = res
    return out


def cost_to_serve(journeys, costs, rates=None):
    """{customer: dict of costs} with the documented rules; ``costs`` = [(date, channel, cost)]."""
    r = {"call": 4.5, "ret": 8.0, "deliv": 6.9, "m": 0.45, "default": 0.05, **(rates or {})}
    data = steps_of(journeys)
    contacts = {}
    for cid, rows in data.items():
        for typ, ts, f, sess in rows:
            ch = f.get("channel", "Direct")
            if ch in MARKETING:
                contacts.setdefault(ch, set()).add((cid, sess))
    spend = {}
    for _d, ch, c in costs:
        spend[ch] = spend.get(ch, 0.0) + c
    cpc = {}
    for ch, cs in contacts.items():
        cpc[ch] = spend[ch] / len(cs) if spend.get(ch, 0) > 0 else FLAT.get(ch, r["default"])
    out = {}
    for cid, rows in data.items():
        mk = {}
        calls = orders = returns = deliveries = 0
        revenue = refunded = discounts = 0.0
        for typ, ts, f, sess in rows:
            ch = f.get("channel", "Direct")
            if ch in MARKETING:
                mk.setdefault(ch, set()).add(sess)
            if ch == "Call center":
                calls += 1
            if typ in ("purchase", "receipt", "return", "refund") and f.get("revenue") is not None:
                if typ in ("return", "refund"):
                    returns += 1
                    refunded += -f["revenue"]
                else:
                    orders += 1
                    revenue += f["revenue"]
                    if ch not in OFFLINE:
                        deliveries += 1
                    if f.get("items"):
                        lv = sum(it["qty"] * it["price"] for it in f["items"])
                        discounts += max(lv - f["revenue"], 0.0)
        mcost = sum(len(s) * cpc[ch] for ch, s in mk.items())
        if not rows:  # every person with a touchpoint is served, at a cost of 0 if nothing costs
            continue
        cts = mcost + calls * r["call"] + returns * r["ret"] + refunded * r["m"] + deliveries * r["deliv"] + discounts
        gm = (revenue + discounts) * r["m"]
        out[cid] = {"marketing_cost": mcost, "calls": calls, "returns": returns, "deliveries": deliveries,
                    "discounts": discounts, "revenue": revenue, "cost_to_serve": cts, "gross_margin": gm,
                    "margin_after": gm - cts}
    return out


COMPLAINTS = {"reclamo", "complaint", "assistenza", "support", "reso", "return", "stato_consegna", "delivery"}
W = {"recency": 0.25, "frequency": 0.2, "value": 0.2, "engagement": 0.15, "service": 0.1, "consent": 0.1}


def health(journeys, as_of: date, consent=None):
    """{customer: (score, components)} with the documented rules and default parameters."""
    end = datetime.combine(as_of, datetime.min.time())
    consent = consent or {}
    out = {}
    for cid, rows in steps_of(journeys).items():
        rows = [x for x in rows if x[1] < end]
        buys = [(ts, f["revenue"]) for typ, ts, f, _ in rows
                if typ in ("purchase", "receipt") and f.get("revenue") is not None]
        rets = [ts for typ, ts, f, _ in rows if typ in ("return", "refund") and f.get("revenue") is not None]
        n = len(buys)
        if n:
            first, last = min(b[0] for b in buys).date(), max(b[0] for b in buys).date()
            since = (as_of - last).days
            span = (last - first).days
            if n >= 2 and span > 0:
                rec = min(max(1 - (since / (span / (n - 1)) - 1) / 2, 0.0), 1.0)
            else:
                rec = min(max(1 - since / 365, 0.0), 1.0)
        else:
            rec = 0.0
        a_from, b_from = end - timedelta(days=180), end - timedelta(days=360)
        fa = sum(1 for ts, _ in buys if ts >= a_from)
        fb = sum(1 for ts, _ in buys if b_from <= ts < a_from)
        va = sum(max(v, 0) for ts, v in buys if ts >= a_from)
        vb = sum(max(v, 0) for ts, v in buys if b_from <= ts < a_from)
        chans = {f.get("channel", "Direct") for _t, ts, f, _ in rows if ts >= end - timedelta(days=90)}
        s_from = end - timedelta(days=365)
        complaints = sum(1 for _t, ts, f, _ in rows if f.get("channel") == "Call center" and ts >= s_from
                         and str((f.get("properties") or {}).get("reason", "")).lower() in COMPLAINTS)
        issues = complaints + sum(1 for ts in rets if ts >= s_from)
        comp = {
            "recency": rec,
            "frequency": fa / (fa + fb) if fa + fb else 0.0,
            "value": va / (va + vb) if va + vb > 0 else 0.0,
            "engagement": min(len(chans) / 4, 1.0),
            "service": 1 - min(issues / 3, 1.0),
            "consent": 1.0 if consent.get(cid, True) else 0.0,
        }
        out[cid] = (100 * sum(W[k] * v for k, v in comp.items()), comp)
    return out
