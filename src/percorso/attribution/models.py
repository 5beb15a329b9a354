"""The family of attribution models, registered by subclassing (``lookup_name``).

Why a registry: the CLI (``--models first,last,markov``), the API and plugins all name
models the same way; adding a model is one subclass, never an if-chain. Each model credits a
:class:`~percorso.attribution.paths.PathTable` and returns an ``(n_nodes, 3)`` matrix
(conversions, value, new customers).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from percorso.attribution import markov, rules, shapley
from percorso.attribution.paths import PathTable
from percorso.errors import InputError, suggest

MODELS: dict[str, type[AttributionModel]] = {}


class AttributionModel:
    """Base: hyperparameters in ``__init__``, credits in :meth:`credit`."""

    lookup_name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    needs_times: ClassVar[bool] = False
    #: Part of ``--models all`` (the side-by-side comparison and its spread).
    in_all: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.lookup_name:
            MODELS[cls.lookup_name] = cls

    def __init__(self, **params: Any) -> None:
        self.params = params

    def credit(self, paths: PathTable) -> np.ndarray:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.lookup_name, **self.params}


class FirstTouch(AttributionModel):
    lookup_name, label = "first", "first touch"

    def credit(self, paths: PathTable) -> np.ndarray:
        return rules.first_touch(paths)


class LastTouch(AttributionModel):
    lookup_name, label = "last", "last touch"

    def credit(self, paths: PathTable) -> np.ndarray:
        return rules.last_touch(paths)


class LastNonDirect(AttributionModel):
    lookup_name, label = "last_non_direct", "last non-direct touch"

    def credit(self, paths: PathTable) -> np.ndarray:
        return rules.last_non_direct(paths, self.params.get("direct_channels", ("Direct",)))


class Linear(AttributionModel):
    lookup_name, label = "linear", "linear"

    def credit(self, paths: PathTable) -> np.ndarray:
        return rules.linear(paths)


class TimeDecay(AttributionModel):
    """Engine-side on real journeys; positional (one step = one day) on path files."""

    lookup_name, label, needs_times = "time_decay", "time decay", True

    def credit(self, paths: PathTable) -> np.ndarray:
        return rules.time_decay_positional(paths, self.params.get("half_life_days", 7.0))


class PositionBased(AttributionModel):
    lookup_name, label = "position", "position-based"

    def credit(self, paths: PathTable) -> np.ndarray:
        return rules.position_based(paths, self.params.get("first", 0.4), self.params.get("last", 0.4))


class Markov(AttributionModel):
    lookup_name, label = "markov", "Markov (exact)"

    def credit(self, paths: PathTable) -> np.ndarray:
        return markov.markov(paths, int(self.params.get("order", 1)))


class Shapley(AttributionModel):
    lookup_name, label = "shapley", "Shapley"

    def credit(self, paths: PathTable) -> np.ndarray:
        return shapley.shapley(paths, int(self.params.get("max_exact", 15)))


class ShapleyRate(AttributionModel):
    """Shapley over conversion *rates* (journeys without conversion count): an added option.

    Not in ``all``: its credits go negative for a channel that lowers the rate (on the demo
    Direct and Loyalty do), which would set the spread of every row it disagrees on, and its
    bit masks stop at 62 nodes, which a campaign level (``roi``) passes on real data. Asked for
    by name (``--models all,shapley_rate``), it runs and says so when the level is too fine.
    """

    lookup_name, label = "shapley_rate", "Shapley (conversion rate)"
    in_all = False

    def credit(self, paths: PathTable) -> np.ndarray:
        return shapley.shapley_rate(paths)


def parse_models(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"all"`` or a comma list → validated model names; ``all`` (alone or in a list) is every
    model with ``in_all``, in registry order."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    every = [m for m, cls in MODELS.items() if cls.in_all]
    if not names:
        return every
    names = [x for n in names for x in (every if n == "all" else [n])]
    aliases = {"first_touch": "first", "last_touch": "last", "position_based": "position",
               "lnd": "last_non_direct", "last-non-direct": "last_non_direct", "time-decay": "time_decay"}
    out = []
    for n in names:
        n = aliases.get(n, n)
        if n not in MODELS:
            raise InputError(f"unknown attribution model '{n}'; {suggest(n, list(MODELS) + ['all'])}",
                             code="model_unknown")
        if n not in out:
            out.append(n)
    return out


def column_name(model: str, order: int) -> str:
    return f"markov_{order}" if model == "markov" else model
