"""``refresh_after_build``: recompute the stored value artefacts when a build changed the data.

Why: CLV fits, personas and segment membership are stored so that the dashboard, the
segments and the exports read them without recomputing; left alone they describe the data
of the day they were computed. DESIGN and issue 5 ask for "data-driven buyer personas,
refreshed on rebuild", so ``percorso build`` ends by recomputing what the project already
has, the way it was last computed:

1. **CLV** (when ``clv_models`` holds a fit): refitted with the settings stored with the last
   fit, on every order up to the new last order day, so the calibration end moves with the
   data; ``customer_value`` is rewritten.
2. **Personas** (when ``customer_personas`` exists): clustered again with the settings of the
   last run (``persona_runs``: k or silhouette, seed, sample), after the CLV refit because the
   cards read CLV and churn risk. Each new cluster keeps the number of the stored persona it
   matches (:mod:`percorso.value.personas_numbering`), so segment rules on ``persona`` keep
   their meaning.
3. **Segments** (every stored one): membership recomputed, one size point per refresh, after
   the two above because a rule may use CLV or personas.
4. **Attribution journeys** (when some are stored, :mod:`percorso.attribution.stored`): every
   journey shape an answer asked for is computed again on the new data (ADR 0038), so the
   Attribuzione e ROI page's next opening reads them instead of computing them.

Nothing is computed for a project that has none of them, and nothing when the built tables
did not change since the last refresh (a second ``build`` with no new events adds no CLV fit
and no segment point: rebuilding is idempotent). A step that fails (too few buyers for a
fit, too few customers to cluster, a rule whose fields are gone) never fails the build: the
old artefact stays, is marked stale with the reason (:mod:`percorso.value.artefacts`), and
the build prints a warning; the next build that changes the data tries again (the same
computation on the same data would fail the same way). ``build --no-refresh`` skips the
work and marks what it skipped as stale.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from percorso.value.artefacts import DEFAULT_RUN, clear_stale, last_persona_run, mark_stale, stale

if TYPE_CHECKING:
    from percorso.engine import Engine
    from percorso.project import Project

Progress = Callable[[str], None]

REFRESHES = "value_refreshes"
#: :data:`percorso.attribution.stored.INDEX` (named here: that module is loaded only when it exists)
ATTRIBUTION_INDEX = "attribution_stored"
_REFRESHES = (("refreshed_at", "TIMESTAMP"), ("data_version", "VARCHAR"), ("outcome", "VARCHAR"))
#: keeps the sums of hashes far from BIGINT overflow at billions of rows


@dataclass
class RefreshReport:
    """What the refresh after a build did.

    ``skipped``: why nothing was computed (no artefacts, data unchanged, ``--no-refresh``), or
    ``None``. ``refreshed``: artefact → what it is now (calibration end, k, segment sizes).
    ``stale``: artefact → why it does not describe the built data. ``warnings``: the fits'
    own warnings (e.g. a CLV optimiser that stopped early).
    """

    skipped: str | None = None
    refreshed: dict[str, str] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the build summary, Italian / English."""
        if self.skipped:
            return f"valore / value: non aggiornato / not refreshed ({self.skipped})"
        done = "; ".join(f"{k}: {v}" for k, v in self.refreshed.items()) or "-"
        out = f"valore aggiornato / value refreshed ({self.seconds:.1f} s): {done}"
        if self.stale:
            out += " | NON aggiornato / stale: " + "; ".join(f"{k}: {v}" for k, v in self.stale.items())
        return out


def present_artefacts(engine: Engine) -> list[str]:
    """The artefacts this project has stored, in refresh order."""
    from percorso.value.artefacts import PERSONAS_TABLE   # not the personas module: it loads Ibis

    out = []
    # one catalog query for the four names (after every build, usually none of them is there)
    stored = engine.existing(("clv_models", PERSONAS_TABLE, "segments", ATTRIBUTION_INDEX))
    if "clv_models" in stored and engine.count("clv_models"):
        out.append("clv")
    if PERSONAS_TABLE in stored:
        out.append("personas")
    if "segments" in stored and engine.count("segments"):
        out.append("segments")
    # the store's index first: its module loads the attribution analyses (Ibis, pandas: ~1 s in
    # a fresh process), which a build of a project without stored journeys does not need
    if ATTRIBUTION_INDEX in stored:
        from percorso.attribution.stored import held

        if held(engine):
            out.append("attribution")
    return out


def data_version(engine: Engine) -> str:
    """A fingerprint of the built tables' content: equal fingerprints, equal artefacts.

    Counts alone miss an identity merge that moves events between customers, so each table
    also contributes a sum of row hashes over its identifying columns; new channel, stage or
    session rules change the build settings fingerprint. The build stores these sums
    (``build_digest``) as it writes; without them (tables written otherwise) they are
    computed here, one scan per table.
    """
    from percorso.build.digest import DIGEST_COLUMNS, read_digests, table_digest

    stored = read_digests(engine)
    parts: dict[str, Any] = {}
    for name in DIGEST_COLUMNS:
        if not engine.has_table(name):
            parts[name] = None
            continue
        n, h, c = stored.get(name) or table_digest(engine, engine.table(name), name)
        parts[name] = [n, h]
        if name == "orders":
            parts["revenue_cents"] = c
    # channel, stage and session rules rewrite columns the artefacts read (channel mix, stage)
    # without moving a row: the build settings fingerprint covers them
    from percorso.engine import build_sql

    parts["build_settings"] = build_sql.read_fingerprint(engine)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _prune_stale(engine: Engine, have: list[str]) -> None:
    """Forget the marks of artefacts that are gone (a deleted segment, dropped personas)."""
    from percorso.value.segments.store import segment_names

    names = set(segment_names(engine)) if "segments" in have else set()
    gone = [a for a in stale(engine)
            if (a.split(":", 1)[1] not in names if a.startswith("segment:") else a not in have)]
    if gone:
        clear_stale(engine, *gone)


