"""Shared fixtures: a real project folder with a real DuckDB file in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.project import Project, init_project, open_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A freshly initialised project (percorso.toml, rules/, database file)."""
    init_project(tmp_path / "proj", name="test")
    p = open_project(tmp_path / "proj")
    yield p
    p.close()
