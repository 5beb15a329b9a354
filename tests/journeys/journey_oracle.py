"""Slow, obviously-correct Python versions of the journey analyses, for oracle tests.

The input is the raw ``touchpoints`` rows read back from the engine (so ties in time are
broken by ``event_id`` exactly as the engine does); everything else is plain Python.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import median
from typing import Any

PURCHASES = {"purchase", "receipt"}


def journeys(rows: list[dict[str, Any]], collapse: bool = False) -> dict[str, list[dict[str, Any]]]:
    """customer → ordered steps (node = event_type), optionally collapsing repeats."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["customer_id"], r["occurred_at"], r["event_id"])):
        step = {"node": r["event_type"], "at": r["occurred_at"], "buy": r["event_type"] in PURCHASES,
                "revenue": r["revenue"] if r["event_type"] in PURCHASES and r["revenue"] is not None else 0.0}
        seq = by[r["customer_id"]]
        if collapse and seq and seq[-1]["node"] == step["node"]:
            seq[-1]["buy"] = seq[-1]["buy"] or step["buy"]
            seq[-1]["revenue"] += step["revenue"]
            continue
        seq.append(step)
    return dict(by)


def top_paths(js: dict[str, list[dict[str, Any]]], max_steps: int, end: str | None = None) -> Counter:
    """path text → (journeys, converting) counter."""
    out: Counter = Counter()
    for seq in js.values():
        if end is not None:
            idx = next((i for i, s in enumerate(seq) if s["node"] == end), None)
            if idx is None:
                continue
            seq = seq[: idx + 1]
        kept = seq[:max_steps]
        path = " → ".join(s["node"] for s in kept) + (" → …" if len(seq) > max_steps else "")
        out[(path, "journeys")] += 1
        # the journey converts if it bought anywhere (up to its end), also past the steps shown
        out[(path, "converting")] += int(any(s["buy"] for s in seq))
    return out


def transitions(js: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], tuple[int, int, float]]:
    """(from, to) → (transitions, customers, median minutes)."""
    mins: dict[tuple[str, str], list[float]] = defaultdict(list)
    who: dict[tuple[str, str], set[str]] = defaultdict(set)
    for cid, seq in js.items():
        for a, b in zip(seq, seq[1:]):
            mins[(a["node"], b["node"])].append((b["at"] - a["at"]).total_seconds() / 60)
            who[(a["node"], b["node"])].add(cid)
    return {k: (len(v), len(who[k]), median(v)) for k, v in mins.items()}


def sankey_links(js: dict[str, list[dict[str, Any]]], steps: int, top_k: int) -> Counter:
    """(position, source, target) → journeys, positions from the start, short journeys → (end)."""
    seqs = []
    for seq in js.values():
        nodes = [s["node"] for s in seq[:steps]]
        if len(nodes) < steps:
            nodes.append("(end)")
        seqs.append(nodes)
    by_pos: dict[int, Counter] = defaultdict(Counter)
    for nodes in seqs:
        for i, n in enumerate(nodes, start=1):
            by_pos[i][n] += 1
    keep = {}
    for pos, c in by_pos.items():
        ranked = sorted(((n, k) for n, k in c.items() if n != "(end)"), key=lambda kv: (-kv[1], kv[0]))
        keep[pos] = {n for n, _ in ranked[:top_k]} | {"(end)"}
    out: Counter = Counter()
    for nodes in seqs:
        named = [n if n in keep[i] else "other" for i, n in enumerate(nodes, start=1)]
        for i, (a, b) in enumerate(zip(named, named[1:]), start=1):
            out[(i, a, b)] += 1
    return out


def funnel_reached(js: dict[str, list[dict[str, Any]]], steps: list[str], window_s: float, order: str,
                   exclusions: list[tuple[str, int, int]] = ()) -> list[int]:
    """Journeys reaching each step (best entry per journey: most steps, then earliest)."""
    n = len(steps)
    counts = [0] * n
    for seq in js.values():
        best = 0
        for e, first in enumerate(seq):
            if first["node"] != steps[0]:
                continue
            end = first["at"].timestamp() + window_s
            idx = [e]
            for k in range(1, n):
                want = steps[k]
                if order == "strict":
                    j = idx[-1] + 1
                    ok = j < len(seq) and seq[j]["node"] == want and seq[j]["at"].timestamp() <= end
                    if not ok:
                        break
                    idx.append(j)
                else:
                    lo = e if order == "any" else idx[-1]
                    found = [j for j in range(lo + 1, len(seq)) if seq[j]["node"] == want and seq[j]["at"].timestamp() <= end]
                    if not found:
                        break
                    idx.append(found[0])
            reached = len(idx)
            for node, i, j in exclusions:
                if reached >= i:
                    upper = idx[j - 1] if reached >= j else len(seq)
                    if any(seq[x]["node"] == node and seq[x]["at"].timestamp() <= end
                           for x in range(idx[i - 1] + 1, upper)) and reached >= j:
                        reached = j - 1
            best = max(best, reached)
        for k in range(best):
            counts[k] += 1
    return counts


