"""CLI command: check (is the project database whole and readable?)."""

from __future__ import annotations

from pathlib import Path

import typer

from percorso.cli.common import ProjectOpt, console


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("check")
    def check(project: ProjectOpt = Path(".")) -> None:
        """Verifica il database del progetto / verify the project database: si apre, lunghezza del file, tabelle e
        migrazioni presenti, ogni colonna di ogni tabella letta (checksum dei blocchi). Non modifica nulla."""
        from rich.markup import escape
        from rich.table import Table

        from percorso.engine.health import WHAT_TO_DO, full_check
        from percorso.errors import DatabaseDamaged
        from percorso.project import open_project

        p = open_project(project, read_only=True)
        findings = full_check(p.database_path)
        t = Table(title=f"check {p.database_path}")
        for c in ("controllo / check", "esito / result", "dettaglio / detail"):
            t.add_column(c)
        for f in findings:
            t.add_row(f.check, "[green]ok[/green]" if f.ok else "[red]KO[/red]", escape(f.detail))
        console(stderr=False).print(t)
        bad = [f for f in findings if not f.ok]
        if bad:
            err = DatabaseDamaged(f"{len(bad)} check(s) failed ({', '.join(f.check for f in bad)}); {WHAT_TO_DO}")
            console().print("errore / error " + escape(f"[{err.code}] {err}"), soft_wrap=True)
            raise typer.Exit(err.exit_code)
