"""The command line builds only the command it runs (issue 15: a fresh ``percorso build`` process
within 1 s): the root group of a line holds its command's module, and says the same as the
group holding every command."""

from __future__ import annotations

import importlib

import pytest
import typer
from typer.testing import CliRunner

from percorso.cli import _MODULES, COMMANDS, app, app_for, command_of


def _registered(module: str) -> set[str]:
    root = typer.Typer()
    importlib.import_module(f"percorso.cli.{module}").register(root)
    return ({c.name or c.callback.__name__ for c in root.registered_commands}
            | {g.name or g.typer_instance.info.name for g in root.registered_groups})


@pytest.mark.parametrize("module", _MODULES)
def test_every_command_is_mapped_to_the_module_that_registers_it(module):
    assert _registered(module) == {name for name, m in COMMANDS.items() if m == module}


@pytest.mark.parametrize(("argv", "command"), [
    (["build", "--format", "json"], "build"),
    (["--debug", "paths", "top"], "paths"),
    (["--engine", "spark", "funnel", "-p", "x"], "funnel"),
    (["--engine=spark", "funnel"], "funnel"),
    ([], None),
    (["--help"], None),
    (["--version", "build"], None),      # the root option is answered before any command
    (["--debug"], None),
])
def test_the_command_of_a_line(argv, command):
    assert command_of(argv) == command


def test_a_line_runs_with_its_module_only():
    only = app_for(["build", "--full"])
    assert [c.name for c in only.registered_commands] == ["build"] and not only.registered_groups
    assert app_for(["paths", "top"]).registered_groups[0].name == "paths"
    # the root itself, or a word no module registers: every command (Click suggests the near one)
    for argv in (["--help"], ["buld"], []):
        assert app_for(argv) is app


@pytest.mark.parametrize("argv", [["build", "--help"], ["paths", "top", "--help"], ["clv", "--help"],
                                  ["--debug", "identity", "--help"], ["erase", "--help"]])
def test_a_command_says_the_same_as_in_the_whole_group(argv):
    runner = CliRunner()
    alone, whole = runner.invoke(app_for(argv), argv), runner.invoke(app, argv)
    assert alone.exit_code == whole.exit_code == 0
    assert alone.output == whole.output


@pytest.mark.parametrize(("argv", "young"), [(["paths", "top"], "command"), (["build"], "command"),
                                             (["serve"], "default")])
def test_a_command_process_collects_garbage_less_often_and_not_at_exit(monkeypatch, argv, young):
    """A command's process: a larger young generation, and its objects frozen before the
    interpreter's last collection (a server keeps CPython's settings while it runs)."""
    import gc

    import percorso.cli as cli
    import percorso.cli.remote as remote

    seen = {}
    monkeypatch.setattr(remote, "forward", lambda argv: None)
    monkeypatch.setattr(cli, "run_cli", lambda argv: seen.setdefault("threshold", gc.get_threshold()) and 3)
    monkeypatch.setattr("sys.argv", ["percorso", *argv])
    before = gc.get_threshold()
    try:
        with pytest.raises(SystemExit) as ended:
            cli.main()
        assert ended.value.code == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    want = (cli.GC_YOUNG, *before[1:]) if young == "command" else before
    assert seen["threshold"] == want
