"""CLI commands: ``attribution`` (all models side by side) and ``roi`` (costs and returns)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame

ModelsOpt = Annotated[str, typer.Option("--models", "-m", help="Modelli / models: all, o lista: first,last,linear,markov…")]
OrderOpt = Annotated[int | None, typer.Option("--order", help="Ordine della catena di Markov (1-4) / Markov order.")]
ConvOpt = Annotated[str | None, typer.Option("--conversion", "-c", help="Conversione (da percorso.toml) / conversion name.")]
FromOpt = Annotated[datetime | None, typer.Option("--from", help="Dal giorno (incluso) / from date.", formats=["%Y-%m-%d"])]
ToOpt = Annotated[datetime | None, typer.Option("--to", help="Al giorno (incluso) / to date.", formats=["%Y-%m-%d"])]
# "\\[" keeps "[attribution]" literal: help text is Rich markup, which took it for a style and printed "Default: direct."
DirectOpt = Annotated[str | None, typer.Option(
    "--direct", help="Direct: ignore (GA4: conta solo se il percorso è tutto Direct) | credit (conta sempre). "
                     "Default: \\[attribution] direct in percorso.toml.")]


def _paths_settings(project_path: Path):  # type: ignore[no-untyped-def]
    """The project's settings for a ``--paths`` run, or ``None`` outside a project.

    Why: a path table carries its own journeys, so it needs no database (nor a built
    project); only the ``[attribution]`` settings (Direct convention, Markov order…) of a
    project folder, when there is one, still apply (and its locale formats the table).
    """
    from percorso.cli.common import open_cli_project
    from percorso.config import CONFIG_FILE

    if not (project_path / CONFIG_FILE).exists():
        return None
    return open_cli_project(project_path, read_only=True).settings  # the database is opened lazily: never here


def _print_notes(result) -> None:  # type: ignore[no-untyped-def]
    """The result's notes (``meta["notes"]``, in the project's language) under the table, on
    stderr: standard output keeps the table, CSV or JSON alone."""
    from percorso.cli.common import print_note

    for note in result.meta.get("notes", ()):
        print_note(note)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("attribution")
    def attribution(
        project: ProjectOpt = Path("."),
        models: ModelsOpt = "all",
        order: OrderOpt = None,
        conversion: ConvOpt = None,
        level: Annotated[str | None, typer.Option("--level", help="channel | campaign | source_medium | colonna del touchpoint (stage, store_id…) | property.<chiave> | più parti con + (channel+stage).")] = None,
        online_breakdown: Annotated[bool, typer.Option("--online-breakdown", help="Separa online/offline / split online vs offline.")] = False,
        lookback_days: Annotated[int | None, typer.Option("--lookback-days", help="Finestra in giorni / lookback window.")] = None,
        paths: Annotated[Path | None, typer.Option("--paths", help="Tabella di percorsi aggregata (formato ChannelAttribution).")] = None,
        ci: Annotated[bool, typer.Option("--ci", help="Intervalli bootstrap sui clienti / bootstrap CIs over customers.")] = False,
        ci_samples: Annotated[int, typer.Option("--ci-samples", help="Campioni bootstrap.")] = 200,
        measure: Annotated[str, typer.Option("--measure", help="conversions | value | new_customers")] = "conversions",
        direct: DirectOpt = None,
        date_from: FromOpt = None,
        date_to: ToOpt = None,
        fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
    ) -> None:
        """Attribuzione: tutti i modelli a confronto (first, last, linear, Markov esatto, Shapley…).

        Attribution: every model side by side, with the spread between models per node.
        ``--out FILE.html`` writes the grouped bar chart instead of the table.
        """
        from percorso.analysis.base import run
        from percorso.attribution.analysis import AttributionQuery
        from percorso.errors import InputError

        if measure not in ("conversions", "value", "new_customers"):
            raise InputError(f"unknown measure '{measure}'; valid: conversions, value, new_customers")
        query = AttributionQuery(
            models=tuple(models.split(",")), conversion=conversion, level=level, online_breakdown=online_breakdown,
            lookback_days=lookback_days, markov_order=order, ci_samples=ci_samples if ci else 0,
            paths_file=str(paths) if paths else None, direct=direct,
            date_from=date_from.date() if date_from else None, date_to=date_to.date() if date_to else None,
        )
        if paths is not None:
            from percorso.engine import Engine

            result = run(Engine(":memory:"), query, _paths_settings(project))
        else:
            from percorso.cli.common import open_cli_project

            with open_cli_project(project, read_only=True) as proj:
                result = run(proj.engine, query, proj.settings)
        from percorso.attribution.analysis import attribution_title
        from percorso.cli.common import console, output_locale

        if out is not None and out.suffix.lower() == ".html":
            result.figure(measure, output_locale()).write_html(str(out), include_plotlyjs=True)
            from percorso.cli.common import shown_path

            console().print(f"[green]scritto / written[/green] {shown_path(out)}")
            _print_notes(result)
            return
        frame = result.table(measure)  # nodes, then the not-attributable and total rows
        if ci and result.long is not None and "ci_low" in result.long:
            frame = result.long
        from percorso.build.definitions import titled

        money = {str(c): "revenue" for c in frame.columns if c != "node"} if measure == "value" and frame is not result.long else None
        emit_frame(frame, fmt, out, title=titled(attribution_title(measure, output_locale()),
                                                 result.meta.get("definitions")),
                   like=money)  # --measure value: a model's column in euros
        _print_notes(result)

    @app.command("roi")
    def roi(
        project: ProjectOpt = Path("."),
        campaign: Annotated[str | None, typer.Option("--campaign", help="Campagna / campaign name.")] = None,
        channel: Annotated[str | None, typer.Option("--channel", help="Canale / channel.")] = None,
        models: ModelsOpt = "all",
        order: OrderOpt = None,
        conversion: ConvOpt = None,
        direct: DirectOpt = None,
        date_from: FromOpt = None,
        date_to: ToOpt = None,
        fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
    ) -> None:
        """ROI, ROAS, CPA e CAC per canale e campagna, per ogni modello (in euro).

        Costs joined with the conversions, revenue and new customers each model credits.
        """
        from percorso.analysis.base import run
        from percorso.attribution.roi import RoiQuery
        from percorso.cli.common import open_cli_project

        query = RoiQuery(models=tuple(models.split(",")), conversion=conversion, campaign=campaign,
                         channel=channel, markov_order=order, direct=direct,
                         date_from=date_from.date() if date_from else None,
                         date_to=date_to.date() if date_to else None)
        with open_cli_project(project, read_only=True) as proj:
            result = run(proj.engine, query, proj.settings)
        from percorso.cli.common import output_locale

        if out is not None and out.suffix.lower() == ".html":
            result.figure(output_locale()).write_html(str(out), include_plotlyjs=True)
            return
        basis = result.title(output_locale())
        from percorso.build.definitions import titled

        # the raw frame: a table formats € and % by column kind, JSON/CSV keep the numbers
        emit_frame(result.frame, fmt, out, title=titled(f"{basis} {campaign or ''}".strip(), result.meta.get("definitions")))
