"""The ``percorso`` command line (Typer + Rich).

Commands are thin: each lives in the module of its area, imports heavy modules inside its
body, and calls the same Python API a notebook would. Data goes to stdout, progress and
messages to stderr; a :class:`~percorso.errors.PercorsoError` ends the command with its
one-line reason and a non-zero exit code; every other failure too (:mod:`percorso.cli.errors`).
"""

from __future__ import annotations

import sys

import typer

from percorso.cli.errors import PercorsoGroup, set_debug
from percorso.errors import EXIT_CODES

app = typer.Typer(
    name="percorso",
    cls=PercorsoGroup,
    help="percorso: omnichannel customer-journey analytics. Il percorso del cliente, dai dati.",
    epilog="Exit codes / codici di uscita: " + "; ".join(f"{k} {v.split(':')[0]}" for k, v in EXIT_CODES.items())
    + " (docs/cli.md).",
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
    debug: bool = typer.Option(False, "--debug", help="On an error, print the traceback too (or PERCORSO_DEBUG=1)."),
    engine: str = typer.Option(None, "--engine", help="Run analyses on duckdb or spark (over the Parquet lake), "
                               "instead of [engine] kind; ingest and build always write DuckDB."),
) -> None:
    """percorso: il percorso del cliente, dai dati (omnichannel customer-journey analytics)."""
    set_debug(debug)
    from percorso.errors import InputError
    from percorso.project import ENGINE_OVERRIDE

    if engine not in (None, "duckdb", "spark"):
        raise InputError(f"unknown engine '{engine}' (--engine); valid: duckdb, spark")
    ENGINE_OVERRIDE.set(engine)   # set on every command: one process runs many (tests, the server)
    from percorso.cli.common import reset_locale

    reset_locale()  # each command starts in Italian until it opens a project (one process, many test runs)


_MODULES = (
    "project", "generate", "ingest", "check", "build", "quarantine", "export", "channels", "identity",
    "customer", "demo", "journeys", "paths", "funnel", "friction", "omnichannel", "attribution", "value", "value_more", "server", "activation",
    "collector", "privacy",
    "lake",
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
    """Run one command line in this process; returns its exit code.

    Every failure is already one line and a documented exit code (:class:`PercorsoGroup`,
    in non-standalone mode it returns the code instead of exiting).
    """
    return app(args=argv, prog_name="percorso", standalone_mode=False)
