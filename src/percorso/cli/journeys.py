"""CLI command: journey-map (stage × channel, stage conversion, time in stage, mix over time)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt
from percorso.cli.journey_options import ChartOpt, FromOpt, LimitOpt, OffsetOpt, SegmentOpt, ToOpt


#: Measures of the stage × channel matrix printed in table mode.
MEASURES = ("customers", "touchpoints", "purchase_share", "median_days_to_next_stage")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("journey-map")
    def journey_map_cmd(
        project: ProjectOpt = Path("."),
        measure: Annotated[str, typer.Option("--measure", help="Tabella fase × canale di / matrix of: customers, "
                                             "touchpoints, purchase_share, median_days_to_next_stage.")] = "customers",
        min_customers: Annotated[int, typer.Option("--min-customers", help="Clienti minimi per segnalare attrito "
                                                   "/ customers needed to flag friction.")] = 20,
        period: Annotated[str, typer.Option("--period", help="week | month | quarter.")] = "month",
        long: Annotated[bool, typer.Option("--long", help="Righe fase, canale (non pivot) / long form.")] = False,
        date_from: FromOpt = None, date_to: ToOpt = None, segment: SegmentOpt = None,
        fmt: FormatOpt = OutputFormat.table, out: OutOpt = None, chart: ChartOpt = None,
        drill: Annotated[str | None, typer.Option("--customers", help="Clienti di una cella / customers of a cell, "
                                                  "e.g. 'stage=decision,channel=Email'.")] = None,
        limit: LimitOpt = 1000, offset: OffsetOpt = 0,
    ) -> None:
        """Mappa del percorso cliente dai dati / the customer journey map: stage × channel."""
        from percorso.analysis.base import run
        from percorso.cli.common import emit_frame, open_cli_project, write_figure
        from percorso.cli.paths import run_journey_analysis
        from percorso.journeys.journey_map import JourneyMapQuery

        if measure not in MEASURES:
            raise typer.BadParameter(f"--measure {measure!r}: use one of {', '.join(MEASURES)}")
        q = JourneyMapQuery(min_customers=min_customers, period=period, segment=segment,
                            date_from=date_from.date() if date_from else None,
                            date_to=date_to.date() if date_to else None)
        if long or drill or fmt is not OutputFormat.table or out is not None:
            run_journey_analysis(project, q, fmt, out, chart, drill, "mappa del percorso / journey map",
                                 limit=limit, offset=offset)
            return
        with open_cli_project(project, read_only=True) as p:
            result = run(p.engine, q, p.settings)
        if chart is not None:
            write_figure(result.figure(), chart)
        matrix = result.pivot(measure).reset_index()
        emit_frame(matrix, fmt, None, title=f"fase × canale / stage × channel: {measure} "
                                             "(attrito / friction: percorso journey-map --long)")
        friction = result.frame[result.frame["friction"]]
        if not friction.empty:
            emit_frame(friction, fmt, None, title="⚠ attrito / friction cells")
        for section, frame in result.sections().items():
            emit_frame(frame, fmt, None, title=section)
