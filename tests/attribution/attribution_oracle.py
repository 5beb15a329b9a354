"""Slow, obviously-correct pure-Python versions of every model (test oracles)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from math import factorial

import numpy as np


def rule_credits(rows, model, **kw):
    """rows: list of (path list, conversions). Returns {node: credited conversions}."""
    out = defaultdict(float)
    for path, conv in rows:
        n = len(path)
        if model == "first":
            out[path[0]] += conv
        elif model == "last":
            out[path[-1]] += conv
        elif model == "last_non_direct":
            nd = [p for p in path if p not in kw.get("direct", ("Direct",))]
            out[(nd or path)[-1]] += conv
        elif model == "linear":
            for p in path:
                out[p] += conv / n
        elif model == "position":
            f, l = kw.get("first", 0.4), kw.get("last", 0.4)
            if n == 1:
                out[path[0]] += conv
            elif n == 2:
                share = f / (f + l) if f + l > 0 else 0.5  # 0/0: split evenly
                out[path[0]] += conv * share
                out[path[1]] += conv * (1 - share)
            else:
                out[path[0]] += conv * f
                out[path[-1]] += conv * l
                for p in path[1:-1]:
                    out[p] += conv * (1 - f - l) / (n - 2)
        elif model == "time_decay":
            h = kw["half_life"]
            ws = [2 ** (-(n - 1 - i) / h) for i in range(n)]
            for p, w in zip(path, ws):
                out[p] += conv * w / sum(ws)
    return dict(out)


def markov_removal_dense(rows, order):
    """rows: (path, conversions, nulls). Dense absorbing chain with tuple states, one dense
    solve per removal; transitions into states containing c are sent to null."""
    counts = defaultdict(float)
    for path, conv, null in rows:
        w = conv + null
        prev = "start"
        for t in range(len(path)):
            state = tuple(path[max(0, t - order + 1): t + 1])
            counts[(prev, state)] += w
            prev = state
        counts[(prev, "conv")] += conv
        counts[(prev, "null")] += null
    states = ["start"] + sorted({k for pair in counts for k in pair if k not in ("start", "conv", "null")})
    idx = {s: i for i, s in enumerate(states)}
    channels = sorted({c for path, _, _ in rows for c in path})

    def p_conv(removed):
        m = len(states)
        Q = np.zeros((m, m))
        b = np.zeros(m)
        out = defaultdict(float)
        for (a, z), w in counts.items():
            out[a] += w
        for (a, z), w in counts.items():
            if out[a] == 0:
                continue
            p = w / out[a]
            if z == "conv":
                b[idx[a]] += p
            elif z == "null" or (removed is not None and removed in z):
                continue
            else:
                Q[idx[a], idx[z]] += p
        x = np.linalg.solve(np.eye(m) - Q, b)
        return x[0]

    total = p_conv(None)
    return {c: 1 - p_conv(c) / total for c in channels}, total


def shapley_permutations(rows):
    """rows: (path, conversions). Shapley by enumerating every order of the channels."""
    channels = sorted({c for path, _ in rows for c in path})

    def v(coalition):
        return sum(conv for path, conv in rows if set(path) <= coalition)

    return _average_over_orders(channels, v)


def _average_over_orders(channels, v):
    """Shapley values of ``v`` by walking every order of the channels."""
    phi = defaultdict(float)
    perms = list(itertools.permutations(channels))
    for perm in perms:
        s = set()
        for c in perm:
            before = v(s)
            s.add(c)
            phi[c] += v(s) - before
    assert len(perms) == factorial(len(channels))
    return {c: phi[c] / len(perms) for c in channels}


def shapley_rate_permutations(rows):
    """rows: (path, conversions, nulls). Conversion-rate Shapley × journeys by enumerating every
    order: v(S) = conversions / journeys over the journeys whose channel set ⊆ S (0 if none)."""
    channels = sorted({c for path, _, _ in rows for c in path})

    def v(coalition):
        inside = [(conv, null) for path, conv, null in rows if set(path) <= coalition]
        journeys = sum(c + n for c, n in inside)
        return sum(c for c, _ in inside) / journeys if journeys else 0.0

    total = sum(c + n for _, c, n in rows)
    return {c: phi * total for c, phi in _average_over_orders(channels, v).items()}


def oracle_paths(rows: list[dict], cfg, conversion) -> tuple[dict, dict]:
    """The journey rules, literally: one customer at a time, in event order. Returns the
    path counts and the time-decay credits (weights 2^(-days before conversion / h)).
    With ``cfg.direct == "ignore_unless_alone"`` each journey, once formed, loses its direct
    touchpoints unless it has nothing else (:func:`ga4_direct`)."""
    out: Counter = Counter()
    decay: Counter = Counter()
    lookback = timedelta(days=cfg.lookback_days)
    for cust in sorted({r["customer_id"] for r in rows}):
        mine = [r for r in rows if r["customer_id"] == cust]
        stream = sorted((r for r in mine if r["event_type"] in conversion.event_types
                         or r["event_type"] not in cfg.exclude_event_types),
                        key=lambda r: (r["occurred_at"], r["event_id"]))
        segments: list[list[dict]] = [[]]
        convs: list[datetime] = []
        for r in stream:
            if r["event_type"] in conversion.event_types:
                convs.append(r["occurred_at"])
                # a web/app conversion that opens its session is that session's touch (ADR 0058)
                web = r["online"] and r["session_id"] is not None
                if web and not any(x["online"] and x["session_id"] == r["session_id"] for x in segments[-1]):
                    segments[-1].append(r)
                segments.append([])
            else:
                segments[-1].append(r)
        for k, seg in enumerate(segments):
            if cfg.one_touch_per_session:
                seen, kept = set(), []
                for r in seg:
                    if r["online"] and r["session_id"] is not None:
                        if r["session_id"] in seen:
                            continue
                        seen.add(r["session_id"])
                    kept.append(r)
                seg = kept
            conv_at = convs[k] if k < len(convs) else None
            credited = [r for r in seg if conv_at is not None and r["occurred_at"] >= conv_at - lookback]
            journeys_run = credited
            if credited:
                credited = ga4_direct(credited, cfg)
                out[(tuple(r["channel"] for r in credited), "conv")] += 1
                days = [(conv_at - r["occurred_at"]).total_seconds() / 86400 for r in credited]
                w = [2 ** (-d / cfg.half_life_days) for d in days]
                for r, x in zip(credited, w, strict=True):
                    decay[r["channel"]] += x / sum(w)
            runs: list[list[dict]] = []
            for r in (r for r in seg if r not in journeys_run):
                if not runs or r["occurred_at"] - runs[-1][-1]["occurred_at"] > lookback:
                    runs.append([])
                runs[-1].append(r)
            for run_ in runs:
                out[(tuple(x["channel"] for x in ga4_direct(run_, cfg)), "null")] += 1
    return dict(out), dict(decay)




def ga4_direct(journey: list[dict], cfg) -> list[dict]:
    """GA4's convention on one journey: drop direct touchpoints unless nothing else is there."""
    if cfg.direct == "credit":
        return journey
    others = [r for r in journey if r["channel"] not in cfg.direct_channels]
    return others or journey
