"""Slow, obviously-correct pure-Python paths, transitions and Sankey (the oracle).

Reads the same per-person journeys the tests give to ``journeys_for`` and follows the
written definitions in docs/journeys.md step by step with lists and dicts, nothing shared
with the engine code.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

ARROW = " → "
PURCHASES = {"purchase", "receipt"}
ADMIN = {"identify", "alias", "crm_update"}


def oracle_steps(touchpoints: list[dict[str, Any]], *, node: str = "event_type", scope: str = "customer",
                 clean: tuple[tuple[str, str], ...] = (), exclude: tuple[str, ...] = (), collapse: bool = False,
                 date_from: datetime | None = None, date_to_excl: datetime | None = None) -> dict[str, list[dict]]:
    """journey id → ordered steps (dicts with node, customer, at, buy, revenue)."""
    journeys: dict[str, list[dict]] = defaultdict(list)
    for tp in touchpoints:
        if tp["event_type"] in ADMIN:
            continue
        if date_from is not None and tp["occurred_at"] < date_from:
            continue
        if date_to_excl is not None and tp["occurred_at"] >= date_to_excl:
            continue
        label = tp.get(node)
        label = "(none)" if label is None else str(label)
        for pattern, alias in clean:
            if re.search(pattern, label):
                label = alias
                break
        if label in exclude:
            continue
        jid = tp["session_id"] if scope == "session" else tp["customer_id"]
        journeys[jid].append({"node": label, "customer": tp["customer_id"], "at": tp["occurred_at"],
                              "eid": tp["event_id"], "buy": tp["event_type"] in PURCHASES,
                              "revenue": tp.get("revenue")})
    out: dict[str, list[dict]] = {}
    for jid, steps in journeys.items():
        steps.sort(key=lambda s: (s["at"], s["eid"]))
        if collapse:
            runs: list[list[dict]] = []
            for s in steps:
                if runs and runs[-1][0]["node"] == s["node"]:
                    runs[-1].append(s)
                else:
                    runs.append([s])
            steps = []
            for run in runs:
                paid = [r["revenue"] for r in run if r["buy"] and r["revenue"] is not None]
                steps.append(dict(run[0], buy=any(r["buy"] for r in run), revenue=sum(paid) if paid else None))
        out[jid] = steps
    return out


def anchor(journeys: dict[str, list[dict]], start: str | None, end: str | None) -> dict[str, list[dict]]:
    """Cut each journey from its first ``start`` to the first ``end`` after it (inclusive)."""
    out = {}
    for jid, steps in journeys.items():
        nodes = [s["node"] for s in steps]
        if start is not None:
            if start not in nodes:
                continue
            steps = steps[nodes.index(start):]
            nodes = nodes[nodes.index(start):]
        if end is not None:
            if end not in nodes:
                continue
            steps = steps[: nodes.index(end) + 1]
        out[jid] = steps
    return out


def oracle_top(journeys: dict[str, list[dict]], max_steps: int, top: int, converting_only: bool = False) -> list[dict]:
    """Rows path, journeys, customers, converting, revenue; last row the other bucket."""
    per = []
    for steps in journeys.values():
        kept = steps[:max_steps]
        path = ARROW.join(s["node"] for s in kept) + (ARROW + "…" if len(steps) > max_steps else "")
        # the journey converts if it bought anywhere up to its end, also past the steps shown
        # (docs/journeys.md: the path shown is cut, not the journey)
        buys = [s for s in steps if s["buy"]]
        revenue = sum(s["revenue"] for s in buys if s["revenue"] is not None)
        if converting_only and not buys:
            continue
        per.append({"path": path, "customer": kept[0]["customer"], "converting": bool(buys), "revenue": revenue})
    counts = Counter(p["path"] for p in per)
    ranked = sorted(counts, key=lambda p: (-counts[p], p))
    rows = []
    for path in ranked[:top]:
        mine = [p for p in per if p["path"] == path]
        rows.append({"path": path, "journeys": len(mine), "customers": len({p["customer"] for p in mine}),
                     "converting": sum(p["converting"] for p in mine), "revenue": sum(p["revenue"] for p in mine)})
    rest = [p for p in per if p["path"] not in set(ranked[:top])]
    rows.append({"path": f"other ({len(ranked) - len(ranked[:top])})", "journeys": len(rest),
                 "customers": len({p["customer"] for p in rest}), "converting": sum(p["converting"] for p in rest),
                 "revenue": sum(p["revenue"] for p in rest)})
    return rows


def oracle_transitions(journeys: dict[str, list[dict]], top: int, include_ends: bool = False) -> list[dict]:
    """Rows from_node, to_node, transitions, customers, median_minutes, share_of_from; then other."""
    pairs: dict[tuple[str, str], list[tuple[str, float | None]]] = defaultdict(list)
    for steps in journeys.values():
        for a, b in zip(steps, steps[1:]):
            pairs[(a["node"], b["node"])].append((a["customer"], (b["at"] - a["at"]).total_seconds() / 60))
        if include_ends and steps:
            pairs[("(start)", steps[0]["node"])].append((steps[0]["customer"], None))
            pairs[(steps[-1]["node"], "(end)")].append((steps[-1]["customer"], None))
    out_of: Counter[str] = Counter()
    for (a, _b), rows in pairs.items():
        out_of[a] += len(rows)
    ranked = sorted(pairs, key=lambda k: (-len(pairs[k]), k[0], k[1]))
    rows = []
    for a, b in ranked[:top]:
        items = pairs[(a, b)]
        minutes = [m for _c, m in items if m is not None]
        rows.append({"from_node": a, "to_node": b, "transitions": len(items),
                     "customers": len({c for c, _m in items}), "share_of_from": len(items) / out_of[a],
                     "median_minutes": statistics.median(minutes) if minutes else None})
    rest = [item for k in ranked[top:] for item in pairs[k]]
    if rest:
        rows.append({"from_node": f"other ({len(ranked) - top})", "transitions": len(rest),
                     "customers": len({c for c, _m in rest})})
    return rows


def oracle_sankey(journeys: dict[str, list[dict]], n: int, top_k: int, start: str | None, end: str | None
                  ) -> tuple[dict[tuple[int, str, str], int], dict[tuple[int, str], set[str]]]:
    """Links (step, source, target) → journeys, and (position, node) → customers."""
    positioned: dict[str, list[tuple[int, str]]] = {}
    for jid, steps in anchor(journeys, start, end).items():
        nodes = [s["node"] for s in steps]
        if end is not None and start is None:
            nodes = nodes[-n:]
            first = n - len(nodes) + 1
            seq = [(first + i, x) for i, x in enumerate(nodes)]
            if first > 1:
                seq.insert(0, (first - 1, "(start)"))
        else:
            nodes = nodes[:n]
            seq = [(i + 1, x) for i, x in enumerate(nodes)]
            if len(nodes) < n:
                seq.append((len(nodes) + 1, "(end)"))
        positioned[jid] = seq
    counts: Counter[tuple[int, str]] = Counter(p for seq in positioned.values() for p in seq)
    keep: set[tuple[int, str]] = set()
    for pos in {p for p, _ in counts}:
        real = sorted((x for p, x in counts if p == pos and x not in ("(start)", "(end)")),
                      key=lambda x: (-counts[(pos, x)], x))
        keep |= {(pos, x) for x in real[:top_k]} | {(pos, "(start)"), (pos, "(end)")}
    links: Counter[tuple[int, str, str]] = Counter()
    cells: dict[tuple[int, str], set[str]] = defaultdict(set)
    for jid, seq in positioned.items():
        named = [(p, x if (p, x) in keep else "other") for p, x in seq]
        customer = journeys[jid][0]["customer"]
        for p, x in named:
            cells[(p, x)].add(customer)
        for (p, x), (_q, y) in zip(named, named[1:]):
            links[(p, x, y)] += 1
    return dict(links), dict(cells)
