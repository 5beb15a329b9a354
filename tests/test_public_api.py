"""The public Python API index: percorso.api has every analysis, and the docs' imports run."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import percorso
import percorso.api as api
import percorso.value as value
from percorso.analysis.base import _RUNNERS, AnalysisQuery, AnalysisResult, Runner

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS_PACKAGES = ("percorso.journeys", "percorso.attribution", "percorso.value")


def test_every_name_imports():
    assert len(api.__all__) == len(set(api.__all__))
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    ns: dict = {}
    exec("from percorso.api import *", ns)  # noqa: S102 - the star import a notebook would do
    assert set(api.__all__) <= set(ns)


def _analysis_classes() -> set[type]:
    """Every query, runner and result class defined in the analysis packages (all imported)."""
    found: set[type] = set()
    for pkg_name in ANALYSIS_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg_name}."):
            module = importlib.import_module(info.name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if obj.__module__ == module.__name__ and issubclass(obj, (AnalysisQuery, AnalysisResult, Runner)):
                    found.add(obj)
    return found


def test_every_analysis_is_in_the_index():
    classes = _analysis_classes()
    assert {r.__name__ for r in _RUNNERS.values()} <= {c.__name__ for c in classes}  # the walk saw them all
    missing = sorted(c.__name__ for c in classes if getattr(api, c.__name__, None) is not c)
    assert missing == []
    assert {r.query_type.__name__ for r in _RUNNERS.values()} <= set(api.__all__)


def test_package_root_and_value_package():
    for name in api.__all__:
        if name != "generate":  # the subpackage keeps its name at the root
            assert getattr(percorso, name) is getattr(api, name), name
    assert "FunnelQuery" in dir(percorso)
    for name in value.__all__:
        assert getattr(value, name) is getattr(api, name), name


def _doc_import_blocks() -> list[tuple[str, str]]:
    """(file, statement) for every import of percorso in a ```python block of README and docs."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
            for stmt in re.findall(r"^((?:from percorso[\w.]* import|import percorso)(?:[^\n(]*\n|[^\n(]*\([^)]*\)\n))",
                                   block, flags=re.M):
                out.append((path.name, stmt.strip()))
    return out


def test_docs_import_lines_run():
    statements = _doc_import_blocks()
    assert len(statements) >= 5, statements  # README, channels, customer view at least
    for where, stmt in statements:
        try:
            exec(stmt, {})  # noqa: S102 - our own documentation
        except ImportError as exc:  # pragma: no cover - the message names the broken line
            raise AssertionError(f"{where}: {stmt!r} fails: {exc}") from None
