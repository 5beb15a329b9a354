"""Slow, obviously-correct pure-Python versions of every model (test oracles)."""

from __future__ import annotations

import itertools
from collections import defaultdict
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
