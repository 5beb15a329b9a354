"""Option values converted without pydantic (ADR 0068): for every parameter of every command,
the plain conversion gives what typer's own (pydantic) conversion gives, value and type, or
leaves the value to it, and a bad value fails with typer's message."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import typer.main
from typer import core
from typer._click import Context
from typer._click.exceptions import BadParameter

from percorso.cli import app
from percorso.cli.coercion import PlainRuntimeParam

TYPER_BUILD = core.build_runtime_param.typer_build


def _params():
    out = []

    def walk(cmd, path):
        for p in cmd.params:
            if hasattr(p, "type_descriptor"):
                out.append((" ".join(path) + " " + p.name, cmd, p))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])
    walk(typer.main.get_command(app), ["percorso"])
    return out


PARAMS = _params()


def _values(tmp: Path, p) -> list:
    """Values a user (or a default) can give: plain ones and ones the plain path leaves to typer."""
    file = tmp / "f.csv"
    file.write_text("a\n")
    words = ["", ".", "x", "0", "7", "007", "-3", "+4", "1_000", " 5", "5 ", "1.5", "-0.25", "1e3", "nan", "inf",
             "12345678901234567890", "2024-03-01", "2024-03-01 10:20:30", "2024-03-01T10:20:30", "01/03/2024",
             "true", "no", "table", "JSON", "Csv", "it", "EN", "xlsx ", str(file), str(tmp), str(tmp / "missing"),
             "~/x", "-"]
    return [*words, p.default, 5, 2.5, True, Path("."), datetime(2024, 3, 1), (), ("a", "b"), ("3", "x"),
            (str(file),), [str(tmp), "."]]


def _convert(runtime, value, p, ctx):
    try:
        out = runtime.coerce(value, param=p, ctx=ctx)
    except BadParameter as exc:
        return ("error", exc.format_message())
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return ("raises", type(exc).__name__, str(exc))
    return ("value", type(out), repr(out))   # repr: nan is nan


@pytest.mark.parametrize(("name", "cmd", "p"), PARAMS, ids=[n for n, _, _ in PARAMS])
def test_plain_conversion_is_typers(tmp_path, name, cmd, p):
    typer_param = TYPER_BUILD(p.type_descriptor)
    plain = core.build_runtime_param(p.type_descriptor)
    ctx = Context(cmd)
    for value in _values(tmp_path, p):
        assert _convert(plain, value, p, ctx) == _convert(typer_param, value, p, ctx), (name, value)


def test_the_plain_path_covers_the_commands_types():
    """Every parameter type the commands use converts plain values without typer's own."""
    kinds = {repr(p.type_descriptor.annotation) for _, _, p in PARAMS
             if not isinstance(core.build_runtime_param(p.type_descriptor), PlainRuntimeParam)}
    assert kinds <= {"<class 'datetime.datetime'>"}   # ISO dates without formats: pydantic's parser


@pytest.mark.parametrize("argv", [["build", "--project", "{tmp}", "--format", "json", "--full"],
                                  ["ingest", "clickstream", "{tmp}/f.csv", "-p", "{tmp}"],
                                  ["check", "-p", "{tmp}"]])
def test_a_command_does_not_import_pydantic(tmp_path, argv):
    """The command runs to its own end (here: no project) without pydantic loaded (the
    analyses import it for their typed queries: they only no longer build its adapters)."""
    line = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = ("import sys, percorso.cli as c\n"
            f"sys.argv = ['percorso', *{line!r}]\n"
            "try:\n    c.main()\nexcept SystemExit as e:\n    print('exit', e.code, 'pydantic' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-1] == "False", done
    assert "errore [" in done.stderr   # the command did run: it found no project


def test_a_bad_value_reads_as_before():
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["paths", "top", "--top", "many"])
    assert out.exit_code == 2
    assert "errore [usage]" in out.output and "--top" in out.output
