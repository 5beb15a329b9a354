"""Only percorso/engine/ imports duckdb."""

import re
from pathlib import Path


def test_duckdb_imported_only_in_engine():
    root = Path(__file__).resolve().parents[1] / "src" / "percorso"
    bad = [str(p) for p in root.rglob("*.py") if "engine" not in p.relative_to(root).parts[:1]
           and re.search(r"^\s*(import duckdb|from duckdb)", p.read_text(encoding="utf-8"), re.M)]
    assert bad == []
