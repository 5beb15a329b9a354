"""CLI commands: ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import ProjectOpt, cell, console, open_cli_project, print_note


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("ingest")
    def ingest(
        source: Annotated[str, typer.Argument(help="Sorgente in percorso.toml \\[sources.NAME] o un tipo "
                                                   "predefinito / source name or built-in kind (clickstream, ...).")],
        files: Annotated[list[Path], typer.Argument(help="File / files: .csv .tsv .jsonl .parquet .xlsx")],
        project: ProjectOpt = Path("."),
        force: Annotated[bool, typer.Option("--force", help="Rileggi anche i file già importati / re-read files "
                                                            "already imported (adds nothing new).")] = False,
    ) -> None:
        """Importa file di una sorgente / ingest files of one source (righe errate → quarantena / bad rows →
        quarantine). Alla fine: righe lette = accettate + quarantena + duplicati."""
        from rich.markup import escape
        from rich.table import Table

        from percorso.ingest import ingest_files
        from percorso.ingest.pipeline import generic_names_text, mapping_not_applied_text
        from percorso.progress import StepProgress, show_progress

        p = open_cli_project(project, engine="duckdb")
        try:
            p.keep_block_memory()    # a process of its own (ADR 0035)
            err = console()
            with StepProgress(p.engine, enabled=show_progress()) as steps:
                reports = ingest_files(p, source, files, force=force, progress=steps.files)
        finally:
            p.close()
        t = Table(title=f"ingest {source}")
        t.add_column("file")
        for c in ("righe lette / read", "accettate / accepted", "quarantena / quarantined", "duplicati / duplicates"):
            t.add_column(c, justify="right")
        for c in ("id non validi / invalid ids", "note"):
            t.add_column(c)
        for r in reports:
            note = "già importato / already ingested" if r.already_ingested else f"{r.seconds:.1f} s"
            if r.error:
                note = "[red]non importato / not imported[/red]"
            elif r.restated:
                note += f"; {r.restated} giorni ricalcolati / days restated"
            if r.mapping_not_applied:
                note += "; mappatura non applicata / mapping not applied"
            # counts in the project's locale, as every other table (1.000.000 in Italian)
            t.add_row(r.source_file, cell(r.rows_read), cell(r.accepted), cell(r.quarantined), cell(r.duplicates),
                      ", ".join(f"{k}={cell(v)}" for k, v in r.invalid_identifiers.items()), note)
        tot = [sum(getattr(r, a) for r in reports) for a in ("rows_read", "accepted", "quarantined", "duplicates")]
        t.add_row("[b]totale / total[/b]", *map(cell, tot), "", "")
        console().print(t)
        for r in reports:
            if r.already_ingested:
                console().print(f"{r.source_file}: già importato / already ingested (sha256 {r.file_sha256[:12]}…); "
                                "--force per rileggerlo / to re-read it", soft_wrap=True)
        n = [cell(v) for v in tot]
        console().print(f"righe lette / rows read {n[0]} = accettate / accepted {n[1]} + quarantena / "
                        f"quarantined {n[2]} + duplicati / duplicates {n[3]}"
                        + ("" if not tot[2] else "  → `percorso quarantine --counts`"), soft_wrap=True)
        generic: dict[str, int] = {}
        for r in reports:
            for name, n in r.generic_event_names.items():
                generic[name] = generic.get(name, 0) + n
        if generic:
            print_note(generic_names_text(source, dict(sorted(generic.items(), key=lambda kv: -kv[1]))), err)
        stale = next((r.mapping_not_applied for r in reports if r.mapping_not_applied), None)
        if stale:
            err.print(mapping_not_applied_text(source, stale, p.database_path.name), soft_wrap=True)
        failed = [r for r in reports if r.error]
        for r in failed:
            err.print(f"[red]errore / error[/red] {escape(f'[{r.error_code}] {r.error}')}", soft_wrap=True)
        if failed:
            err.print(f"{len(failed)} di {len(reports)} file non importati (gli altri sì) / {len(failed)} of "
                      f"{len(reports)} files not imported (the others were)", soft_wrap=True)
            raise typer.Exit(1)
