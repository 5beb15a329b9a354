"""Activation: journeys that act at the right moment, and holdouts that prove whether they work.

Named ``activation`` (and the CLI ``percorso journey``) to keep it apart from
:mod:`percorso.journeys`, the analysis of the paths customers took. See docs/activation.md.
"""

from percorso.activation.model import Journey, journey_from_dict
from percorso.activation.service import after_build, on_micro_batch, preview, results, tick

__all__ = ["Journey", "after_build", "journey_from_dict", "on_micro_batch", "preview", "results", "tick"]
