"""CLI command: friction (touchpoints and transitions that convert worse, loops, cross-channel chains)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt
from percorso.cli.journey_options import (
    ChartOpt, CleanOpt, CollapseOpt, ExcludeOpt, FromOpt, LimitOpt, NodeOpt, OffsetOpt, OnlineOpt, ScopeOpt, SegmentOpt,
    ToOpt, journey_controls,
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("friction")
    def friction_cmd(
        project: ProjectOpt = Path("."),
        min_journeys: Annotated[int, typer.Option("--min-journeys", help="Percorsi minimi per voce / minimum "
                                                  "journeys per item.")] = 20,
        top: Annotated[int, typer.Option("--top", help="Voci mostrate / items shown.")] = 20,
        loop_min: Annotated[int, typer.Option("--loop-min", help="Ripetizioni di fila per un ciclo / repeats in a "
                                              "row that make a loop.")] = 2,
        chain_days: Annotated[int, typer.Option("--chain-days", help="Giorni di una catena / days a chain may span.")] = 30,
        outbound: Annotated[bool, typer.Option("--outbound/--no-outbound", help=(
            "Mostra a parte le azioni dell'azienda (email_sent, ad_impression…; mai nella classifica) / "
            "show the company's outbound actions in a table of their own (never ranked with the customer's "
            "steps)."))] = True,
        date_from: FromOpt = None, date_to: ToOpt = None, node: NodeOpt = "event", scope: ScopeOpt = "customer",
        clean: CleanOpt = None, collapse: CollapseOpt = False, exclude: ExcludeOpt = None, segment: SegmentOpt = None,
        online: OnlineOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None, chart: ChartOpt = None,
        drill: Annotated[str | None, typer.Option("--customers", help="Clienti / customers: 'node=checkout_error', "
                                                  "'loop=call', 'chain=…' or 'outbound=email_sent'.")] = None,
        limit: LimitOpt = 1000, offset: OffsetOpt = 0,
    ) -> None:
        """Punti di attrito / where journeys convert worse than comparable ones, loops and chains."""
        from percorso.cli.paths import run_journey_analysis
        from percorso.journeys.friction import FrictionQuery

        q = FrictionQuery(min_journeys=min_journeys, top=top, loop_min=loop_min, chain_days=chain_days, outbound=outbound,
                          **journey_controls(date_from=date_from, date_to=date_to, node=node, scope=scope, clean=clean,
                                             collapse=collapse, exclude=exclude, segment=segment, online=online))
        run_journey_analysis(project, q, fmt, out, chart, drill, "punti di attrito / friction points",
                             limit=limit, offset=offset)
