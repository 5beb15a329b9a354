"""CLI commands: cost to serve, customer health index, personas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.build.definitions import caption, titled
from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project

ChartOpt = Annotated[Path | None, typer.Option("--chart", help="Write the chart (.html or .png).")]
SegmentOpt = Annotated[str | None, typer.Option("--segment", help="Solo i clienti del segmento / saved segment.")]


def _run(project: Path, query: object) -> object:
    from percorso.analysis.base import run

    p = open_cli_project(project)
    return run(p.engine, query, p.settings)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("cost-to-serve")
    def cost_to_serve_cmd(
        customers: Annotated[str | None, typer.Option("--customers", help="Per-customer rows: 'all', or a selector "
                                                      "such as 'segment=Lost' or 'losing=true'.")] = None,
        losing: Annotated[bool, typer.Option("--losing", help="Only those who cost more than they bring "
                                             "(per-customer rows).")] = False,
        limit: Annotated[int, typer.Option(help="Rows per page with --customers.")] = 100,
        offset: Annotated[int, typer.Option(help="First row with --customers.")] = 0,
        date_from: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
        date_to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
        chart: ChartOpt = None, segment: SegmentOpt = None,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Costo di servizio e margine per cliente; chi costa più di quanto rende (cost to serve)."""
        from percorso.cli.common import write_figure
        from percorso.value.cost_to_serve import CostToServeQuery

        res = _run(project, CostToServeQuery(date_from=date_from, date_to=date_to, segment=segment))
        if chart is not None:
            write_figure(res.figure(), chart)
        if customers or losing:
            from percorso.cli.paths import parse_selector

            sel = parse_selector(customers) if customers and customers != "all" else {}
            if losing:
                sel["losing"] = True
            emit_frame(res.customers(limit=limit, offset=offset, **sel), fmt, out, title="cost to serve")
        else:
            emit_frame(res.to_frame(), fmt, out,
                       title=titled("cost to serve / costo di servizio", res.meta.get("definitions")))
        from percorso.cli.common import output_locale, print_note

        for note in res.notes(output_locale()):   # in the project's language, numbers in its format
            print_note(note)

    @app.command("health")
    def health_cmd(
        band: Annotated[str | None, typer.Option(help="List the customers of one band, e.g. 0-20.")] = None,
        as_of: Annotated[str | None, typer.Option("--as-of", help="Reference day (YYYY-MM-DD).")] = None,
        limit: Annotated[int, typer.Option(help="Rows with --band.")] = 100,
        offset: Annotated[int, typer.Option(help="First row with --band.")] = 0,
        chart: ChartOpt = None, segment: SegmentOpt = None,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Indice di salute dei clienti 0–100 per fascia (customer health index by band)."""
        from percorso.cli.common import write_figure
        from percorso.value.health import HealthQuery

        res = _run(project, HealthQuery(as_of=as_of, segment=segment))
        if chart is not None:
            write_figure(res.figure(), chart)
        if band is not None:
            emit_frame(res.customers(limit=limit, offset=offset, band=band), fmt, out, title=f"health {band}")
        else:
            emit_frame(res.to_frame(), fmt, out, title=titled("health / salute", res.meta.get("definitions")))
        from percorso.cli.common import output_locale, print_note

        for note in res.notes(output_locale()):   # in the project's language
            print_note(note)

    @app.command("personas")
    def personas_cmd(
        k: Annotated[int | None, typer.Option("--k", help="Number of personas (2-8); default: by silhouette.")] = None,
        seed: Annotated[int, typer.Option(help="Random seed of the clustering.")] = 0,
        stored: Annotated[bool, typer.Option("--stored", help="Describe the stored personas (last run or last "
                                             "build's refresh) without clustering again.")] = False,
        lang: Annotated[str | None, typer.Option(help="Language of the cards in table mode: it | en; "
                                                 "default: the project's \\[project] locale.")] = None,
        persona: Annotated[int | None, typer.Option("--persona", help="List the customers of one stored "
                                                    "persona (no new clustering).")] = None,
        limit: Annotated[int, typer.Option(help="Rows with --persona.")] = 100,
        offset: Annotated[int, typer.Option(help="First row with --persona.")] = 0,
        chart: ChartOpt = None,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Personas dai percorsi dei clienti, con schede in italiano e inglese (data-driven personas).

        Without --stored or --persona the customers are clustered again and the result is
        stored; `percorso build` then refreshes it with the same settings."""
        from percorso.cli.common import console, output_locale, print_note, write_figure
        from percorso.cli.value import warn
        from percorso.errors import InputError
        from percorso.value.personas import PersonasQuery

        if lang not in (None, "it", "en"):
            raise InputError(f"unknown language '{lang}'; valid: it, en")
        if (stored or persona is not None) and k is not None:
            raise InputError("--k starts a new clustering; --stored and --persona read the stored personas")
        res = _run(project, PersonasQuery(k=k, seed=seed, stored=stored or persona is not None))
        lang = lang or output_locale()  # set by opening the project: an English project reads English cards
        if res.meta.get("stale"):
            warn([f"personas not refreshed / non aggiornate {res.meta['stale']}; run `percorso personas` "
                  "or `percorso build`"])
        if chart is not None:
            write_figure(res.figure(), chart)
        frame = res.to_frame()
        if persona is not None:
            emit_frame(res.customers(limit=limit, offset=offset, persona=persona), fmt, out,
                       title=f"persona {persona}")
        elif fmt is OutputFormat.table and out is None:
            con = console(stderr=False)
            for c in res.cards:
                con.print(f"[bold]{c['persona']}. {c['name_' + lang]}[/bold]", markup=True)
                con.print(c["description_" + lang], markup=False, highlight=False)
                con.print("")
            sil = ", ".join(f"{kk}: {v:.3f}" for kk, v in res.meta["silhouette"].items())
            when = (f", computed at {str(res.meta['computed_at'])[:19]}" if res.meta.get("computed_at") else "")
            console().print(f"k = {res.meta['k']}, silhouette = {sil or '-'}{when}")
            print_note(caption(res.meta.get("definitions") or {}))
            # numbers kept from the stored personas (or new), so a saved `persona = N` can be trusted
            for line in res.meta.get("numbering") or []:
                print_note(line)
        else:
            emit_frame(frame, fmt, out, title=titled("personas", res.meta.get("definitions")))
