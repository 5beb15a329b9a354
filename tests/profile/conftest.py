"""Customer-view fixtures: a fresh real project (percorso.toml, rules, DuckDB file) in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.project import Project, init_project, open_project


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    init_project(tmp_path / "p", name="t")
    p = open_project(tmp_path / "p")
    yield p
    p.close()
