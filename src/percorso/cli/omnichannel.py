"""CLI command: omnichannel (channel mix, before the first purchase, ROPO, switches, stores)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt
from percorso.cli.journey_options import ChartOpt, FromOpt, LimitOpt, OffsetOpt, SegmentOpt, ToOpt


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("omnichannel")
    def omnichannel_cmd(
        project: ProjectOpt = Path("."),
        research_days: Annotated[int, typer.Option("--research-days", help="Giorni di ricerca prima dell'acquisto "
                                                   "/ days of research before a purchase.")] = 30,
        date_from: FromOpt = None, date_to: ToOpt = None, segment: SegmentOpt = None,
        fmt: FormatOpt = OutputFormat.table, out: OutOpt = None, chart: ChartOpt = None,
        drill: Annotated[str | None, typer.Option("--customers", help="Clienti / customers: 'mix=omnichannel', "
                                                  "'ropo=online_to_store' or 'store=MI01'.")] = None,
        limit: LimitOpt = 1000, offset: OffsetOpt = 0,
    ) -> None:
        """Online e negozio insieme / how online and stores work together (ROPO, mix, stores)."""
        from percorso.cli.paths import run_journey_analysis
        from percorso.journeys.omnichannel import OmnichannelQuery

        q = OmnichannelQuery(research_days=research_days, segment=segment,
                             date_from=date_from.date() if date_from else None,
                             date_to=date_to.date() if date_to else None)
        run_journey_analysis(project, q, fmt, out, chart, drill, "clienti per mix di canali / customers by channel mix",
                             limit=limit, offset=offset)
