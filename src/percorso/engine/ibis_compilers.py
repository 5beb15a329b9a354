"""Ibis's SQL compilers, each imported when a backend first asks for it.

Why: every Ibis backend starts with ``import ibis.backends.sql.compilers as sc``, and that
package's ``__init__`` imports the compiler of every dialect Ibis knows (twenty: Athena,
BigQuery, Trino, Oracle... with their sqlglot dialects), ~0.06 s of each command process
that runs an analysis, for the one compiler it uses (DuckDB's, or Spark's on the lake).

How, without patching Ibis: a finder on :data:`sys.meta_path` (Python's documented hook to
control how a module is made) answers for that one package with Ibis's own spec and files,
but instead of running its ``__init__`` it gives the package a module ``__getattr__``
(PEP 562) that imports ``compilers.<dialect>`` on first use; ``sc.duckdb.compiler``,
``sc.DuckDBCompiler`` and ``from ibis.backends.sql.compilers import X`` all still work, and
every submodule is Ibis's own. The names and their submodules are read from that
``__init__`` itself; if it holds anything other than those re-exports (a later Ibis that
does more there), the finder steps aside and Ibis imports it as always: slower, never
different. ``tests/engine/test_ibis_compilers.py`` fails when that happens.
"""

from __future__ import annotations

import importlib
import sys
import threading
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

#: The package whose ``__init__`` imports every dialect's compiler.
PACKAGE = "ibis.backends.sql.compilers"
_INSTALL = threading.Lock()


def reexports(init_file: str | Path) -> dict[str, str] | None:
    """Name → submodule of a package ``__init__`` that only re-exports its submodules' names
    (``from PACKAGE.athena import AthenaCompiler``, an ``__all__``, a docstring); None when it
    does anything else, or its ``__all__`` differs from what it imports."""
    import ast   # only when the package is imported

    try:
        tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    where: dict[str, str] = {}
    exported: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "__future__":
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue   # the docstring
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                and node.module.startswith(PACKAGE + ".") and "." not in node.module[len(PACKAGE) + 1:]
                and all(a.asname in (None, a.name) and a.name != "*" for a in node.names)):
            where.update((a.name, node.module) for a in node.names)
            continue
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
                and isinstance(node.value, ast.List | ast.Tuple)):
            try:
                exported = list(ast.literal_eval(node.value))
            except ValueError:
                return None
            continue
        return None
    if not where or exported is None or sorted(exported) != sorted(where):
        return None
    return where


class _LazyPackage(SourceFileLoader):
    """Ibis's own loader of the package (its file, source, resources), except that the
    ``__init__`` is not run: the package gets a ``__getattr__`` for its names instead."""

    def __init__(self, fullname: str, path: str, where: dict[str, str]) -> None:
        super().__init__(fullname, path)
        self.where = where

    def exec_module(self, module: ModuleType) -> None:
        where = self.where
        name = module.__name__

        def __getattr__(attr: str) -> Any:
            if attr in where:
                value = getattr(importlib.import_module(where[attr]), attr)
                setattr(module, attr, value)
                return value
            try:   # a dialect's submodule (``sc.duckdb``, ``getattr(sc, dialect)`` in ibis.to_sql)
                return importlib.import_module(f"{name}.{attr}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{name}.{attr}":
                    raise
                raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

        module.__all__ = list(where)   # type: ignore[attr-defined]
        module.__getattr__ = __getattr__   # type: ignore[method-assign]


class _Finder:
    """Makes :data:`PACKAGE` a :class:`_LazyPackage` when its ``__init__`` only re-exports."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != PACKAGE:
            return None
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or spec.submodule_search_locations is None:
            return None
        where = reexports(spec.origin)
        if where is None:
            return None   # Ibis's __init__ does more than re-export: imported as Ibis wrote it
        spec.loader = _LazyPackage(fullname, spec.origin, where)
        return spec


def load_compilers_lazily() -> bool:
    """Install the finder (once per process; :mod:`percorso.engine` does it as it is imported,
    before anything loads an Ibis backend); False when the compilers are already imported
    (this process then keeps them as they are)."""
    with _INSTALL:
        if any(isinstance(f, _Finder) for f in sys.meta_path):
            return True
        if PACKAGE in sys.modules:
            return False
        sys.meta_path.insert(0, _Finder())
        return True
