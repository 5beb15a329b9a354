"""Slow, obviously-correct Python versions of the journey map, the omnichannel report and the
stage rules, for the hypothesis oracle tests.

Inputs are the raw ``touchpoints`` and ``orders`` rows read back from the engine; everything
else is plain Python loops over the definitions written in the module docstrings of
``percorso.journeys.journey_map`` and ``percorso.journeys.omnichannel``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from statistics import median
from typing import Any

PURCHASES = {"purchase", "receipt"}
ADMIN = {"identify", "alias", "crm_update"}
DAY = 86400.0


def in_scope(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Touchpoints a journey analysis reads: with a customer, not record-keeping."""
    return [r for r in rows if r["customer_id"] is not None and r["event_type"] not in ADMIN]


def map_cells(rows: list[dict[str, Any]], order: list[str]) -> dict[tuple[str, str], tuple]:
    """(stage, channel) → (touchpoints, customers, buyers after entry, median days to a later stage)."""
    rank = {s: i for i, s in enumerate(order)}
    staged = [r for r in in_scope(rows) if r["stage"] in rank]
    buys = [r for r in rows if r["event_type"] in PURCHASES]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in staged:
        c = cells.setdefault((r["stage"], r["channel"]), {"n": 0, "entry": {}})
        c["n"] += 1
        cid = r["customer_id"]
        if cid not in c["entry"] or r["occurred_at"] < c["entry"][cid]:
            c["entry"][cid] = r["occurred_at"]
    out = {}
    for (stage, channel), c in cells.items():
        bought, days = 0, []
        for cid, at in c["entry"].items():
            bought += any(b["customer_id"] == cid and b["occurred_at"] > at for b in buys)
            later = [r["occurred_at"] for r in staged if r["customer_id"] == cid
                     and rank[r["stage"]] > rank[stage] and r["occurred_at"] > at]
            if later:
                days.append((min(later) - at).total_seconds() / DAY)
        out[(stage, channel)] = (c["n"], len(c["entry"]), bought, median(days) if days else None)
    return out


def stage_conversion(rows: list[dict[str, Any]], order: list[str]) -> dict[str, tuple]:
    """stage → (customers, moved on to a later stage, median days in stage)."""
    rank = {s: i for i, s in enumerate(order)}
    staged = [r for r in in_scope(rows) if r["stage"] in rank]
    first: dict[tuple[str, str], Any] = {}
    for r in staged:
        k = (r["stage"], r["customer_id"])
        first[k] = min(first.get(k, r["occurred_at"]), r["occurred_at"])
    per: dict[str, list] = defaultdict(list)
    for (stage, cid), at in first.items():
        later = [r["occurred_at"] for r in staged if r["customer_id"] == cid
                 and rank[r["stage"]] > rank[stage] and r["occurred_at"] > at]
        per[stage].append((min(later) - at).total_seconds() / DAY if later else None)
    return {s: (len(v), sum(x is not None for x in v), median([x for x in v if x is not None])
                if any(x is not None for x in v) else None) for s, v in per.items()}


def mixes(rows: list[dict[str, Any]], orders: list[dict[str, Any]]) -> dict[str, str]:
    """customer → online_only | store_only | omnichannel | no_purchase (returns are no orders)."""
    out = {}
    for cid in {r["customer_id"] for r in in_scope(rows)}:
        mine = [o for o in orders if o["customer_id"] == cid and not o["is_return"]]
        online = any(o["online"] for o in mine)
        store = any(not o["online"] for o in mine)
        out[cid] = ("omnichannel" if online and store else "online_only" if online
                    else "store_only" if store else "no_purchase")
    return out


