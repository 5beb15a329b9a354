"""CLI command: funnel STEP STEP … [--window 7d]."""

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

    @app.command("funnel")
    def funnel_cmd(
        steps: Annotated[list[str], typer.Argument(help="Passi (2–10), 'a|b' per alternative / funnel steps.")],
        project: ProjectOpt = Path("."),
        window: Annotated[str, typer.Option("--window", help="Finestra di conversione / window: 30m, 12h, 7d, 2w.")] = "30d",
        order: Annotated[str, typer.Option("--order", help="ordered | strict | any.")] = "ordered",
        exclude_step: Annotated[list[str] | None, typer.Option(
            "--exclude-step", help="NODO:I:J esclude chi fa NODO tra i passi I e J / exclusion (repeatable).")] = None,
        breakdown: Annotated[str | None, typer.Option("--breakdown", help="Suddividi per / break down by: channel, "
                                                      "campaign, store, property:KEY…")] = None,
        attribution: Annotated[str, typer.Option("--attribution", help="first_touch | last_touch | step:N.")] = "first_touch",
        dropped: Annotated[int | None, typer.Option("--dropped", help="Clienti usciti al passo N / customers who "
                                                    "dropped off at step N.")] = None,
        date_from: FromOpt = None, date_to: ToOpt = None, node: NodeOpt = "event", scope: ScopeOpt = "customer",
        clean: CleanOpt = None, collapse: CollapseOpt = False, exclude: ExcludeOpt = None, segment: SegmentOpt = None,
        online: OnlineOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None, chart: ChartOpt = None,
        limit: LimitOpt = 1000, offset: OffsetOpt = 0,
    ) -> None:
        """Funnel: conversione passo per passo e chi abbandona / step conversion and drop-offs."""
        from percorso.cli.paths import run_journey_analysis
        from percorso.journeys.funnel import FunnelQuery

        exclusions = []
        for item in exclude_step or []:
            node_name, _, rest = item.partition(":")
            i, _, j = rest.partition(":")
            if not (node_name and i.isdigit() and j.isdigit()):
                raise typer.BadParameter(f"--exclude-step {item!r}: expected NODE:I:J, e.g. checkout_error:2:3")
            exclusions.append((node_name, int(i), int(j)))
        q = FunnelQuery(steps=tuple(steps), window=window, order=order, exclusions=tuple(exclusions),
                        breakdown=breakdown, breakdown_attribution=attribution, **journey_controls(
                            date_from=date_from, date_to=date_to, node=node, scope=scope, clean=clean,
                            collapse=collapse, exclude=exclude, segment=segment, online=online))
        drill = f"step={dropped},dropped=1" if dropped else None
        run_journey_analysis(project, q, fmt, out, chart, drill, "funnel", limit=limit, offset=offset,
                             labels=(*(n for step in steps for n in step.split("|")), *(x[0] for x in exclusions)),
                             what="funnel step")
