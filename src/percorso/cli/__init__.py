"""The ``percorso`` command line (Typer + Rich).

Commands are thin: each lives in the module of its area, imports heavy modules inside its
body, and calls the same Python API a notebook would. Data goes to stdout, progress and
messages to stderr; a :class:`~percorso.errors.PercorsoError` ends the command with its
one-line reason and a non-zero exit code.
"""

from __future__ import annotations

import sys

import typer

from percorso.errors import PercorsoError

app = typer.Typer(
    name="percorso",
    help="percorso: omnichannel customer-journey analytics. Il percorso del cliente, dai dati.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _print_version(value: bool) -> None:
    """``--version``: print it and stop before the group asks for a command (an eager callback)."""
    if value:
        from percorso import __version__

        typer.echo(f"percorso {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """percorso: il percorso del cliente, dai dati (omnichannel customer-journey analytics)."""
    from percorso.cli.common import reset_locale

    reset_locale()  # each command starts in Italian until it opens a project (one process, many test runs)


_MODULES = (
    "project", "generate", "ingest", "check", "build", "quarantine", "export", "channels", "identity",
    "customer", "demo", "journeys", "paths", "funnel", "friction", "omnichannel", "attribution", "value", "value_more",
)


def _register() -> None:
    import importlib

    for name in _MODULES:
        module = importlib.import_module(f"percorso.cli.{name}")
        module.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except PercorsoError as exc:
        typer.echo(f"errore [{exc.code}]: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except ValueError as exc:  # pydantic validation of a query or setting: one line per problem
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError):
            raise
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "input"
            typer.echo(f"errore [input_invalid]: {where}: {err['msg']}", err=True)
        sys.exit(2)
