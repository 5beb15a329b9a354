"""Shared builders for attribution tests."""

from __future__ import annotations

import pyarrow as pa

from percorso.attribution.paths import from_arrow


def table(rows):
    """rows: (path list, conversions, nulls[, value]) → PathTable."""
    return from_arrow(pa.table({
        "path": [" > ".join(r[0]) for r in rows],
        "total_conversions": [float(r[1]) for r in rows],
        "total_null": [float(r[2]) for r in rows],
        "total_conversion_value": [float(r[3]) if len(r) > 3 else 10.0 * r[1] for r in rows],
    }))


def by_node(paths, credits, col=0):
    return {n: float(credits[i, col]) for i, n in enumerate(paths.nodes)}
