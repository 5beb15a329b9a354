"""Columns of the ``events`` table, the one touchpoint schema every source is mapped to.

The schema is versioned (:data:`SCHEMA_VERSION`); each stored row records the version it
was written under so that later migrations can tell old rows from new ones. Times are
stored as naive ``TIMESTAMP`` values **in UTC**: naive source times are read in the
project time zone at ingest and converted, so every engine compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION = 1

#: The SQL types of the contract (the Arrow type of each: :attr:`Column.arrow_type`).
_SQL_TYPES = ("VARCHAR", "TIMESTAMP", "DOUBLE", "BOOLEAN", "INTEGER", "BIGINT")


@dataclass(frozen=True)
class Column:
    """One column of the contract: its SQL type, Arrow type and meaning."""

    name: str
    sql_type: str
    doc: str

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type of :attr:`sql_type`. Made on use: pyarrow (with numpy, ~0.15 s to
        import) is not loaded by a command that only runs engine SQL (an incremental build)."""
        import pyarrow as pa

        return {
            "VARCHAR": pa.string(),
            "TIMESTAMP": pa.timestamp("us"),
            "DOUBLE": pa.float64(),
            "BOOLEAN": pa.bool_(),
            "INTEGER": pa.int32(),
            "BIGINT": pa.int64(),
        }[self.sql_type]


def _c(name: str, sql_type: str, doc: str) -> Column:
    if sql_type not in _SQL_TYPES:
        raise ValueError(f"column {name}: unknown type {sql_type}; valid: {', '.join(_SQL_TYPES)}")
    return Column(name, sql_type, doc)


#: Identifier columns, in the order identity resolution considers them.
IDENTIFIER_COLUMNS: tuple[str, ...] = (
    "anonymous_id",
    "device_id",
    "user_id",
    "email_key",
    "phone_key",
    "loyalty_card",
    "crm_id",
    "tax_code_key",
    "order_id",
)

EVENT_COLUMNS: tuple[Column, ...] = (
    _c("event_id", "VARCHAR", "idempotency key: a hash of the source and the row's natural key (id column, message id, "
                              "order keys), or of its content when it has none (ADR 0013, 0063)"),
    _c("schema_version", "INTEGER", "version of this contract the row was written under"),
    _c("event_type", "VARCHAR", "canonical event type (page_view, purchase, receipt, ...)"),
    _c("event_name", "VARCHAR", "the name the source used, before aliasing"),
    _c("occurred_at", "TIMESTAMP", "when it happened, UTC"),
    _c("received_at", "TIMESTAMP", "when percorso received it, UTC"),
    _c("source_name", "VARCHAR", "configured source it came from (percorso.toml [sources.NAME])"),
    _c("source_kind", "VARCHAR", "built-in source kind (web, pos, ecommerce, ...)"),
    _c("source_system", "VARCHAR", "system of origin: web, app, ecommerce, pos, loyalty, crm, esp, ads, call_center, events"),
    _c("source_file", "VARCHAR", "file name or batch id the row came from"),
    _c("source_line", "BIGINT", "1-based row number in that file (data rows)"),
    _c("source_key", "VARCHAR", "natural key of the source row (id column, message id, order, store:day:receipt, "
                                "date:channel:campaign); NULL for a row without one, keyed by its content (ADR 0074)"),
    _c("channel", "VARCHAR", "channel given by the source (offline sources); web channels are derived at build"),
    _c("online", "BOOLEAN", "true for digital touchpoints, false for physical ones"),
    _c("anonymous_id", "VARCHAR", "cookie / device-scoped anonymous id"),
    _c("device_id", "VARCHAR", "device id (app installs, tablets)"),
    _c("user_id", "VARCHAR", "login / customer account id of the web shop or app"),
    _c("email_key", "VARCHAR", "HMAC-SHA256 of the normalised email"),
    _c("phone_key", "VARCHAR", "HMAC-SHA256 of the E.164 phone number"),
    _c("loyalty_card", "VARCHAR", "loyalty card number (normalised)"),
    _c("crm_id", "VARCHAR", "CRM contact id"),
    _c("tax_code_key", "VARCHAR", "HMAC-SHA256 of the codice fiscale"),
    _c("order_id", "VARCHAR", "order or receipt id this event belongs to"),
    _c("utm_source", "VARCHAR", "utm_source, lowercased"),
    _c("utm_medium", "VARCHAR", "utm_medium, lowercased"),
    _c("utm_campaign", "VARCHAR", "utm_campaign, lowercased"),
    _c("utm_term", "VARCHAR", "utm_term"),
    _c("utm_content", "VARCHAR", "utm_content"),
    _c("click_id_type", "VARCHAR", "gclid, gbraid, wbraid, fbclid, msclkid, ..."),
    _c("click_id", "VARCHAR", "the click id value"),
    _c("coupon_code", "VARCHAR", "coupon or flyer code"),
    _c("revenue", "DOUBLE", "monetary value (negative for returns)"),
    _c("currency", "VARCHAR", "ISO 4217 currency"),
    _c("store_id", "VARCHAR", "store (physical point of sale) id"),
    _c("items", "VARCHAR", "JSON array of {product, category, qty, price}"),
    _c("page_url", "VARCHAR", "page URL (landing URL for visits)"),
    _c("referrer", "VARCHAR", "referrer URL"),
    _c("user_agent", "VARCHAR", "user agent string"),
    _c("ip_key", "VARCHAR", "HMAC of the IP address"),
    _c("region", "VARCHAR", "region / city"),
    _c("properties", "VARCHAR", "JSON object with everything else"),
    _c("ingest_run_id", "VARCHAR", "id of the ingest run that wrote the row"),
)

