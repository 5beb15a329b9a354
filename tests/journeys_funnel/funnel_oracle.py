"""Slow, obviously-correct Python funnel and friction, read off the raw touchpoints.

The rules are those written in docs/journeys.md (Funnels, Friction points), applied literally:
ties in time are ordered by ``event_id`` like the engine; everything else is plain Python.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from percorso.engine import Engine

PURCHASES = {"purchase", "receipt"}


def sequences(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """customer → its touchpoints in journey order (node = event_type)."""
    rows = engine.execute(engine.table("touchpoints")).to_dict("records")
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["customer_id"], r["occurred_at"], r["event_id"])):
        out[r["customer_id"]].append({
            "node": r["event_type"], "at": r["occurred_at"].to_pydatetime(), "buy": r["event_type"] in PURCHASES,
            "channel": r["channel"], "online": bool(r["online"]),
            "revenue": float(r["revenue"]) if r["event_type"] in PURCHASES and r["revenue"] == r["revenue"]
            and r["revenue"] is not None else None,
        })
    return dict(out)


def _is(step: str, node: str) -> bool:
    return node in step.split("|")


def reached_from(seq: list[dict[str, Any]], e: int, steps: list[str], window: timedelta, order: str,
                 exclusions: list[tuple[str, int, int]]) -> int:
    """Steps reached by the entry at position ``e`` (exclusions applied in the order given)."""
    end: datetime = seq[e]["at"] + window
    pos = [e]  # position of each step reached
    for k in range(1, len(steps)):
        if order == "strict":
            cand = [pos[-1] + 1] if pos[-1] + 1 < len(seq) else []
        elif order == "ordered":
            cand = list(range(pos[-1] + 1, len(seq)))
        else:  # any order: anywhere after the entry
            cand = list(range(e + 1, len(seq)))
        hit = [p for p in cand if _is(steps[k], seq[p]["node"]) and seq[p]["at"] <= end]
        if not hit:
            break
        pos.append(hit[0])
    reached = len(pos)
    for node, i, j in exclusions:
        if reached < j:
            continue
        between = range(pos[i - 1] + 1, pos[j - 1])
        if any(seq[p]["node"] == node and seq[p]["at"] <= end for p in between):
            reached = j - 1
    return reached


def funnel(seqs: dict[str, list[dict[str, Any]]], steps: list[str], window: timedelta, order: str,
           exclusions: list[tuple[str, int, int]] = ()) -> dict[str, int]:
    """customer → steps reached by its best entry (0 when it never does step 1)."""
    out = {}
    for cid, seq in seqs.items():
        best = 0
        for e, tp in enumerate(seq):
            if _is(steps[0], tp["node"]):
                best = max(best, reached_from(seq, e, steps, window, order, list(exclusions)))
        out[cid] = best
    return out


def bucket(n: int, edges: tuple[int, ...] = (2, 5, 10)) -> int:
    return next((k for k, edge in enumerate(edges) if n <= edge), len(edges))


def friction_nodes(seqs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float | int | None]]:
    """node → journeys, customers, converted, rate_with, rate_without (same-length standardised),
    conversions_at_stake; nodes are those before a journey's first purchase."""
    info = []
    for seq in seqs.values():
        cut = next((i for i, s in enumerate(seq) if s["buy"]), len(seq))
        info.append(({s["node"] for s in seq[:cut]}, any(s["buy"] for s in seq), bucket(cut)))
    return standardise(info)


def friction_outbound(seqs: dict[str, list[dict[str, Any]]], outbound: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Friction of the company's outbound actions: the journeys are the customers' own steps
    (outbound ones left out, journeys without an own step dropped); an action counts for a
    journey when it happened strictly before the first own purchase (any time if none)."""
    info = []
    for seq in seqs.values():
        own = [s for s in seq if s["node"] not in outbound]
        if not own:
            continue
        cut = next((i for i, s in enumerate(own) if s["buy"]), len(own))
        buy_at = own[cut]["at"] if cut < len(own) else None
        acts = {s["node"] for s in seq if s["node"] in outbound and (buy_at is None or s["at"] < buy_at)}
        info.append((acts, cut < len(own), bucket(cut)))
    return standardise(info)


def standardise(info: list[tuple[set[str], bool, int]]) -> dict[str, dict[str, float | int | None]]:
    """(items of a journey, converted, length bucket) per journey → per item: journeys, converted,
    rate with, rate without (same-length journeys without the item), conversions at stake."""
    out: dict[str, dict[str, float | int | None]] = {}
    for node in {n for nodes, _, _ in info for n in nodes}:
        mine = [(c, b) for nodes, c, b in info if node in nodes]
        expected, comparable, conv_comparable = 0.0, 0, 0
        for b in {b for _, b in mine}:
            others = [c for nodes, c, bb in info if bb == b and node not in nodes]
            if others:
                here = [c for c, bb in mine if bb == b]
                expected += len(here) * sum(others) / len(others)
                comparable += len(here)
                conv_comparable += sum(here)
        out[node] = {
            "journeys": len(mine), "converted": sum(c for c, _ in mine), "rate_with": sum(c for c, _ in mine) / len(mine),
            "rate_without": expected / comparable if comparable else None,
            "conversions_at_stake": max(0.0, expected - conv_comparable) if comparable else 0.0,
        }
    return out


def loops(seqs: dict[str, list[dict[str, Any]]], k: int) -> dict[str, tuple[int, int]]:
    """node → (journeys where it occurs at least k times, of which converted)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for seq in seqs.values():
        counts: dict[str, int] = defaultdict(int)
        for s in seq:
            counts[s["node"]] += 1
        for node, n in counts.items():
            if n >= k:
                out[node][0] += 1
                out[node][1] += int(any(s["buy"] for s in seq))
    return {n: (a, b) for n, (a, b) in out.items()}


def chains(seqs: dict[str, list[dict[str, Any]]], days: int) -> dict[str, set[str]]:
    """chain label → customers: three consecutive channel runs spanning online and offline."""
    out: dict[str, set[str]] = defaultdict(set)
    for cid, seq in seqs.items():
        runs = [s for i, s in enumerate(seq)
                if i == 0 or (seq[i - 1]["channel"], seq[i - 1]["online"]) != (s["channel"], s["online"])]
        for a, b, c in zip(runs, runs[1:], runs[2:]):
            if len({a["online"], b["online"], c["online"]}) == 2 and c["at"] <= a["at"] + timedelta(days=days):
                label = " → ".join(("online " if s["online"] else "offline ") + s["node"] for s in (a, b, c))
                out[label].add(cid)
    return dict(out)
