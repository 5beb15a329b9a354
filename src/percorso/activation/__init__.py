"""Activation: journeys that act at the right moment, and holdouts that prove whether they work.

Named ``activation`` (and the CLI ``percorso journey``) to keep it apart from
:mod:`percorso.journeys`, the analysis of the paths customers took. See docs/activation.md.
"""

from typing import Any

__all__ = ["Journey", "after_build", "journey_from_dict", "on_micro_batch", "preview", "results", "tick"]
_SERVICE = ("after_build", "on_micro_batch", "preview", "results", "tick")
_MODEL = ("Journey", "journey_from_dict")


def __getattr__(name: str) -> Any:
    """The service's and the model's names, imported on first use: the service loads pandas,
    the model builds its pydantic classes (~0.02 s), and a build of a project without journeys
    only looks for journey files (:mod:`percorso.activation.store`)."""
    if name in _MODEL:
        from percorso.activation import model

        return getattr(model, name)
    if name not in _SERVICE:
        raise AttributeError(f"module 'percorso.activation' has no attribute '{name}'")
    from percorso.activation import service

    return getattr(service, name)
