"""Identity resolution: every identifier a person leaves, stitched into one customer.

Public API: :func:`resolve` (build ``identity_map`` and ``event_customers``),
:func:`explain` (why identifiers belong together), :func:`evaluate` (pairwise precision and
recall against a ground truth), :func:`is_blocked` (for ingest, before hashing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from percorso.identity.blocklist import is_blocked

if TYPE_CHECKING:
    from percorso.identity.evaluation import evaluate
    from percorso.identity.explainer import Explanation, explain
    from percorso.identity.resolver import IdentityReport, resolve

__all__ = ["Explanation", "IdentityReport", "evaluate", "explain", "is_blocked", "resolve"]


def __getattr__(name: str) -> Any:  # lazy: ingest imports this package for is_blocked/normalize
    if name in ("resolve", "IdentityReport"):
        from percorso.identity import resolver as m
    elif name in ("explain", "Explanation"):
        from percorso.identity import explainer as m
    elif name == "evaluate":
        from percorso.identity import evaluation as m
    else:
        raise AttributeError(name)
    return getattr(m, name)
