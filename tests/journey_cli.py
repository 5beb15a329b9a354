"""Shared pieces of the journey CLI tests: a real project holding hand-made journeys, and
running a command through the in-process CLI (exit code checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project, open_project
from percorso.testing import journeys_for


def journey_project(root: Path, people: dict[str, Any]) -> Path:
    """A project at ``root`` whose build tables hold ``people``'s journeys."""
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, people)
    return root


def cli(*args: str) -> str:
    """Standard output of ``percorso ARGS``; fails the test on a non-zero exit."""
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res.stdout