EVENT_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS)


def arrow_schema() -> pa.Schema:
    """Arrow schema of the ``events`` table, in column order."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, c.arrow_type) for c in EVENT_COLUMNS])


#: Columns a source may leave empty for every row (a clickstream fills none of them). The project
#: stores one only once an import, a collector batch or a send fills it
#: (:mod:`percorso.engine.event_store`, ADR 0075): DuckDB writes an all-NULL column at about the
#: cost of a filled one (24 such columns: ~3.5 s of a 10M-event import). ``source_key`` too: a row
#: keyed by its content has none (ADR 0074), and stored uncompressed its NULLs still cost a 4-byte
#: offset a row (−0.3 s of a 10M-event import's insert, ADR 0086).
SPARSE_COLUMNS: tuple[str, ...] = (
    "anonymous_id", "device_id", "email_key", "phone_key", "loyalty_card", "crm_id", "tax_code_key", "order_id",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id_type", "click_id",
    "coupon_code", "currency", "store_id", "items", "page_url", "referrer", "user_agent", "ip_key", "region",
    "source_key",
)

#: What the code writes as the source kind and system of an event that no import reads from a
#: file: the activation outbox's sends (``percorso.activation.outbox``).
ACTIVATION_SOURCE = "activation"
#: The event type of a send through a channel other than e-mail (``percorso.activation.outbox``).
MESSAGE_SENT = "message_sent"


@cache
def enumerated_columns() -> dict[str, frozenset[str]]:
    """Columns a new project's ``event_store`` keeps as an ``ENUM`` (ADR 0082), with the values the
    code can write in them: every source kind and source system, every event type an import's
    lookup gives without a source's own mapping, the outbox's.

    Why: DuckDB writes a text column through its string compression, which analyses every value
    (~0.35 s of a 10M-event import for a column of one value), an enumeration as small integers
    (~0.1 s). Why only a vocabulary the code fixes: a value outside it would need the enumeration
    widened, a rewrite of the column, before the write that brings it; the one that can (a
    source's mapping to a type of its own, a test's event) turns the column to text instead, once
    (:func:`percorso.engine.event_store.writable`). Made on use: the kinds live with the import.
    """
    from percorso.events.types import EVENT_TYPE_ALIASES, EVENT_TYPES, GENERIC_EVENT_TYPE
    from percorso.ingest.kinds import KINDS

    kinds = KINDS.values()
    types = {*EVENT_TYPES, *EVENT_TYPE_ALIASES.values(), GENERIC_EVENT_TYPE, MESSAGE_SENT}
    types |= {t for k in kinds for t in (k.event_type, k.fallback_event_type, *k.event_map.values()) if t}
    return {"event_type": frozenset(types),
            "source_kind": frozenset({*KINDS, ACTIVATION_SOURCE}),
            "source_system": frozenset({*(k.source_system for k in kinds), "app", ACTIVATION_SOURCE})}
