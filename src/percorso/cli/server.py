"""CLI commands of the service: serve, token create|list|revoke, audit."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    register_operations(app)

    @app.command("serve")
    def serve_cmd(
        project: ProjectOpt = ".",  # type: ignore[assignment]
        host: Annotated[str, typer.Option("--host", help="Indirizzo / address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Porta / port (0 = any free port).", min=0,
                                          max=65535)] = 8000,
        link: Annotated[bool, typer.Option("--link", help="Stampa un link che apre la dashboard come admin / print a "
                                           "one-time link that opens the dashboard logged in as admin.")] = False,
    ) -> None:
        """Avvia il servizio REST che possiede il database (serves the REST API /v1 and owns the
        database; other percorso commands on this project then go through it). Ctrl-C stops it."""
        from percorso.project import open_project
        from percorso.server.app import serve

        root = open_project(project).root  # a clear error when the folder is not a project
        serve(root, host, port, login_link=link)

    token = typer.Typer(help="Token dell'API / API tokens (stored only as hashes).", no_args_is_help=True)
    app.add_typer(token, name="token")

    @token.command("create")
    def token_create(
        role: Annotated[str, typer.Option("--role", help="viewer | analyst | crm | admin")],
        name: Annotated[str, typer.Option("--name", help="Chi o cosa lo usa / who or what uses it.")],
        expires: Annotated[str | None, typer.Option("--expires", help="Durata / lifetime, e.g. 90d, 12h.")] = None,
        project: ProjectOpt = ".",  # type: ignore[assignment]
    ) -> None:
        """Crea un token e lo stampa una sola volta (prints the token once on stdout)."""
        from percorso.server.tokens import create_token

        with open_cli_project(project) as p:
            text, row = create_token(p.engine, name, role, expires)
        typer.echo(text)
        exp = row["expires_at"].strftime("%Y-%m-%d %H:%M UTC") if row["expires_at"] else "mai / never"
        typer.echo(f"token '{row['name']}' ({row['role']}), scade / expires: {exp}; conservalo ora: non sarà "
                   "più mostrato / keep it now: it is not shown again", err=True)

    @token.command("list")
    def token_list(project: ProjectOpt = ".", fmt: FormatOpt = OutputFormat.table) -> None:  # type: ignore[assignment]
        """Elenca i token (never the token itself)."""
        import pandas as pd

        from percorso.server.tokens import list_tokens

        with open_cli_project(project) as p:
            rows = list_tokens(p.engine)
        cols = ["token_id", "name", "role", "state", "created_at", "expires_at", "revoked_at", "last_used_at"]
        emit_frame(pd.DataFrame(rows, columns=cols), fmt, None, title="token")

    @token.command("revoke")
    def token_revoke(token_id: Annotated[str, typer.Argument(help="Id o nome / id or name.")],
                     project: ProjectOpt = ".") -> None:  # type: ignore[assignment]
        """Revoca un token (by id or name)."""
        from percorso.server.tokens import revoke_token

        with open_cli_project(project) as p:
            n = revoke_token(p.engine, token_id)
        typer.echo(f"revocati / revoked: {n}", err=True)

    @app.command("audit")
    def audit_cmd(
        project: ProjectOpt = ".",  # type: ignore[assignment]
        since: Annotated[str | None, typer.Option("--since", help="Dal giorno / from day YYYY-MM-DD.")] = None,
        who: Annotated[str | None, typer.Option("--who", help="Nome del token / token name.")] = None,
        limit: Annotated[int, typer.Option("--limit", min=1)] = 1000,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        """Registro di audit (who read individual-level data, wrote or exported, and when)."""
        import pandas as pd

        from percorso.errors import InputError
        from percorso.server import audit

        try:
            day = date.fromisoformat(since) if since else None
        except ValueError:
            raise InputError(f"--since '{since}' is not a day; use YYYY-MM-DD") from None
        with open_cli_project(project) as p:
            rows = audit.read(p.engine, day, who, limit)
        cols = ["occurred_at", "who", "role", "action", "route", "query", "status", "row_count", "detail"]
        if fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(rows, default=str, ensure_ascii=False) + "\n")
            return
        emit_frame(pd.DataFrame(rows, columns=cols), fmt, None, title="audit")


def register_operations(app: typer.Typer) -> None:
    """``backup`` and ``restore`` (through the server when one runs, like every command)."""

    @app.command("backup")
    def backup_cmd(
        project: ProjectOpt = ".",  # type: ignore[assignment]
        out: Annotated[str | None, typer.Option("--out", "-o", help="File to write (default: backups/percorso-"
                                                "DATE-TIME.duckdb in the project).")] = None,
    ) -> None:
        """Copia coerente del database, anche con il server attivo (a consistent snapshot)."""
        from percorso.backup import backup

        with open_cli_project(project) as p:
            path = backup(p, out)
        typer.echo(str(path))
        typer.echo(f"copia scritta / backup written: {path}", err=True)

    @app.command("restore")
    def restore_cmd(
        file: Annotated[str, typer.Argument(help="Un file di `percorso backup` / a backup file.")],
        project: ProjectOpt = ".",  # type: ignore[assignment]
    ) -> None:
        """Ripristina il database da una copia; il file attuale resta accanto (the current database
        is kept as percorso.duckdb.before-restore-DATE-TIME)."""
        from pathlib import Path

        from percorso.backup import restore

        with open_cli_project(project) as p:
            kept = restore(p, Path(file).resolve())
        typer.echo(f"ripristinato / restored from {file}; database precedente / previous database: {kept}", err=True)
