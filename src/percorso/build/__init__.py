"""Build stage: ``touchpoints``, ``orders`` and ``customers`` from events and identity.

Public API: :func:`run_build` (full or incremental) and :class:`BuildReport`; the table
columns are declared in :mod:`percorso.build.schema`.
"""

from percorso.build.runner import BuildReport, run_build

__all__ = ["BuildReport", "run_build"]
