"""The event contract: what a touchpoint is, for every source and every engine.

This package does no I/O; every other package imports from it.
"""

from percorso.events.schema import (
    EVENT_COLUMNS,
    IDENTIFIER_COLUMNS,
    SCHEMA_VERSION,
    Column,
    arrow_schema,
)
from percorso.events.types import (
    EVENT_TYPE_ALIASES,
    EVENT_TYPES,
    GENERIC_EVENT_TYPE,
    ONLINE_SOURCE_SYSTEMS,
    OUTBOUND_EVENT_TYPES,
    RECORD_KEEPING_EVENT_TYPES,
    canonical_event_type,
    event_label,
    is_touchpoint_type,
)

__all__ = [
    "Column",
    "EVENT_COLUMNS",
    "IDENTIFIER_COLUMNS",
    "SCHEMA_VERSION",
    "arrow_schema",
    "EVENT_TYPES",
    "GENERIC_EVENT_TYPE",
    "EVENT_TYPE_ALIASES",
    "ONLINE_SOURCE_SYSTEMS",
    "OUTBOUND_EVENT_TYPES",
    "RECORD_KEEPING_EVENT_TYPES",
    "canonical_event_type",
    "event_label",
    "is_touchpoint_type",
]
