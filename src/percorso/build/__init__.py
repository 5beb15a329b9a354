"""Build stage: ``touchpoints``, ``orders`` and ``customers`` from events and identity.

Public API: :func:`run_build` (full or incremental) and :class:`BuildReport`; the table
columns are declared in :mod:`percorso.build.schema`.

Why loaded on first use: every command line imports :mod:`percorso.build.definitions` (the
captions of a table), and the build's modules behind this package (~0.1 s of imports) are
only needed by the commands that build (ADR 0035).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BuildReport", "run_build"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from percorso.build import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'percorso.build' has no attribute {name!r}")
