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


@pytest.mark.parametrize(("argv", "pandas_by"), [
    (["paths", "transitions"], None), (["paths", "top"], None), (["funnel", "page_view", "purchase"], None),
    (["paths", "top", "--scope", "session", "--format", "csv"], None), (["paths", "sankey"], "percorso-imports"),
])
def test_a_journey_command_process_loads_one_compiler_and_no_blas_threads(tmp_path, argv, pandas_by):
    """A journey command as a user runs it (issue 15): of Ibis's twenty dialect compilers only
    DuckDB's (percorso.engine.ibis_compilers), numpy (when loaded) without OpenBLAS's thread pool
    (a frame of aggregates uses none). The analyses whose results hold rows
    (percorso.analysis.rows) print JSON and CSV without pandas, numpy or pyarrow; another one
    (the Sankey) imports pandas on the thread that runs while DuckDB works
    (percorso.engine.imports_meanwhile). The answer is the in-process one."""
    import json
    import os

    from tests.command_process import command_process
    from tests.journey_cli import cli, journey_project

    people = {"anna": [("page_view", "2024-01-01 10:00"), ("email_click", "2024-01-01 10:10"),
                       ("purchase", "2024-01-01 10:20", {"revenue": 50.0})],
              "bruno": [("page_view", "2024-01-02 09:00"), ("page_view", "2024-01-02 09:05")]}
    root = journey_project(tmp_path / "p", people)
    line = [*argv, "-p", str(root), *([] if "--format" in argv else ["--format", "json"])]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    report, answer, stderr = command_process(line, ("pandas", "numpy", "pyarrow"), env)
    first = report.pop("first")
    arrays = [] if pandas_by is None else ["numpy", "pyarrow"]
    assert report == {"code": 0, "dialects": ["duckdb"], "blas_threads": "1"}, stderr
    assert (first.get("pandas"), sorted(m for m in ("numpy", "pyarrow") if m in first)) == (pandas_by, arrays)
    if "csv" in argv:
        assert "\n".join(answer) + "\n" == cli(*line)
    else:
        assert json.loads("\n".join(answer)) == json.loads(cli(*line))


def test_a_demo_that_goes_on_serving_closes_its_databases_and_collects_as_a_server(monkeypatch, tmp_path):
    """``demo --serve`` starts as a command (larger young generation, connections left to the
    exit) and turns into a server: by the time the server starts, the demo's connections are
    closed, nothing waits for an exit, and the collector has CPython's threshold back."""
    import gc

    import percorso.cli as cli
    import percorso.cli.remote as remote
    import percorso.server.app as server_app
    from percorso import process

    seen = {}

    def fake_serve(folder, host, port, login_link):
        seen.update(ending=process.ending(), kept=process.kept(), threshold=gc.get_threshold()[0],
                    project=(folder / "percorso.duckdb").exists())

    monkeypatch.setattr(remote, "forward", lambda argv: None)
    monkeypatch.setattr(server_app, "serve", fake_serve)
    monkeypatch.setattr(cli, "_end_now", lambda code: pytest.fail("the demo's process was ended at once, not served"))
    monkeypatch.setattr("sys.argv", ["percorso", "demo", "-n", "300", "--dir", str(tmp_path / "demo"), "--serve"])
    before = gc.get_threshold()
    try:
        with pytest.raises(SystemExit) as ended:
            cli.main()
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
        process.goes_on()
    assert ended.value.code == 0
    assert seen == {"ending": False, "kept": 0, "threshold": before[0], "project": True}
