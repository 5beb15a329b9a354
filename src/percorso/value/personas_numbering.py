"""Stable persona numbers: a new clustering keeps the numbers of the stored personas it matches.

Why: k-means numbers its clusters arbitrarily and :func:`percorso.value.personas.fit_personas`
orders them by size, so after ``percorso build`` re-clusters on new data the group that was
"persona 1" can come out second. A saved segment ``persona = 1``, an exported CSV and the
dashboard's labels would then silently point at other people. So a new run is matched to the
stored personas and keeps their numbers.

How: the stored personas are described by the centroids of their members *on today's
features* (the mean of each feature over the customers stored in each persona, one engine
aggregate), standardised like the new fit. That puts both sets of centroids in the space the
clustering uses, also when the data moved the most common stages or categories behind the
features, and needs nothing stored from the older run. The new centroids are matched to them by
minimum total Euclidean distance (``scipy.optimize.linear_sum_assignment``; a k×d matrix, so
this small step is plain numpy). A matched cluster takes the old number; a cluster with no match
(k grew) takes the smallest numbers the previous run did not use; a number whose cluster has no
match (k shrank) is left unused in this run. A first run is numbered by size (largest first).
Matching alone names the nearest new group after the old one; that the group holds the same
people comes from the clustering, which also starts from the stored centroids
(:func:`percorso.value.personas.fit_personas`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from percorso.engine import Engine

FIRST, KEPT, NEW, GONE = "first", "kept", "new", "gone"


@dataclass(frozen=True)
class Numbering:
    """The number of each new cluster (in the fit's size order) and how it was chosen.

    ``status[i]`` is ``first`` (no stored personas), ``kept`` (matched, ``distance[i]`` in
    standard units) or ``new``; ``gone`` lists the stored numbers left without a match.
    """

    numbers: list[int]
    status: list[str]
    distance: list[float | None]
    gone: list[int]

    def lines(self) -> list[str]:
        """One English sentence per number, e.g. "persona 2 kept its number (distance 0.08)"."""
        out = []
        for n, s, d in sorted(zip(self.numbers, self.status, self.distance, strict=True)):
            if s == KEPT:
                out.append(f"persona {n} kept its number (distance {d:.2f})")
            elif s == NEW:
                out.append(f"persona {n} is new")
        out += [f"persona {n} has no match in this run: number not used" for n in self.gone]
        return out


def first_numbering(k: int) -> Numbering:
    """Numbers 1..k in size order, for a first run."""
    return Numbering(list(range(1, k + 1)), [FIRST] * k, [None] * k, [])


def match_numbers(previous: dict[int, np.ndarray], centroids: np.ndarray,
                  used: set[int] | None = None) -> Numbering:
    """Number the rows of ``centroids`` after the closest ``previous`` personas.

    Parameters
    ----------
    previous
        Stored persona number → its centroid, in the same standard units as ``centroids``.
    centroids
        The new k×d centroids, largest cluster first.
    used
        Every number the previous run gave (default: those of ``previous``). A stored persona
        none of whose members has touchpoints today has no centroid, but its number is still
        the previous run's: it is reported ``gone``, never handed to a new cluster.
    """
    from scipy.optimize import linear_sum_assignment

    k = len(centroids)
    if not previous and not used:
        return first_numbering(k)
    old = sorted(previous)
    numbers: list[int | None] = [None] * k
    status, distance = [NEW] * k, [None] * k
    cost = (np.linalg.norm(np.stack([previous[n] for n in old])[:, None, :] - centroids[None, :, :], axis=2)
            if old else np.zeros((0, k)))
    rows, cols = linear_sum_assignment(cost)
    for r, c in zip(rows, cols, strict=True):
        numbers[c], status[c], distance[c] = old[r], KEPT, float(cost[r, c])
    taken = set(previous) | (used or set())
    free = (n for n in range(1, len(taken) + k + 1) if n not in taken)
    out = [n if n is not None else next(free) for n in numbers]
    gone = sorted(taken - set(out))
    return Numbering(out, status, distance, gone)


def stored_centroids(engine: Engine, stored: Table, features: Table, names: list[str]) -> dict[int, np.ndarray]:
    """Persona → the mean of ``names`` over its stored members present today (feature units;
    the caller standardises them like the new fit), by persona number."""
    j = features.join(stored.select("customer_id", "persona"), "customer_id")
    df = engine.execute(j.group_by("persona").aggregate(**{f: j[f].mean() for f in names}).order_by("persona"))
    return dict(zip(df["persona"].astype(int).tolist(), df[names].to_numpy(dtype="float64"), strict=True))


def stored_numbers(engine: Engine, stored: Table) -> set[int]:
    """Every persona number of the stored run, also one whose members have no touchpoints today."""
    return {int(n) for n in engine.execute(stored.select("persona").distinct())["persona"]}


__all__ = ["FIRST", "GONE", "KEPT", "NEW", "Numbering", "first_numbering", "match_numbers", "stored_centroids",
           "stored_numbers"]
