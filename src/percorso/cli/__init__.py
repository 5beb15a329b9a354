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
    "customer", "demo", "journeys", "paths", "funnel", "friction", "omnichannel", "attribution", "value", "value_more", "server",
)


def _register() -> None:
    import importlib

    for name in _MODULES:
        module = importlib.import_module(f"percorso.cli.{name}")
        module.register(app)


_register()


def main() -> None:
    """Console-script entry point: through the project's server when one runs, else here."""
    from percorso.cli.remote import forward

    argv = sys.argv[1:]
    code = forward(argv)
    sys.exit(run_cli(argv) if code is None else code)


def run_cli(argv: list[str]) -> int:
    """Run one command line in this process; returns its exit code (errors as one line)."""
    from typer._click.exceptions import ClickException

    try:
        rv = app(args=argv, prog_name="percorso", standalone_mode=False)
    except PercorsoError as exc:
        typer.echo(f"errore [{exc.code}]: {exc.message}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("interrotto / aborted", err=True)
        return 130
    except ClickException as exc:  # usage errors: Click's own message, exit 2
        exc.show()
        return exc.exit_code
    except ValueError as exc:  # pydantic validation of a query or setting: one line per problem
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError):
            raise
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "input"
            typer.echo(f"errore [input_invalid]: {where}: {err['msg']}", err=True)
        return 2
    return rv if isinstance(rv, int) else 0