def _last_version(engine: Engine) -> str | None:
    from percorso.engine.build_sql import latest_data_version

    # engine SQL, not an Ibis expression: after an incremental build this is the only read,
    # and loading Ibis and pandas for it cost more than the build's own Python
    return latest_data_version(engine, REFRESHES) if engine.has_table(REFRESHES) else None


def _log(engine: Engine, version: str, report: RefreshReport) -> None:
    engine.create_empty_table(REFRESHES, _REFRESHES, replace=False)
    engine.insert_row(REFRESHES, {"refreshed_at": datetime.now(UTC).replace(tzinfo=None), "data_version": version,
                                  "outcome": json.dumps(report.to_dict(), default=str)})


def _refit_clv(project: Project, report: RefreshReport) -> None:
    from percorso.value.clv.pipeline import fit_clv, load_models

    last = load_models(project.engine)
    fit = fit_clv(project.engine, last.settings, privacy=project.settings)  # calibration end: the new last order day
    report.refreshed["clv"] = (f"calibration end {fit.calibration_end} (was {last.calibration_end}), "
                               f"horizon {fit.settings.horizon_months} months")
    report.warnings += [f"clv: {w}" for w in fit.bg.warnings_ + fit.gg.warnings_]


def _recluster(project: Project, report: RefreshReport) -> None:
    from percorso.analysis.base import run
    from percorso.value.personas import PersonasQuery

    r = last_persona_run(project.engine) or DEFAULT_RUN
    res = run(project.engine, PersonasQuery(k=r.k_requested, seed=r.seed, sample=r.sample), project.settings)
    how = "by silhouette" if r.k_requested is None else "as requested"
    numbering = "".join(f"; {line}" for line in res.meta.get("numbering") or [])
    report.refreshed["personas"] = f"k = {res.meta['k']} ({how}), seed {r.seed}{numbering}"


def _refresh_segments(project: Project, report: RefreshReport) -> None:
    from percorso.value.segments.store import refresh_segment, segment_names

    sizes = []
    for name in segment_names(project.engine):
        try:
            sizes.append(f"{name} {refresh_segment(project.engine, name, project.settings)['size']}")
        except Exception as exc:  # noqa: BLE001 - one bad rule must not stop the others
            reason = _reason(exc)
            mark_stale(project.engine, f"segment:{name}", reason)
            report.stale[f"segment:{name}"] = reason
    clear_stale(project.engine, "segments")  # each failed one keeps its own mark
    if sizes:
        report.refreshed["segments"] = ", ".join(sizes)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _restore_journeys(project: Project, report: RefreshReport) -> None:
    from percorso.attribution.stored import refresh

    report.refreshed["attribution"] = refresh(project.engine, project.settings)


_STEPS: dict[str, Callable[[Project, RefreshReport], None]] = {
    "clv": _refit_clv, "personas": _recluster, "segments": _refresh_segments, "attribution": _restore_journeys,
}


def refresh_after_build(project: Project, *, enabled: bool = True, progress: Progress | None = None,
                        only: tuple[str, ...] | None = None) -> RefreshReport:
    """Recompute the stored artefacts if the built data changed; never raises for a failed step.

    Parameters
    ----------
    project
        The open project, after ``run_build``.
    enabled
        ``False`` (``build --no-refresh``): compute nothing, mark what would have been
        recomputed as stale so every reader can say so.
    progress
        Called with a short description of each step.
    only
        Recompute just these artefacts (the collector's micro-batches refresh ``segments``
        every few seconds); the others are marked stale and the version is not logged, so
        the next full refresh recomputes them.
    """
    say = progress or (lambda _m: None)
    engine = project.engine
    t0 = time.perf_counter()
    report = RefreshReport()
    have = present_artefacts(engine)
    version = data_version(engine)
    if not have:
        # the version is still logged: an artefact computed by hand after this build then
        # describes this version, and the next build leaves it alone unless the data changes
        report.skipped = "nessun artefatto / no stored CLV, personas or segments"
        _log(engine, version, report)
        return report
    _prune_stale(engine, have)
    if version == _last_version(engine):
        # the artefacts were refreshed (or failed) on exactly this data: the same computation
        # again would give the same result; a failed one is redone by hand or by the next
        # build that changes the data
        report.skipped = "dati invariati / built data unchanged since the last refresh"
        report.stale = stale(engine)
        return report
    if not enabled:
        for a in have:
            mark_stale(engine, a, "build --no-refresh")
        report.skipped = "build --no-refresh"
        report.stale = {a: reason for a, reason in stale(engine).items()}
        return report
    if only is not None:
        for a in have:
            if a not in only:
                mark_stale(engine, a, "live micro-batch: refreshed by the next percorso build")
        have = [a for a in have if a in only]
    for a in have:
        say(f"aggiornamento / refreshing {a}")
        try:
            _STEPS[a](project, report)
        except Exception as exc:  # noqa: BLE001 - a failed refresh warns, it never fails the build
            reason = _reason(exc)
            mark_stale(engine, a, reason)
            report.stale[a] = reason
    # a stale mark from an older failure is kept only if this refresh did not redo the artefact
    report.stale.update({a: r for a, r in stale(engine).items() if a not in report.stale})
    report.seconds = round(time.perf_counter() - t0, 3)
    if only is None:
        _log(engine, version, report)
    return report


__all__ = ["RefreshReport", "data_version", "present_artefacts", "refresh_after_build"]
