"""Realistic demo data for an Italian omnichannel sleep retailer (``percorso generate``).

See :func:`percorso.generate.run.generate` and docs/architecture.md ("Demo source files").
"""

from __future__ import annotations


def generate(out, customers: int, seed: int = 42, progress=None) -> dict:
    """Write demo source files and ground truth; see :func:`percorso.generate.run.generate`."""
    from percorso.generate.run import generate as _generate

    return _generate(out, customers, seed, progress)


__all__ = ["generate"]
