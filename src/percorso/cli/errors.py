"""Every way a command can end, turned into one line on stderr and a documented exit code.

Why one place: a user (or a script) must never see a Python traceback, whatever the input
or the machine's state (a full disk included). :class:`PercorsoGroup` wraps the whole
command line, so usage errors, deliberate errors (:class:`~percorso.errors.PercorsoError`,
with their stable code and exit code), system errors (a missing or unwritable file, a full
disk) and bugs all leave the same way. The codes are listed in
:data:`percorso.errors.EXIT_CODES`, in ``percorso --help`` and in ``docs/cli.md``.
``--debug`` (or ``PERCORSO_DEBUG=1``) adds the traceback for whoever debugs.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from percorso.errors import INTERNAL_EXIT, PercorsoError

_DEBUG = {"on": False}


def set_debug(on: bool) -> None:
    """``--debug``: print the traceback of a failure too (before its one-line message)."""
    _DEBUG["on"] = on


def _debug() -> bool:
    return _DEBUG["on"] or os.environ.get("PERCORSO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def one_line(text: str) -> str:
    """Collapse a message to one line (engine and library messages run over several)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _os_error(exc: OSError) -> tuple[str, str, int]:
    name = exc.filename or ""
    why = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return "not_found", f"{name}: file or folder not found ({why}); check the path", 3
    if isinstance(exc, PermissionError):
        return "permission_denied", f"{name}: permission denied; check its permissions or choose another path", 2
    if isinstance(exc, (IsADirectoryError, NotADirectoryError)):
        return "input_invalid", f"{name}: {why}; give a file path", 2
    return "os_error", f"{name + ': ' if name else ''}{why}", 1


def describe(exc: BaseException) -> tuple[str, str, int]:
    """(code, one-line message, exit code) of any exception a command let through."""
    from percorso.errors import disk_full_text

    if isinstance(exc, PercorsoError):
        return exc.code, one_line(exc.message), exc.exit_code
    if disk_full_text(exc) or isinstance(exc, MemoryError) or type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        from percorso.engine.backend import translate_error

        known = translate_error(exc)
        if known is not None:
            return known.code, one_line(known.message), known.exit_code
    from percorso.sections import SectionError

    if isinstance(exc, SectionError):  # a settings section refused a value
        return "input_invalid", one_line(str(exc)), 2
    pydantic = sys.modules.get("pydantic")   # not imported: no typed query was made, none refused a value
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):  # a typed query refused a value
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())
        return "input_invalid", one_line(problems), 2
    if isinstance(exc, OSError):
        return _os_error(exc)
    return ("internal_error", f"errore interno / internal error ({type(exc).__name__}: {one_line(str(exc))[:300]}); "
            "re-run with --debug (or PERCORSO_DEBUG=1) for the traceback and report it", INTERNAL_EXIT)


def report(exc: BaseException) -> int:
    """Print the one-line message of ``exc`` on stderr; return its exit code."""
    if _debug():
        traceback.print_exception(exc, file=sys.stderr)
    code, message, exit_code = describe(exc)
    typer.echo(f"errore [{code}]: {message}", err=True)
    return exit_code


def _usage(exc: Any) -> int:
    """A usage error (unknown option, bad value, missing argument) in one line, with where to look."""
    ctx = getattr(exc, "ctx", None)
    where = f" ({ctx.command_path} --help)" if ctx is not None else ""
    typer.echo(f"errore [usage]: {one_line(exc.format_message())}{where}", err=True)
    return exc.exit_code


class PercorsoGroup(TyperGroup):
    """The root command group: runs a command and turns whatever ends it into an exit code."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        from typer._click import exceptions as click_exc

        set_debug(False)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except SystemExit:
            raise
        except click_exc.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except click_exc.ClickException as exc:
            code = _usage(exc)
        except typer.Abort:
            typer.echo("errore [aborted]: interrotto / aborted", err=True)
            code = 1
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `percorso … | head` closed the pipe: not an error of ours
                from typer._click.utils import PacifyFlushWrapper

                sys.stdout = PacifyFlushWrapper(sys.stdout)
                code = 1
            else:
                code = report(exc)
        except Exception as exc:  # noqa: BLE001 - the one place every failure is reported
            code = report(exc)
        finally:
            from percorso.project import ENGINE_OVERRIDE

            ENGINE_OVERRIDE.set(None)   # --engine is this command's: a later API call in the process follows the config
        if not standalone_mode:
            return code
        sys.exit(code)
