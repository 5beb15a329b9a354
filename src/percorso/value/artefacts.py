"""What the stored value artefacts need to be recomputed, and whether they still match the data.

Why: personas, CLV fits and segment membership are computed once and stored; ``percorso
build`` recomputes them (:mod:`percorso.value.refresh`), which needs the settings each was
computed with; and when a recomputation fails (too few buyers, too few distinct journeys)
the old artefact stays in place but must say that it no longer describes the data.

Tables (created on first use):

* ``persona_runs``: one row per stored personas run (history): ``computed_at``,
  ``k_requested`` (NULL = chosen by silhouette), ``k``, ``seed``, ``sample``, ``features``
  (JSON list), ``silhouette`` (JSON {k: score}), ``customers``. The CLV settings already
  live with each fit in ``clv_models``, the segment rules in ``segments``.
* ``persona_numbering``: per stored personas run (``computed_at``), one row per persona number:
  ``persona``, ``size_rank`` (1 = largest cluster of that run; NULL for a number left unused),
  ``status`` (``first``, ``kept``, ``new``, ``gone``: :mod:`percorso.value.personas_numbering`),
  ``distance`` (to the stored persona it kept the number of, in standard units).
* ``value_stale``: artefact, since, reason: one row per artefact that does not reflect the
  built data (a failed refresh, a ``build --no-refresh``). Computing the artefact again,
  by hand or at a build, removes its row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from percorso.value.personas_numbering import GONE, Numbering

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine import Engine

#: The personas of the customers (written by :mod:`percorso.value.personas`).
PERSONAS_TABLE = "customer_personas"
PERSONA_RUNS = "persona_runs"
NUMBERING = "persona_numbering"
STALE = "value_stale"
_RUNS = (("computed_at", "TIMESTAMP"), ("k_requested", "BIGINT"), ("k", "BIGINT"), ("seed", "BIGINT"),
         ("sample", "BIGINT"), ("features", "VARCHAR"), ("silhouette", "VARCHAR"), ("customers", "BIGINT"))
_NUMBERING = (("computed_at", "TIMESTAMP"), ("persona", "BIGINT"), ("size_rank", "BIGINT"), ("status", "VARCHAR"),
              ("distance", "DOUBLE"))
_STALE = (("artefact", "VARCHAR"), ("since", "TIMESTAMP"), ("reason", "VARCHAR"))


@dataclass(frozen=True)
class PersonaRun:
    """The settings and outcome of one stored personas run."""

    computed_at: datetime | None
    k_requested: int | None
    k: int | None
    seed: int
    sample: int
    features: list[str]
    silhouette: dict[int, float]
    customers: int | None


#: What a project whose personas were stored before runs were recorded is refreshed with:
#: the defaults of ``percorso personas`` (k by silhouette, seed 0).
DEFAULT_RUN = PersonaRun(None, None, None, 0, 50_000, [], {}, None)


def save_persona_run(engine: Engine, run: PersonaRun) -> None:
    """Append one run to ``persona_runs``."""
    import pyarrow as pa

    engine.create_empty_table(PERSONA_RUNS, _RUNS, replace=False)
    engine.append_arrow(PERSONA_RUNS, pa.table({
        "computed_at": pa.array([run.computed_at], pa.timestamp("us")),
        "k_requested": pa.array([run.k_requested], pa.int64()), "k": pa.array([run.k], pa.int64()),
        "seed": pa.array([run.seed], pa.int64()), "sample": pa.array([run.sample], pa.int64()),
        "features": [json.dumps(run.features)],
        "silhouette": [json.dumps({str(k): v for k, v in run.silhouette.items()})],
        "customers": pa.array([run.customers], pa.int64()),
    }))


def last_persona_run(engine: Engine) -> PersonaRun | None:
    """The latest stored run, or ``None`` when no run was recorded."""
    if not engine.has_table(PERSONA_RUNS):
        return None
    t = engine.table(PERSONA_RUNS)
    df = engine.execute(t.order_by(t.computed_at.desc()).limit(1))
    if df.empty:
        return None
    r = df.iloc[0]

    def _int(v: Any) -> int | None:
        return None if v is None or v != v else int(v)  # NULL arrives as None or NaN

    return PersonaRun(r["computed_at"].to_pydatetime(), _int(r["k_requested"]), _int(r["k"]), int(r["seed"]),
                      int(r["sample"]), list(json.loads(r["features"])),
                      {int(k): float(v) for k, v in json.loads(r["silhouette"]).items()}, _int(r["customers"]))


def save_numbering(engine: Engine, computed_at: datetime, numbering: Numbering) -> None:
    """Append how the personas of the run ``computed_at`` were numbered."""
    import pyarrow as pa

    k, gone = len(numbering.numbers), numbering.gone
    engine.create_empty_table(NUMBERING, _NUMBERING, replace=False)
    engine.append_arrow(NUMBERING, pa.table({
        "computed_at": pa.array([computed_at] * (k + len(gone)), pa.timestamp("us")),
        "persona": pa.array(numbering.numbers + gone, pa.int64()),
        "size_rank": pa.array(list(range(1, k + 1)) + [None] * len(gone), pa.int64()),
        "status": numbering.status + [GONE] * len(gone),
        "distance": pa.array(numbering.distance + [None] * len(gone), pa.float64()),
    }))


def load_numbering(engine: Engine, computed_at: Any) -> Numbering | None:
    """How the run ``computed_at`` was numbered, or ``None`` (a run stored before numbering)."""
    if not engine.has_table(NUMBERING):
        return None
    t = engine.table(NUMBERING)
    df = engine.execute(t.filter(t.computed_at == computed_at).order_by("size_rank"))
    if df.empty:
        return None
    gone = df["status"] == GONE
    used = df[~gone]
    return Numbering([int(n) for n in used["persona"]], list(used["status"]),
                     [None if d != d else float(d) for d in used["distance"]],  # NULL arrives as NaN
                     sorted(int(n) for n in df.loc[gone, "persona"]))


def mark_stale(engine: Engine, artefact: str, reason: str) -> None:
    """Record that ``artefact`` no longer reflects the data; the first reason is kept."""
    import pyarrow as pa

    engine.create_empty_table(STALE, _STALE, replace=False)
    if artefact in stale(engine):
        return
    engine.append_arrow(STALE, pa.table({"artefact": [artefact],
                                         "since": pa.array([datetime.now(UTC).replace(tzinfo=None)],
                                                           pa.timestamp("us")),
                                         "reason": [reason]}))


def clear_stale(engine: Engine, *artefacts: str) -> None:
    """Forget the stale marks of ``artefacts`` (they were just computed again)."""
    if not engine.has_table(STALE):
        return
    t = engine.table(STALE)
    if engine.scalar(t.filter(t.artefact.isin(artefacts)).count()):
        engine.create_table(STALE, engine.to_arrow(t.filter(~t.artefact.isin(artefacts))))


def stale(engine: Engine) -> dict[str, str]:
    """Stale artefacts now: name → "since <time>: <reason>"."""
    if not engine.has_table(STALE):
        return {}
    df = engine.execute(engine.table(STALE).order_by("artefact"))
    return {r.artefact: f"since {r.since:%Y-%m-%d %H:%M:%S} UTC: {r.reason}" for r in df.itertuples()}


__all__ = ["DEFAULT_RUN", "PersonaRun", "clear_stale", "last_persona_run", "load_numbering", "mark_stale",
           "save_numbering", "save_persona_run", "stale"]
