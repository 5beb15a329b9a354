"""The ``percorso`` command line (Typer + Rich).

Commands are thin: each lives in the module of its area, imports heavy modules inside its
body, and calls the same Python API a notebook would. Data goes to stdout, progress and
messages to stderr; a :class:`~percorso.errors.PercorsoError` ends the command with its
one-line reason and a non-zero exit code; every other failure too (:mod:`percorso.cli.errors`).
"""

from __future__ import annotations

import gc
import sys

import typer

from percorso import process
from percorso.cli import coercion
from percorso.cli.errors import PercorsoGroup, set_debug
from percorso.errors import EXIT_CODES

coercion.install()   # plain option values without pydantic (ADR 0068)


def _new_app() -> typer.Typer:
    """The root group, without commands (:func:`app_for` adds them)."""
    root = typer.Typer(
        name="percorso",
        cls=PercorsoGroup,
        help="percorso: omnichannel customer-journey analytics. Il percorso del cliente, dai dati.",
        epilog="Exit codes / codici di uscita: " + "; ".join(f"{k} {v.split(':')[0]}" for k, v in EXIT_CODES.items())
        + " (docs/cli.md).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    return root


def _print_version(value: bool) -> None:
    """``--version``: print it and stop before the group asks for a command (an eager callback)."""
    if value:
        from percorso import __version__

        typer.echo(f"percorso {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
    debug: bool = typer.Option(False, "--debug", help="On an error, print the traceback too (or PERCORSO_DEBUG=1)."),
    engine: str = typer.Option(None, "--engine", help="Run analyses on duckdb or spark (over the Parquet lake), "
                               "instead of the project's engine.kind setting; ingest and build always write DuckDB."),
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

#: The module of :data:`_MODULES` that registers each top-level command or group (a test
#: compares it with what the modules register). A command line naming one of them is run by
#: a root group holding only that module's commands: Typer turns every registered function
#: into a Click command before running any (~70 commands, ~0.05 s of each process), and each
#: module imports its own helpers.
COMMANDS: dict[str, str] = {
    "init": "project", "generate": "generate", "ingest": "ingest", "check": "check", "build": "build",
    "quarantine": "quarantine", "export": "export", "channels": "channels", "identity": "identity",
    "customer": "customer", "demo": "demo", "journey-map": "journeys", "paths": "paths", "funnel": "funnel",
    "friction": "friction", "omnichannel": "omnichannel", "attribution": "attribution", "roi": "attribution",
    "rfm": "value", "churn": "value", "cohorts": "value", "clv": "value", "segment": "value",
    "cost-to-serve": "value_more", "health": "value_more", "personas": "value_more",
    "backup": "server", "restore": "server", "serve": "server", "audit": "server", "token": "server",
    "journey": "activation", "source": "collector", "collector": "collector",
    "erase": "privacy", "subject-access": "privacy", "consent": "privacy", "retention": "privacy",
    "vault": "privacy", "lake": "lake",
}

#: Root options that take a value (the command is the first other word of the line).
_ROOT_VALUED = ("--engine",)
_APPS: dict[tuple[str, ...], typer.Typer] = {}


def _build_app(modules: tuple[str, ...]) -> typer.Typer:
    import importlib

    if modules not in _APPS:
        root = _new_app()
        for name in modules:
            importlib.import_module(f"percorso.cli.{name}").register(root)
        _APPS[modules] = root
    return _APPS[modules]


def command_of(argv: list[str]) -> str | None:
    """The command a line runs (its first word after the root options), or None when the
    line asks the root itself (no command, ``--help``, ``--version``)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--help", "-h", "--version"):
            return None
        elif arg in _ROOT_VALUED:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def app_for(argv: list[str]) -> typer.Typer:
    """The root group that runs ``argv``: only its command's module, or every command (root
    help, an unknown name: Click's message lists them all)."""
    module = COMMANDS.get(command_of(argv) or "")
    return _build_app((module,) if module else _MODULES)


def __getattr__(name: str) -> typer.Typer:
    """``percorso.cli.app``: the root group with every command (tests, documentation)."""
    if name == "app":
        return _build_app(_MODULES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Young-generation threshold of the garbage collector in a command's process (CPython's is 700).
GC_YOUNG = 50_000
#: Commands that keep running (a server): they keep CPython's collector settings.
_LONG_RUNNING = ("serve",)
#: CPython's young-generation threshold, restored by a command that turns into a server.
_GC_YOUNG_DEFAULT = gc.get_threshold()[0]


def goes_on_serving() -> None:
    """This command's process turns into a server (``demo --serve``): it no longer ends with
    the command, so closed connections are closed again (:func:`percorso.process.goes_on`) and
    the collector gets CPython's young generation back, as ``serve`` has from the start."""
    process.goes_on()
    gc.set_threshold(_GC_YOUNG_DEFAULT, *gc.get_threshold()[1:])


def main() -> None:
    """Console-script entry point: through the project's server when one runs, else here.

    A command is a short process whose objects are mostly modules, classes and Ibis
    expressions that live until it exits. With CPython's defaults the garbage collector walked
    them ~400 times while a journey analysis imported Ibis and pandas, then once more at exit:
    ~0.3 CPU s of a ~1.2 s ``paths top``, ~0.6 of a build (ADR 0035, 2026-12-05 e2epy). So a
    command's young generation is larger (:data:`GC_YOUNG`: far fewer passes, cycles of garbage
    still collected), and the interpreter's last collection is skipped (``gc.freeze``: the
    process ends, the system takes its memory back; engines are closed by their commands).
    """
    from percorso.cli.remote import forward

    argv = sys.argv[1:]
    code = forward(argv)
    if code is None:
        if command_of(argv) not in _LONG_RUNNING:
            gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
            process.ends_with_command()
        try:
            code = run_cli(argv)
        finally:
            if not process.kept():
                process.goes_on()   # nothing was left to the end (a test calling main in its own process)
    gc.freeze()
    if process.kept():
        _end_now(code)
    sys.exit(code)


def _end_now(code: int) -> None:
    """End the process at once (ADR 0068): its databases are checkpointed and their connections
    kept (:mod:`percorso.process`); the system frees their memory faster than a close, and the
    interpreter's teardown (its exit handlers: logging's flush) has nothing of the command's
    to do. The output is flushed first; a closed pipe (``| head``) is not an error of ours."""
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_cli(argv: list[str]) -> int:
    """Run one command line in this process; returns its exit code.

    Every failure is already one line and a documented exit code (:class:`PercorsoGroup`,
    in non-standalone mode it returns the code instead of exiting).
    """
    return app_for(argv)(args=argv, prog_name="percorso", standalone_mode=False)
