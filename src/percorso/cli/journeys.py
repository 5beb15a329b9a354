"""CLI command: journey-map (stage × channel, stage conversion, time in stage, mix over time)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
        as_map = out is not None and out.suffix.lower() == ".xlsx" and not long and not drill
        if not as_map and (long or drill or fmt is not OutputFormat.table or out is not None):
            run_journey_analysis(project, q, fmt, out, chart, drill, "mappa del percorso / journey map",
                                 limit=limit, offset=offset)
            return
        with open_cli_project(project, read_only=True) as p:
            result = run(p.engine, q, p.settings)
        if chart is not None:
            write_figure(result.figure(), chart)
        if as_map:
            write_map_workbook(result, out)
            return
        matrix = result.pivot(measure).reset_index()
        emit_frame(matrix, fmt, None, like=matrix_like(measure, matrix),
                   title=f"fase × canale / stage × channel: {measure} (attrito / friction: percorso journey-map --long)")
        friction = result.frame[result.frame["friction"]]
        if not friction.empty:
            emit_frame(friction, fmt, None, title="⚠ attrito / friction cells")
        for section, frame in result.sections().items():
            emit_frame(frame, fmt, None, title=section)


def matrix_like(measure: str, matrix: Any) -> dict[str, str]:
    """Every channel column of a stage × channel matrix holds ``measure`` (a count, a share, days)."""
    return {str(c): measure for c in matrix.columns if c != "stage"}


def write_map_workbook(result: Any, out: Path) -> None:
    """``journey-map --out FILE.xlsx``: the map as a map, one sheet per measure (stage rows ×
    channel columns, a colour scale from light to dark), then the long table with friction."""
    from percorso.cli.common import console, output_locale, shown_path
    from percorso.export.columns import column_label
    from percorso.export.xlsx import Sheet, write_workbook

    locale = output_locale()
    sheets = []
    for measure in MEASURES:
        matrix = result.pivot(measure).reset_index()
        sheets.append(Sheet(column_label(measure, locale), matrix, matrix_like(measure, matrix), heatmap=True))
    sheets.append(Sheet("dati" if locale == "it" else "data", result.frame))
    write_workbook(out, sheets, locale=locale)
    console().print(f"[green]scritto / written[/green] {shown_path(out)} (mappa / map: {len(MEASURES)} fogli / sheets + dati)")
