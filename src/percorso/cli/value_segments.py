"""CLI commands: ``percorso segment create | list | show | refresh | export | delete``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project, print_note
from percorso.cli.journey_options import ChartOpt
from percorso.cli.value import LimitOpt, OffsetOpt


def register(app: typer.Typer) -> None:
    """Add the ``segment`` group to the root app."""
    seg = typer.Typer(help="Rule-based segments / segmenti basati su regole (typed predicate trees as JSON).")
    app.add_typer(seg, name="segment")

    @seg.command("create")
    def seg_create(
        name: str,
        rule: Annotated[str | None, typer.Option(help="Regola in JSON / rule as JSON (see docs/value.md).")] = None,
        file: Annotated[Path | None, typer.Option(help="File JSON con la regola / rule JSON file.")] = None,
        description: Annotated[str, typer.Option(help="Descrizione / description.")] = "",
        project: ProjectOpt = Path("."),
    ) -> None:
        """Crea o sostituisce un segmento (create or replace a segment); prints its size."""
        from percorso.errors import InputError
        from percorso.value.segments.compile import absent_step_types, untyped_event_names
        from percorso.value.segments.definition import parse_rule
        from percorso.value.segments.store import save_segment

        if (rule is None) == (file is None):
            raise InputError("give exactly one of --rule JSON or --file FILE")
        text = rule if rule is not None else file.read_text(encoding="utf-8")  # type: ignore[union-attr]
        with open_cli_project(project) as p:
            n = save_segment(p.engine, name, text, p.settings, description=description)
            absent = absent_step_types(p.engine, parse_rule(text)) if n == 0 else []
            untyped = untyped_event_names(p.engine) if absent else {}
        typer.echo(f"segmento '{name}': {n} clienti", err=True)
        # an empty segment says why, when the data has none of its steps; and, when the data has
        # event names without a type, what the import said of them: which, and how to type them
        for step in absent:
            print_note(f"nessun evento {step} nei dati / no {step} events in the data"
                       + ("; forse uno dei nomi evento senza tipo / maybe one of the event names with no type:"
                          if untyped else ""))
        if untyped:
            from percorso.ingest.pipeline import generic_names_text

            for source, names in untyped.items():
                print_note(generic_names_text(source, names))

    @seg.command("list")
    def seg_list(project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Elenca i segmenti con l'ultima dimensione (list segments with their last size)."""
        from percorso.value.segments.store import list_segments

        with open_cli_project(project) as p:
            frame = list_segments(p.engine)
        emit_frame(frame, fmt, out, title="segments")

    @seg.command("show")
    def seg_show(
        name: str, chart: ChartOpt = None,
        drill: Annotated[str | None, typer.Option(
            "--customers", help="Clienti / customers: 'status=member', "
            "'status=entered,at=2024-05-01 10:00:00', 'status=left,at=…'.")] = None,
        limit: LimitOpt = 100, offset: OffsetOpt = 0,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Aggiorna e mostra definizione e dimensione nel tempo (refresh; definition, size over time)."""
        from percorso.analysis.base import run
        from percorso.cli.value import show_result
        from percorso.value.segments.analysis import SegmentQuery
        from percorso.value.segments.store import refresh_segment

        # closed at the end: a write left open (not checkpointed) is what a later command's
        # damaged-file check reads as a file cut short
        with open_cli_project(project) as p:
            refresh_segment(p.engine, name, p.settings)
            res = run(p.engine, SegmentQuery(name=name), p.settings)
            print_note(f"{name}: {res.meta['definition']}")
            show_result(res, fmt, out, chart, drill, limit, offset, f"{name}: size over time / dimensione nel tempo")

    @seg.command("refresh")
    def seg_refresh(name: Annotated[str | None, typer.Argument(help="Segmento (default: tutti) / segment "
                                                               "(default: all).")] = None,
                    project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Ricalcola i membri: chi entra e chi esce (recompute members; who entered and left)."""
        import pandas as pd

        from percorso.value.segments.store import refresh_all, refresh_segment

        with open_cli_project(project) as p:
            df = refresh_all(p.engine, p.settings) if name is None else pd.DataFrame(
                [refresh_segment(p.engine, name, p.settings)])
        emit_frame(df, fmt, out, title="segments refreshed")

    @seg.command("export")
    def seg_export(
        name: str,
        columns: Annotated[str | None, typer.Option(help="Campi separati da virgola / comma-separated profile "
                                                    "fields (default: those of the rule).")] = None,
        at: Annotated[datetime | None, typer.Option("--at", help="Membri a quella data (dai refresh) / members "
                                                    "at that time (from the refreshes).")] = None,
        with_contacts: Annotated[bool, typer.Option(
            "--with-contacts", help="Aggiungi nome, e-mail, telefono e consenso marketing (dati personali: "
            "una riga di audit su stderr) / add contact fields (personal data; one audit line on stderr).")] = False,
        purpose: Annotated[str | None, typer.Option(
            "--purpose", help="Audience per una finalità (email, sms, phone, ads, ...): solo chi ha il consenso ora "
            "/ only members allowed for this purpose now; the others are counted on stderr.")] = None,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.csv, out: OutOpt = None,
    ) -> None:
        """Esporta i clienti del segmento (export members, CSV by default)."""
        from percorso.value.segments.export import export_segment

        cols = [c.strip() for c in columns.split(",") if c.strip()] if columns is not None else None
        with open_cli_project(project) as p:
            exported = export_segment(p.engine, name, p.settings, columns=cols, at=at, with_contacts=with_contacts,
                                      purpose=purpose)
        emit_frame(exported.frame, fmt, out, title=name)
        if with_contacts:
            typer.echo(exported.note, err=True)
        elif purpose:
            typer.echo(f"finalità/purpose {purpose}: {exported.left_out} esclusi senza consenso / left out without "
                       "consent", err=True)

    @seg.command("delete")
    def seg_delete(name: str, project: ProjectOpt = Path(".")) -> None:
        """Elimina un segmento e la sua storia (delete a segment and its history)."""
        from percorso.value.segments.store import delete_segment

        with open_cli_project(project) as p:
            delete_segment(p.engine, name)
        typer.echo(f"segmento '{name}' eliminato / deleted", err=True)
