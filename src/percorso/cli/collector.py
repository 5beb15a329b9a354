"""CLI of the collector: ``source key create|list|revoke`` and ``collector stats``."""

from __future__ import annotations

from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    source = typer.Typer(help="Sorgenti / sources: write keys of the Segment tracking API.", no_args_is_help=True)
    app.add_typer(source, name="source")
    key = typer.Typer(help="Chiavi di scrittura / write keys (stored only as hashes).", no_args_is_help=True)
    source.add_typer(key, name="key")

    @key.command("create")
    def key_create(
        name: Annotated[str, typer.Argument(help="Sorgente / source of kind web or app (percorso.toml).")],
        project: ProjectOpt = ".",  # type: ignore[assignment]
    ) -> None:
        """Crea una chiave di scrittura e la stampa una sola volta (prints the write key once)."""
        from percorso.collector.keys import create_key

        with open_cli_project(project) as p:
            text, row = create_key(p, name)
        typer.echo(text)
        typer.echo(f"chiave di scrittura per '{row['source_name']}' (id {row['key_id']}); conservala ora: non sarà "
                   f"più mostrata / write key for '{row['source_name']}': keep it now, it is not shown again", err=True)

    @key.command("list")
    def key_list(project: ProjectOpt = ".", fmt: FormatOpt = OutputFormat.table) -> None:  # type: ignore[assignment]
        """Elenca le chiavi (never the key itself)."""
        import pandas as pd

        from percorso.collector.keys import list_keys

        with open_cli_project(project) as p:
            rows = list_keys(p)
        emit_frame(pd.DataFrame(rows, columns=["key_id", "source_name", "state", "created_at", "revoked_at"]),
                   fmt, None, title="write keys")

    @key.command("revoke")
    def key_revoke(which: Annotated[str, typer.Argument(help="Id della chiave o sorgente / key id or source.")],
                   project: ProjectOpt = ".") -> None:  # type: ignore[assignment]
        """Revoca una chiave (or every key of a source)."""
        from percorso.collector.keys import revoke_key

        with open_cli_project(project) as p:
            n = revoke_key(p, which)
        typer.echo(f"revocate / revoked: {n}", err=True)

    collector = typer.Typer(help="Collettore / collector (Segment tracking API).", no_args_is_help=True)
    app.add_typer(collector, name="collector")

    @collector.command("stats")
    def collector_stats(project: ProjectOpt = ".", fmt: FormatOpt = OutputFormat.table) -> None:  # type: ignore[assignment]
        """Eventi accettati, deduplicati, in quarantena, coda e ritardo (accepted, deduplicated,
        quarantined, spool depth, lag)."""
        import pandas as pd

        from percorso.collector.service import stats

        with open_cli_project(project) as p:
            figures = stats(p)
        if fmt == OutputFormat.json:
            import json

            typer.echo(json.dumps(figures, default=str, sort_keys=True))
            return
        figures.pop("recent_batches", None)  # each micro-batch's timings: for --format json (benches)
        frame = pd.DataFrame([{"item": k, "value": "" if v is None else str(v)} for k, v in figures.items()])
        emit_frame(frame, fmt, None, title="collector")
