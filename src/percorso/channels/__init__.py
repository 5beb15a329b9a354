"""Marketing channels: GA4 default channel group plus offline channels, as versioned data.

Public API
----------
:func:`load_rules`
    Load and validate ``rules/channel_rules_<version>.csv`` (+ source categories, offline map).
:func:`classify`
    Add ``channel`` / ``channel_rule`` to an Ibis table (one CASE expression, in the engine).
:func:`url_host`
    A URL's host as the rules read it, as an Ibis expression.
:func:`classify_values`
    The same for one visit, in pure Python (explanations, test oracle).
:func:`parse_url_campaign`
    UTM fields and click id of a landing URL as Ibis expressions.
"""

from typing import Any

from percorso.channels.classify_py import classify_values, host_of, normalize
from percorso.channels.names import (
    DEFAULT_VERSION,
    GA4_CHANNELS,
    KNOWN_CHANNELS,
    OFFLINE_CHANNELS,
    UNASSIGNED,
)
from percorso.channels.offline import DEFAULT_OFFLINE_MAPPING, offline_channel
from percorso.channels.rules import ChannelRules, OfflineRule, Rule, load_rules

__all__ = [
    "DEFAULT_OFFLINE_MAPPING", "DEFAULT_VERSION", "GA4_CHANNELS", "KNOWN_CHANNELS", "OFFLINE_CHANNELS",
    "UNASSIGNED", "ChannelRules", "OfflineRule", "Rule", "classify", "classify_values", "host_of",
    "load_rules", "normalize", "offline_channel", "parse_url_campaign", "parse_url_values", "url_host",
]

#: The names that build Ibis expressions, imported on first use: loading the rules (an
#: incremental build, which runs SQL compiled once) then never imports Ibis.
_LAZY = {"classify": "percorso.channels.classify", "url_host": "percorso.channels.classify",
         "parse_url_campaign": "percorso.channels.urls",
         "parse_url_values": "percorso.channels.urls"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'percorso.channels' has no attribute '{name}'")
    import importlib

    module = importlib.import_module(_LAZY[name])
    # the import of the submodule ``classify`` binds the package attribute to the module: bind
    # the functions of the submodule instead (``classify`` too, whichever name came first)
    for lazy, home in _LAZY.items():
        if home == _LAZY[name]:
            globals()[lazy] = getattr(module, lazy)
    return globals()[name]
