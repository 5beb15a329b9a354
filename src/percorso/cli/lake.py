"""CLI commands: lake export (the project's tables as a hive-partitioned Parquet lake for Spark)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutputFormat, ProjectOpt, console, emit_frame, open_cli_project


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    lake = typer.Typer(help="Lago Parquet per Spark / the Parquet lake Spark reads (docs/scale.md).",
                       no_args_is_help=True)
    app.add_typer(lake, name="lake")

    @lake.command("export")
    def export_cmd(
        out: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Cartella del lago / lake folder (default: [engine] lake, 'lake').")] = None,
        fmt: FormatOpt = OutputFormat.table,
        project: ProjectOpt = ".",  # type: ignore[assignment]
    ) -> None:
        """Esporta le tabelle nel lago Parquet (export events, touchpoints, orders, customers,
        identity_map, campaign_costs; only changed partitions are rewritten)."""
        from percorso.lake import export_lake

        # read-only on DuckDB whatever --engine says: the lake is written from the database
        with open_cli_project(project, read_only=True, engine="duckdb") as p, console().status("lake export…"):
            target = out if out is not None else p.lake_path
            report = export_lake(p.engine, target)
        emit_frame(report.frame(), fmt, None, title=f"lago / lake: {target}")
