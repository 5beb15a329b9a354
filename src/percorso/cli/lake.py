"""CLI commands: lake export (the project's tables as a hive-partitioned Parquet lake for Spark) and
lake build (the derived tables computed on Spark, written back to the lake)."""

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
            "--out", "-o", help="Cartella del lago / lake folder (default: \\[engine] lake, 'lake').")] = None,
        fmt: FormatOpt = OutputFormat.table,
        project: ProjectOpt = ".",  # type: ignore[assignment]
    ) -> None:
        """Esporta le tabelle nel lago Parquet (export events, touchpoints, orders, customers,
        identity_map, campaign_costs; only changed partitions are rewritten)."""
        from percorso.lake import export_lake, remember_lake

        # read-only on DuckDB whatever --engine says: the lake is written from the database
        with open_cli_project(project, read_only=True, engine="duckdb") as p, console().status("lake export…"):
            target = out if out is not None else p.lake_path
            report = export_lake(p.engine, target)
            remember_lake(p.root, target)   # an erasure updates every lake the project wrote
        emit_frame(report.frame(), fmt, None, title=f"lago / lake: {target}")

    @lake.command("build")
    def build_cmd(
        fmt: FormatOpt = OutputFormat.table,
        project: ProjectOpt = ".",  # type: ignore[assignment]
    ) -> None:
        """Costruisce su Spark le tabelle derivate del lago (identity components, touchpoints, orders
        and customers computed on Spark from the lake's events and identity graph, written back to
        the lake; the project's database is not touched)."""
        import pandas as pd

        from percorso.build.lake_build import build_lake

        with open_cli_project(project, read_only=True, engine="spark") as p, console().status("lake build…"):
            report = build_lake(p, p.engine)  # type: ignore[arg-type]
        frame = pd.DataFrame({"table": list(report.rows), "rows": list(report.rows.values()),
                              "seconds": [report.seconds.get(n if n != "identity_map" else "identity")
                                          for n in report.rows]})
        emit_frame(frame, fmt, None, title=f"lago / lake: {p.lake_path} ({report.rounds} rounds)")
