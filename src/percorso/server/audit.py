"""The audit log: who read individual-level data, who wrote, who exported, and when.

Why append-only and in the database: the record must survive restarts and travel with
backups; nothing updates or deletes it (there is no route that could). A row says who
(token name and role), what (action, route, the query as JSON), when, the status and how
many rows left. It never holds personal data: the query names customer ids or keyed hashes
at most, and identifiers typed by a user are written as their keyed hash.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from percorso.engine import server_sql as S
from percorso.server.tokens import Principal, utcnow

if TYPE_CHECKING:
    from percorso.engine import Engine

_SCHEMA = pa.schema([("audit_id", pa.string()), ("occurred_at", pa.timestamp("us")), ("who", pa.string()),
                     ("role", pa.string()), ("action", pa.string()), ("route", pa.string()),
                     ("query", pa.string()), ("status", pa.int32()), ("row_count", pa.int64()),
                     ("detail", pa.string())])


def audit_row(principal: Principal | None, action: str, route: str, query: Any = None, status: int = 200,
              row_count: int | None = None, detail: str | None = None) -> dict[str, Any]:
    return {"audit_id": uuid.uuid4().hex, "occurred_at": utcnow(), "who": principal.name if principal else None,
            "role": principal.role.name if principal else None, "action": action, "route": route,
            "query": None if query is None else json.dumps(query, sort_keys=True, default=str),
            "status": status, "row_count": row_count, "detail": detail}


def write(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Append audit rows (one batch)."""
    S.ensure_service_tables(engine)
    S.append_audit(engine, pa.Table.from_pylist(rows, schema=_SCHEMA))


def read(engine: Engine, since: date | datetime | None = None, who: str | None = None,
         limit: int = 1000) -> list[dict[str, Any]]:
    """Audit rows, oldest first, optionally from ``since`` (a local day or wall time of the
    project's zone) and for one token name."""
    from percorso.engine.localtime import utc_value

    S.ensure_service_tables(engine)
    if isinstance(since, date) and not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    if since is not None:
        since = utc_value(since, engine.time_zone)
    return S.read_audit(engine, since, who, limit).to_pylist()
