"""Customer value: RFM, CLV (BG/NBD + Gamma-Gamma), churn risk, cohorts, segments.

Reads only the build tables ``orders``, ``customers``, ``touchpoints`` and ``campaign_costs``;
aggregates are computed in the engine, only grouped model inputs come out to numpy.

The queries, runners and results (and the segment functions) are importable from here,
``from percorso.value import RFMQuery, save_segment``; each is imported on first use, so
importing one value module does not load them all (CLV loads scipy). :mod:`percorso.api`
has every analysis in one place.
"""

from __future__ import annotations

from typing import Any

#: Public name → the module defining it (relative to this package).
_EXPORTS: dict[str, str] = {
    **{f"RFM{x}": "rfm" for x in ("Query", "Result", "Runner")},
    **{f"CLV{x}": "clv.analysis" for x in ("Query", "Result", "Runner")},
    **{f"Holdout{x}": "clv.analysis" for x in ("Query", "Result", "Runner")},
    "fit_clv": "clv.pipeline",
    **{f"Churn{x}": "churn" for x in ("Query", "Result", "Runner")},
    **{f"Cohort{x}": "cohorts" for x in ("Query", "Result", "Runner")},
    **{f"Health{x}": "health" for x in ("Query", "Result", "Runner")},
    **{f"CostToServe{x}": "cost_to_serve" for x in ("Query", "Result", "Runner")},
    **{f"Personas{x}": "personas" for x in ("Query", "Result", "Runner")},
    **{f"Segment{x}": "segments.analysis" for x in ("Query", "Result", "Runner")},
    **{n: "segments.store" for n in ("save_segment", "list_segments", "members", "members_at", "refresh_segment",
                                     "refresh_all", "delete_segment")},
    **{n: "segments.export" for n in ("export_segment", "SegmentExport", "Requester")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """A public name of the value package, imported on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'percorso.value' has no attribute '{name}'; public: {', '.join(__all__)}")
    import importlib

    return getattr(importlib.import_module(f"percorso.value.{_EXPORTS[name]}"), name)
