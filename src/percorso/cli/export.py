"""CLI commands: export (stored tables to Parquet, CSV for Italian Excel or machines, XLSX, JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import ProjectOpt, console, open_cli_project


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("export")
    def export_cmd(
        table: Annotated[str, typer.Argument(help="touchpoints, orders, customers, quarantine, events, …")],
        out: Annotated[Path, typer.Option("--out", "-o", help="File: .parquet, .csv, .xlsx, .json/.jsonl")],
        csv_profile: Annotated[str, typer.Option(
            "--csv-profile", help="it = Excel italiano (; , BOM) · standard = , . per i programmi")] = "it",
        project: ProjectOpt = ".",  # type: ignore[assignment]
    ) -> None:
        """Esporta una tabella su file (export a stored table; streams large tables)."""
        from percorso.export.tables import export_table

        with open_cli_project(project, read_only=True) as p, console().status(f"export {table}…"):
            n = export_table(p.engine, table, out, csv_profile=csv_profile)  # type: ignore[arg-type]
        from percorso.cli.common import cell, shown_path

        # the path as typed (a comma or [brackets] in a file name are not formatting)
        console().print(f"[green]scritto / written[/green] {shown_path(out)} ({cell(n)} righe / rows)")
