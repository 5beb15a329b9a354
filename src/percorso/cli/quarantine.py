"""CLI commands: quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("quarantine")
    def quarantine(
        project: ProjectOpt = Path("."),
        source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
        reason: Annotated[str | None, typer.Option("--reason", help="Only this reason code.")] = None,
        counts: Annotated[bool, typer.Option("--counts", help="Count by source and reason.")] = False,
        limit: Annotated[int, typer.Option("--limit", help="Max rows listed.")] = 1000,
        fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
    ) -> None:
        """Righe scartate / quarantined rows, with reason, line and raw text."""
        from percorso.engine import ingest_sql
        from percorso.errors import InputError, suggest
        from percorso.ingest.reasons import REASON_CODES

        # a misspelt filter would print an empty table, as if that file had no bad rows
        if reason is not None and reason not in REASON_CODES:
            raise InputError(f"unknown reason code '{reason}'; {suggest(reason, REASON_CODES)}")
        with open_cli_project(project, read_only=True) as p:
            if source is not None:
                p.settings.source(source)  # source_unknown, with "did you mean", when not declared
            if counts:
                frame = ingest_sql.quarantine_counts(p.engine, source, reason).to_pandas()
            else:
                frame = ingest_sql.quarantine_rows(p.engine, source, reason, limit).to_pandas()
        emit_frame(frame, fmt, out, title="quarantena")
