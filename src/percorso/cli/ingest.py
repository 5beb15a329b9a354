"""CLI commands: ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import ProjectOpt, console, open_cli_project


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("ingest")
    def ingest(
        source: Annotated[str, typer.Argument(help="Source name in percorso.toml [sources.NAME] (or a kind).")],
        files: Annotated[list[Path], typer.Argument(help="Files: .csv .jsonl .parquet .xlsx")],
        project: ProjectOpt = Path("."),
    ) -> None:
        """Importa file di una sorgente / ingest files of one source (bad rows → quarantine)."""
        from rich.progress import Progress
        from rich.table import Table

        from percorso.ingest import ingest_files

        p = open_cli_project(project)
        with Progress(console=console(), transient=True) as bar:
            task = bar.add_task("ingest", total=len(files))
            reports = ingest_files(p, source, files,
                                   progress=lambda d, i, n: bar.update(task, description=d, completed=i))
        t = Table(title=f"ingest {source}")
        for c in ("file", "righe lette/read", "accettate", "quarantena", "duplicati", "eventi", "id non validi"):
            t.add_column(c)
        for r in reports:
            t.add_row(r.source_file, str(r.rows_read), str(r.accepted), str(r.quarantined), str(r.duplicates),
                      str(r.events_written), ", ".join(f"{k}={v}" for k, v in r.invalid_identifiers.items()))
        console().print(t)
        p.close()