def ropo(rows: list[dict[str, Any]], orders: list[dict[str, Any]], days: int) -> dict[str, tuple]:
    """direction → (orders, orders with cross-channel research, customers with one)."""
    research = [r for r in in_scope(rows) if r["event_type"] not in PURCHASES]
    out: dict[str, list] = {"online_to_store": [0, 0, set()], "store_to_online": [0, 0, set()]}
    for o in orders:
        if o["is_return"]:
            continue
        d = out["store_to_online" if o["online"] else "online_to_store"]
        d[0] += 1
        if any(r["customer_id"] == o["customer_id"] and r["online"] != o["online"]
               and o["occurred_at"] - r["occurred_at"] <= _days(days) and r["occurred_at"] < o["occurred_at"]
               for r in research):
            d[1] += 1
            d[2].add(o["customer_id"])
    return {k: (v[0], v[1], len(v[2])) for k, v in out.items()}


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=n)


def switches(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(switch, from channel, to channel) → (transitions, customers) between consecutive touchpoints."""
    by: dict[str, list] = defaultdict(list)
    for r in sorted(in_scope(rows), key=lambda r: (r["occurred_at"], r["event_id"])):
        by[r["customer_id"]].append(r)
    n: dict[tuple, int] = defaultdict(int)
    who: dict[tuple, set] = defaultdict(set)
    for cid, seq in by.items():
        for a, b in zip(seq, seq[1:]):
            if a["online"] != b["online"]:
                k = ("online → offline" if a["online"] else "offline → online", a["channel"], b["channel"])
                n[k] += 1
                who[k].add(cid)
    return {k: (v, len(who[k])) for k, v in n.items()}


def stores(rows: list[dict[str, Any]], orders: list[dict[str, Any]], days: int) -> dict[str, tuple]:
    """store → (orders, customers, customers who also buy online, orders researched online,
    customers with an order researched online)."""
    mix = mixes(rows, orders)
    research = [r for r in in_scope(rows) if r["event_type"] not in PURCHASES and r["online"]]
    out: dict[str, list] = {}
    for o in orders:
        if o["is_return"] or o["online"] or o["store_id"] is None:
            continue
        d = out.setdefault(o["store_id"], [0, set(), set(), 0, set()])
        d[0] += 1
        d[1].add(o["customer_id"])
        if mix[o["customer_id"]] == "omnichannel":
            d[2].add(o["customer_id"])
        if any(r["customer_id"] == o["customer_id"] and r["occurred_at"] < o["occurred_at"]
               and o["occurred_at"] - r["occurred_at"] <= _days(days) for r in research):
            d[3] += 1
            d[4].add(o["customer_id"])
    return {k: (v[0], len(v[1]), len(v[2]), v[3], len(v[4])) for k, v in out.items()}


def before_first_purchase(rows: list[dict[str, Any]], orders: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """(measure, value) → customers: touchpoints and distinct channels before the first order."""
    scoped = in_scope(rows)
    out: dict[tuple[str, int], int] = defaultdict(int)
    for cid in {r["customer_id"] for r in scoped}:
        mine = [o["occurred_at"] for o in orders if o["customer_id"] == cid and not o["is_return"]]
        if not mine:
            continue
        before = [r for r in scoped if r["customer_id"] == cid and r["occurred_at"] < min(mine)]
        out[("touchpoints", len(before))] += 1
        out[("channels", len({r["channel"] for r in before}))] += 1
    return dict(out)


def first_match_stage(row: dict[str, Any], rules: list[dict[str, Any]]) -> str | None:
    """The stage of the first rule whose every condition holds (None when no rule matches).

    ``where`` maps a property to the list of accepted values.
    """
    props = json.loads(row["properties"]) if row.get("properties") else {}
    for rule in rules:
        if rule.get("event_types") and row["event_type"] not in rule["event_types"]:
            continue
        if rule.get("channels") and row["channel"] not in rule["channels"]:
            continue
        # a value matches only a property of the same JSON type (true is not 1, 5 is not "5")
        if not all(any(k in props and type(props[k]) is type(v) and props[k] == v for v in values)
                   for k, values in rule.get("where", {}).items()):
            continue
        return rule["stage"]
    return None
