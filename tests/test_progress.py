"""``percorso.progress``: when bars are drawn, where, and that the engine is left as it was."""

from __future__ import annotations

import pytest

from percorso.engine import Engine
from percorso.progress import StepProgress, show_progress


@pytest.mark.parametrize(("env", "machine", "expected"), [
    ("1", True, True),        # asked: even with machine output (stderr is not stdout)
    ("0", False, False),      # refused
    ("off", False, False),
])
def test_the_environment_decides_first(monkeypatch, env, machine, expected):
    monkeypatch.setenv("PERCORSO_PROGRESS", env)
    assert show_progress(machine) is expected


def test_without_a_terminal_or_a_request_nothing_is_drawn(monkeypatch):
    monkeypatch.delenv("PERCORSO_PROGRESS", raising=False)
    # pytest captures stderr: not a terminal
    assert show_progress(False) is False
    assert show_progress(True) is False


def test_steps_are_timed_in_order_and_nothing_is_written_when_disabled(capsys):
    with StepProgress(None, enabled=False) as steps:
        steps("identità / identity")
        steps.files("web: a.csv: typing", 0, 1)
        steps.files("web: a.csv: typing", 0, 1)     # the same step again: not a new one
        steps.files("done", 1, 1)                   # the end of an import, not a step
    assert [name for name, _ in steps.steps] == ["identità / identity", "web: a.csv: typing"]
    assert all(took >= 0 for _, took in steps.steps)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_a_long_step_stays_listed_on_stderr_never_on_stdout(tmp_path, capsys):
    eng = Engine(tmp_path / "p.duckdb")
    with StepProgress(eng, enabled=True, keep_seconds=0.0) as steps:
        steps("punti di contatto / touchpoints")
        eng.con.execute("CREATE TABLE t AS SELECT range AS a FROM range(200000)")
        steps("ordini / orders")
    out = capsys.readouterr()
    assert out.out == ""
    assert "punti di contatto / touchpoints" in out.err and "ordini / orders" in out.err
    # the engine's own bar is off again (it would draw on stdout)
    assert eng.con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0] is False
    eng.close()


def test_query_progress_is_unknown_before_the_engine_opens(tmp_path):
    eng = Engine(tmp_path / "p.duckdb")
    assert eng.query_progress() is None
