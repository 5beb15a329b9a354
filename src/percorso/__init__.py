"""percorso: omnichannel customer-journey analytics and activation.

The public Python API is :mod:`percorso.api` (open a project, build a typed query, ``run`` it);
its names are also reachable from the package root, imported on first use, so
``import percorso`` stays light: ``percorso.open_project``, ``percorso.FunnelQuery``. A name
that is also a subpackage (``generate``) keeps meaning the subpackage here; take the function
from :mod:`percorso.api`. See the README for a tour.
"""

from __future__ import annotations

from typing import Any

from percorso.errors import PercorsoError

__all__ = ["PercorsoError", "Project", "open_project", "__version__"]
__version__ = "0.1.0"

_submodules: frozenset[str] | None = None


def _submodule_names() -> frozenset[str]:
    """Subpackages and modules: never shadowed by an API name (the import system finds them).
    Listed on first use, not as the package loads (pkgutil and a folder listing in every process)."""
    global _submodules
    if _submodules is None:
        import pkgutil

        _submodules = frozenset(m.name for m in pkgutil.iter_modules(__path__))
    return _submodules


def __getattr__(name: str) -> Any:
    """A name of :mod:`percorso.api`, imported on first use (``percorso.FunnelQuery``).

    ``Project`` and ``open_project`` too, from :mod:`percorso.project` itself: every process of
    the command line imports this package, and the project module brings DuckDB and the
    settings (~0.1 s) that ``percorso --help`` or a remote command never use (ADR 0065)."""
    if name in ("Project", "open_project"):
        from percorso import project

        return getattr(project, name)
    if not name.startswith("_") and name not in _submodule_names():
        import importlib

        api = importlib.import_module("percorso.api")
        if name in api.__all__:
            return getattr(api, name)
    raise AttributeError(f"module 'percorso' has no attribute '{name}'; the public API: percorso.api.__all__")


def __dir__() -> list[str]:
    import importlib

    api = importlib.import_module("percorso.api")
    return sorted(set(globals()) | {n for n in api.__all__ if n not in _submodule_names()})
