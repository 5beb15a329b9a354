"""Stable reason codes of quarantined rows (``quarantine.reason_code``).

Codes never change once released: scripts and dashboards match on them. The message
stored next to each code says what was wrong, where, and what would have been valid.
"""

from __future__ import annotations

BAD_TIMESTAMP = "bad_timestamp"
"""A date/time that none of the accepted formats can read."""
BAD_NUMBER = "bad_number"
"""An amount or quantity that is not a number (in the file's decimal convention)."""
MISSING_REQUIRED = "missing_required"
"""A field the source kind needs (key, time, event name, ...) is empty."""
BAD_JSON = "bad_json"
"""A JSON Lines line that is not a JSON object."""
UNKNOWN_EVENT_TYPE = "unknown_event_type"
"""An event name that is neither a canonical type, an alias nor in the source's event map."""
WRONG_COLUMN_COUNT = "wrong_column_count"
"""A CSV line with more or fewer fields than the header."""
BAD_ENCODING = "bad_encoding"
"""Bytes that are not valid in the file's encoding."""
BAD_CSV = "bad_csv"
"""Any other CSV syntax problem (unterminated quote, ...)."""
NO_IDENTIFIER = "no_identifier"
"""A row with none of the identifiers its kind needs to be linked to anyone."""
NEGATIVE_VALUE = "negative_value"
"""A quantity that cannot be negative (a cost, impressions, a call duration) is below zero."""

BAD_BOOLEAN = "bad_boolean"
"""A yes/no value outside the source's vocabulary (``forse``): never guessed."""
IMPLAUSIBLE_TIME = "implausible_time"
"""A valid date outside the plausible window (``[ingest] earliest`` .. now + a day): year 1, 9999."""
INCOMPLETE_ORDER = "incomplete_order"
"""A good line of an order or receipt with a bad line: the whole order waits for its corrected export."""

# The collector (Segment HTTP API) answers these with a 4xx naming the field, and keeps the
# raw payload (capped) in quarantine under them; see percorso.collector.envelope.
COLLECTOR_BAD_JSON = "collector_bad_json"
"""A request body or batch item that is not JSON, or not a JSON object where one is needed."""
COLLECTOR_BAD_ENCODING = "collector_bad_encoding"
"""A body that is not UTF-8 (or a gzip body that does not inflate)."""
COLLECTOR_TOO_LARGE = "collector_too_large"
"""An event over 32 KB or a batch over 500 KB (HTTP 413)."""
COLLECTOR_MISSING_FIELD = "collector_missing_field"
"""A field the call type needs is absent or empty (userId or anonymousId, event, previousId...)."""
COLLECTOR_BAD_TYPE = "collector_bad_type"
"""A field of the wrong JSON type (properties not an object, revenue not a number...)."""
COLLECTOR_BAD_TIMESTAMP = "collector_bad_timestamp"
"""A time that is not ISO 8601, or outside the plausible window."""
COLLECTOR_UNKNOWN_EVENT = "collector_unknown_event"
"""A call type or track event name this source does not know (map it in percorso.toml)."""

COLLECTOR_CODES: tuple[str, ...] = (
    COLLECTOR_BAD_JSON, COLLECTOR_BAD_ENCODING, COLLECTOR_TOO_LARGE, COLLECTOR_MISSING_FIELD,
    COLLECTOR_BAD_TYPE, COLLECTOR_BAD_TIMESTAMP, COLLECTOR_UNKNOWN_EVENT,
)

REASON_CODES: tuple[str, ...] = (
    BAD_TIMESTAMP, BAD_NUMBER, MISSING_REQUIRED, BAD_JSON, UNKNOWN_EVENT_TYPE,
    WRONG_COLUMN_COUNT, BAD_ENCODING, BAD_CSV, NO_IDENTIFIER, NEGATIVE_VALUE,
    BAD_BOOLEAN, IMPLAUSIBLE_TIME, INCOMPLETE_ORDER, *COLLECTOR_CODES,
)
