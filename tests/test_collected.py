"""Every folder of tests is collected by ``make test``.

Why: pytest skips folders whose name matches ``norecursedirs``, and its default list has
``build``: tests/build (the build's oracles and the incremental == full property tests) was
never run by CI while it passed when run by hand. The list is ours now (pyproject.toml); this
test fails if a test folder matches it again.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norecursedirs() -> list[str]:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "norecursedirs" in conf, "without it pytest's default list (with 'build') applies"
    return list(conf["norecursedirs"])


def _hidden(path: Path, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(part, p) for part in path.relative_to(ROOT / "tests").parts for p in patterns)


def test_no_folder_of_tests_is_hidden_from_collection():
    patterns = _norecursedirs()
    folders = {p.parent for p in (ROOT / "tests").rglob("test_*.py") if "node_modules" not in p.parts}
    assert ROOT / "tests" / "build" in folders
    hidden = sorted(str(f.relative_to(ROOT)) for f in folders if f != ROOT / "tests" and _hidden(f, patterns))
    assert hidden == []


def test_the_check_sees_a_hidden_folder():
    assert _hidden(ROOT / "tests" / "build", ["build"])
    assert not _hidden(ROOT / "tests" / "build", ["dist", "venv"])