def journey_map_cells(rows: list[dict[str, Any]], order: list[str]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(stage, channel) → (touchpoints, customers, customers who purchase after entering)."""
    rank = {s: i for i, s in enumerate(order)}
    buys: dict[str, list] = defaultdict(list)
    for r in rows:
        if r["event_type"] in PURCHASES:
            buys[r["customer_id"]].append(r["occurred_at"])
    tps: Counter = Counter()
    entry: dict[tuple[str, str, str], Any] = {}
    for r in rows:
        if r["stage"] not in rank:
            continue
        key = (r["stage"], r["channel"])
        tps[key] += 1
        k = (r["customer_id"], *key)
        entry[k] = min(entry.get(k, r["occurred_at"]), r["occurred_at"])
    out = {}
    for key, n in tps.items():
        who = [(c, at) for (c, s, ch), at in entry.items() if (s, ch) == key]
        bought = sum(1 for c, at in who if any(b > at for b in buys[c]))
        out[key] = (n, len(who), bought)
    return out


def mixes(orders: list[dict[str, Any]], customers: set[str]) -> dict[str, str]:
    """customer → online_only | store_only | omnichannel | no_purchase (returns excluded)."""
    online, store = set(), set()
    for o in orders:
        if o["is_return"]:
            continue
        (online if o["online"] else store).add(o["customer_id"])
    return {c: "omnichannel" if c in online and c in store else "online_only" if c in online
            else "store_only" if c in store else "no_purchase" for c in customers}


def ropo_counts(rows: list[dict[str, Any]], orders: list[dict[str, Any]], days: int) -> dict[str, int]:
    """direction → orders with a touchpoint of the other world in the days before."""
    from datetime import timedelta

    out = {"online_to_store": 0, "store_to_online": 0}
    for o in orders:
        if o["is_return"]:
            continue
        hit = any(r["customer_id"] == o["customer_id"] and r["event_type"] not in PURCHASES
                  and r["online"] != o["online"] and o["occurred_at"] - timedelta(days=days) <= r["occurred_at"] < o["occurred_at"]
                  for r in rows)
        out["store_to_online" if o["online"] else "online_to_store"] += int(hit)
    return out


def friction_nodes(js: dict[str, list[dict[str, Any]]], edges=(2, 5, 10)) -> dict[str, tuple[int, float, float | None]]:
    """node → (journeys with it, rate with, standardised rate without); steps before the first purchase."""
    def bucket(n: int) -> int:
        return next((k for k, e in enumerate(edges) if n <= e), len(edges))

    info = []
    for seq in js.values():
        cut = next((i for i, s in enumerate(seq) if s["buy"]), len(seq))
        info.append(({s["node"] for s in seq[:cut]}, any(s["buy"] for s in seq), bucket(cut)))
    out = {}
    for node in {n for nodes, _, _ in info for n in nodes}:
        w = [(c, b) for nodes, c, b in info if node in nodes]
        expected, comparable = 0.0, 0
        for b in {b for _, b in w}:
            nb = sum(1 for _, bb in w if bb == b)
            wo = [c for nodes, c, bb in info if bb == b and node not in nodes]
            if wo:
                expected += nb * sum(wo) / len(wo)
                comparable += nb
        out[node] = (len(w), sum(c for c, _ in w) / len(w), expected / comparable if comparable else None)
    return out


def loops(js: dict[str, list[dict[str, Any]]], k: int) -> Counter:
    """node → journeys with a run of at least k identical consecutive nodes."""
    out: Counter = Counter()
    for seq in js.values():
        found, run = set(), 1
        for a, b in zip(seq, seq[1:]):
            run = run + 1 if a["node"] == b["node"] else 1
            if run >= k:
                found.add(b["node"])
        if k == 1:
            found = {s["node"] for s in seq}
        out.update(found)
    return out
