"""Privacy fixtures: one small built demo project, copied per test (erasure rewrites it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built demo project (400 people, seed 5), made once; tests copy it."""
    from typer.testing import CliRunner

    from percorso.cli import app

    root = tmp_path_factory.mktemp("privacy") / "demo"
    res = CliRunner().invoke(app, ["demo", "--customers", "400", "--seed", "5", "--dir", str(root)])
    assert res.exit_code == 0, res.output
    return root


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the built demo project."""
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target)
    return target
