"""Offline channels: the channel of a touchpoint that has no URL, from its source system.

Why a mapping and not UTMs: tills, call centres, loyalty desks and fairs never carry
campaign tags; their channel is a property of where the record came from. The mapping is
the editable table ``rules/offline_channels.csv`` (source_system and/or event_type →
channel, first match wins); :data:`DEFAULT_OFFLINE_MAPPING` documents the shipped one.
"""

from __future__ import annotations

from percorso.channels.classify_py import offline_rule_for
from percorso.channels.names import OFFLINE_CHANNELS
from percorso.channels.rules import ChannelRules

#: (source_system, event_type) → channel as shipped (``None`` = any); the CSV is authoritative.
DEFAULT_OFFLINE_MAPPING: dict[tuple[str | None, str | None], str] = {
    (None, "store_visit"): "Store / POS",
    ("pos", None): "Store / POS",
    ("call_center", None): "Call center",
    ("loyalty", None): "Loyalty",
    (None, "fair_visit"): "Events & fairs",
    (None, "sales_meeting"): "Sales rep",
    (None, "flyer_received"): "Direct mail / flyer",
    (None, "direct_mail"): "Direct mail / flyer",
    ("esp", None): "Email",
}


def offline_channel(source_system: str | None, event_type: str | None, rules: ChannelRules) -> str | None:
    """Channel of an offline touchpoint, or ``None`` when no mapping row applies."""
    r = offline_rule_for(source_system, event_type, rules)
    return r.channel if r else None


__all__ = ["DEFAULT_OFFLINE_MAPPING", "OFFLINE_CHANNELS", "offline_channel"]
