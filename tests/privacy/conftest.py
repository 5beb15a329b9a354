"""Privacy fixtures: one small built demo project, copied per test (erasure rewrites it)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built demo project (400 people, seed 5), made once; tests copy it.

    What the demo printed and every log record it emitted (percorso's loggers from DEBUG, any
    other from INFO) are kept in ``demo-output.log`` next to the project folder: the logs the
    demo scan reads.
    """
    from typer.testing import CliRunner

    from percorso.cli import app

    root = tmp_path_factory.mktemp("privacy") / "demo"
    log = root.parent / "demo-output.log"
    handler = logging.FileHandler(log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    top, ours = logging.getLogger(), logging.getLogger("percorso")
    levels = top.level, ours.level
    top.addHandler(handler)
    top.setLevel(logging.INFO)
    ours.setLevel(logging.DEBUG)
    try:
        res = CliRunner().invoke(app, ["demo", "--customers", "400", "--seed", "5", "--dir", str(root)])
    finally:
        top.removeHandler(handler)
        top.setLevel(levels[0])
        ours.setLevel(levels[1])
        handler.close()
    assert res.exit_code == 0, res.output
    with log.open("a", encoding="utf-8") as fh:
        fh.write(res.output)
    return root


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the built demo project."""
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target)
    return target
