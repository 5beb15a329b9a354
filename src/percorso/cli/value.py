"""CLI commands: RFM, churn, cohorts; the CLV and segment groups live in value_clv / value_segments.

Every value command has the same faces as the journey commands: ``--format`` and ``--out``
for the table, ``--chart`` for the figure, ``--customers KEY=VALUE`` for the customers behind
one row (``--limit`` / ``--offset`` page through them) and ``--segment`` to keep only the
members of a saved segment.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project
from percorso.cli.journey_options import ChartOpt, SegmentOpt

LimitOpt = Annotated[int, typer.Option("--limit", help="Clienti per pagina / customers per page (drill-down).")]
OffsetOpt = Annotated[int, typer.Option("--offset", help="Primo cliente / first customer (drill-down).")]
AsOfOpt = Annotated[datetime | None, typer.Option("--as-of", help="Data di riferimento / reference day (YYYY-MM-DD).",
                                                   formats=["%Y-%m-%d"])]


def drill_opt(example: str) -> Any:
    """The ``--customers`` option with this command's selector in the help."""
    return typer.Option("--customers", help=f"Clienti dietro una riga / customers behind one row: '{example}'.")


def run_value(project: Path, query: Any) -> Any:
    """Run a value analysis with the project's settings."""
    from percorso.analysis.base import run

    p = open_cli_project(project)
    return run(p.engine, query, p.settings)


def show_result(res: Any, fmt: OutputFormat, out: Path | None, chart: Path | None, drill: str | None,
                limit: int, offset: int, title: str) -> None:
    """Write the chart, then print the drill-down page or the main table."""
    from percorso.cli.common import console, write_figure
    from percorso.cli.paths import parse_selector

    if chart is not None:
        write_figure(res.figure(), chart)
    if drill:
        frame = res.customers(limit=limit, offset=offset, **parse_selector(drill))
        emit_frame(frame, fmt, out, title=f"clienti / customers: {drill}")
        console().print("scheda / profile: percorso customer show ID")
    else:
        from percorso.build.definitions import titled

        emit_frame(res.to_frame(), fmt, out, title=titled(title, res.meta.get("definitions")))


def warn(lines: list[str]) -> None:
    """Print warnings (e.g. a badly identified fit) on stderr."""
    from percorso.cli.common import console

    for w in lines:
        console().print(f"[yellow]attenzione / warning:[/yellow] {w}", markup=True, highlight=False)


def warn_stale(engine: Any, *artefacts: str) -> None:
    """Warn when a stored artefact no longer describes the built data (a failed refresh or a
    ``build --no-refresh``), with the command that brings it up to date."""
    from percorso.value.artefacts import stale

    marks = stale(engine)
    fix = {"clv": "percorso clv fit", "personas": "percorso personas", "segments": "percorso segment refresh"}
    warn([f"{a} non aggiornato / not refreshed {marks[a]}; run `{fix.get(a.split(':')[0], 'percorso segment refresh')}`"
          " or `percorso build`" for a in artefacts if a in marks])


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    from percorso.cli import value_clv, value_segments

    value_clv.register(app)
    value_segments.register(app)

    @app.command("rfm")
    def rfm_cmd(
        as_of: AsOfOpt = None, segment: SegmentOpt = None,
        drill: Annotated[str | None, drill_opt("segment=Lost")] = None, limit: LimitOpt = 100, offset: OffsetOpt = 0,
        chart: ChartOpt = None, project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
    ) -> None:
        """Segmenti RFM: clienti, valore e canali per segmento (RFM segments, online vs store)."""
        from percorso.value.rfm import RFMQuery

        res = run_value(project, RFMQuery(as_of=as_of.date() if as_of else None, segment=segment))
        show_result(res, fmt, out, chart, drill, limit, offset, "RFM")

    @app.command("churn")
    def churn_cmd(
        segment: SegmentOpt = None,
        drill: Annotated[str | None, drill_opt("risk_level=high")] = None, limit: LimitOpt = 100,
        offset: OffsetOpt = 0, chart: ChartOpt = None, project: ProjectOpt = Path("."),
        fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Rischio di abbandono e CLV a rischio (churn risk and CLV at stake); run `clv fit` first.

        Livelli / levels: P(alive) = min(modello BG/NBD, ritmo: si dimezza a ogni intervallo medio di
        silenzio oltre il solito / halves with each mean gap of silence past the usual one);
        high < 0.3 ≤ medium < 0.6 ≤ low.
        """
        from percorso.value.churn import ChurnQuery

        show_result(run_value(project, ChurnQuery(segment=segment)), fmt, out, chart, drill, limit, offset, "churn")

    @app.command("cohorts")
    def cohorts_cmd(
        by: Annotated[str, typer.Option(help="month | channel")] = "month",
        metric: Annotated[str, typer.Option(help="Heatmap: retention | cum_revenue_per_customer.")] = "retention",
        segment: SegmentOpt = None,
        drill: Annotated[str | None, drill_opt("cohort=2024-01,period=3")] = None, limit: LimitOpt = 100,
        offset: OffsetOpt = 0, chart: ChartOpt = None, project: ProjectOpt = Path("."),
        fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Coorti di acquisizione: retention e ricavo cumulato (acquisition cohorts and retention)."""
        from percorso.cli.common import write_figure
        from percorso.value.cohorts import CohortQuery

        res = run_value(project, CohortQuery(by=by, segment=segment))  # type: ignore[arg-type]
        if chart is not None:
            write_figure(res.figure(metric), chart)
        show_result(res, fmt, out, None, drill, limit, offset, f"cohorts by {by}")
