"""Test helpers that build tiny projects from readable per-person journeys.

``journeys_for`` writes the build-stage tables (``touchpoints``, ``orders``, ``customers``)
directly, so analysis tests can state journeys in a few lines and check numbers by hand::

    engine = journeys_for(tmp_path, {
        "anna": [("page_view", "2024-01-01 10:00", {"channel": "Paid Search"}),
                 ("receipt", "2024-01-03 17:00", {"channel": "Store / POS", "revenue": 120.0})],
        "bruno": [("page_view", "2024-01-02 09:00", {"channel": "Email"})],
    })
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from percorso.build.schema import CUSTOMER_COLUMNS, ORDER_COLUMNS, RECORD_UPDATE_COLUMNS, TOUCHPOINT_COLUMNS
from percorso.engine import Engine
from percorso.engine.build_sql import TOUCHPOINTS_GENERATED
from percorso.engine.localtime import to_local
from percorso.events import is_touchpoint_type

_PURCHASE_TYPES = {"purchase", "receipt", "return", "refund"}
_ARROW = {
    "VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "DATE": pa.date32(),
}

Step = tuple[str, str | datetime] | tuple[str, str | datetime, Mapping[str, Any]] | Mapping[str, Any]


def _ts(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _table(columns: tuple[tuple[str, str], ...], rows: list[dict[str, Any]]) -> pa.Table:
    arrays = [pa.array([r.get(n) for r in rows], type=_ARROW[t]) for n, t in columns]
    return pa.Table.from_arrays(arrays, names=[n for n, _ in columns])


def journeys_for(
    where: str | Path | Engine,
    journeys: Mapping[str, Sequence[Step]],
    *,
    session_gap_minutes: int = 30,
    time_zone: str | None = None,
) -> Engine:
    """Write ``touchpoints``, ``orders``, ``customers`` and ``record_updates`` for the given journeys.

    As in the build, record-keeping steps (``identify``, ``crm_update``, …: see
    :data:`percorso.events.RECORD_KEEPING_EVENT_TYPES`) go to ``record_updates``, never to
    ``touchpoints``; a person with only such steps is a customer with no touchpoints. Each step is ``(event_type, occurred_at[, fields])`` or a dict with those keys. Fields
    may set any touchpoint column (``channel``, ``revenue``, ``store_id``, ``campaign``…).
    Defaults: ``online`` is false for store/call/fair channels, purchases and receipts
    become orders, sessions split on ``session_gap_minutes`` of inactivity. Times are UTC;
    ``occurred_at_local`` is computed as the build does, in ``time_zone`` (default: the
    engine's, i.e. the project's; ``UTC`` for a bare folder).
    """
    engine = where if isinstance(where, Engine) else Engine(Path(where) / "test.duckdb")
    time_zone = time_zone or engine.time_zone
    tps: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    customers: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    # the customer's number (``touchpoints.customer_no``, ADR 0062): the build reads it out of the
    # id's hex digits; the analyses need only one number per customer, and test ids are any text
    for customer_no, (customer_id, steps) in enumerate(journeys.items(), start=1):
        rows = []
        kept = []
        for i, step in enumerate(steps):
            if isinstance(step, Mapping):
                fields = dict(step)
                event_type, at = fields.pop("event_type"), fields.pop("occurred_at")
            else:
                event_type, at = step[0], step[1]
                fields = dict(step[2]) if len(step) > 2 else {}
            ts = _ts(at)
            eid = fields.pop("event_id", None) or hashlib.sha1(f"{customer_id}|{i}|{event_type}|{ts}".encode()).hexdigest()[:16]
            channel = fields.pop("channel", "Direct")
            online = fields.pop("online", channel not in {"Store / POS", "Call center", "Events & fairs", "Sales rep", "Direct mail / flyer", "Loyalty"})
            row = {
                "event_id": eid, "customer_id": customer_id, "customer_no": customer_no, "occurred_at": ts,
                "event_type": event_type,
                "event_name": event_type, "source_name": "test", "source_system": "web" if online else "pos",
                "channel": channel, "channel_rule": "test", "online": online, "currency": "EUR",
            }
            if "properties" in fields and not isinstance(fields["properties"], str):
                fields["properties"] = json.dumps(fields["properties"])
            if "items" in fields and not isinstance(fields["items"], str):
                fields["items"] = json.dumps(fields["items"])
            row.update(fields)
            if row.get("campaign") is None and row.get("utm_campaign") is not None:
                row["campaign"] = row["utm_campaign"]
            (rows if is_touchpoint_type(event_type) else kept).append(row)
        records.extend(kept)
        rows.sort(key=lambda r: (r["occurred_at"], r["event_id"]))
        session, last = 0, None
        for position, r in enumerate(rows, start=1):
            r["seq"] = position          # the build's order: time, then event id
            if last is not None and (r["occurred_at"] - last).total_seconds() > session_gap_minutes * 60:
                session += 1
            last = r["occurred_at"]
            r["session_no"] = session    # the table shows session_id, "customer_id:session" (ADR 0073)
            if r["event_type"] in _PURCHASE_TYPES and r.get("revenue") is not None:
                oid = r.get("order_id") or f"o-{r['event_id']}"
                r["order_id"] = oid
                orders.append({
                    "order_id": oid, "customer_id": customer_id, "event_id": r["event_id"],
                    "occurred_at": r["occurred_at"], "revenue": float(r["revenue"]), "currency": "EUR",
                    "n_lines": 1, "n_items": 1.0, "store_id": r.get("store_id"), "online": r["online"],
                    "channel": r["channel"], "source_system": r["source_system"],
                    "coupon_code": r.get("coupon_code"),
                    # as build/orders.py: a negative amount is a return whatever its type
                    "is_return": r["event_type"] in {"return", "refund"} or float(r["revenue"]) < 0,
                    "items": r.get("items"),
                })
        tps.extend(rows)
        mine = [o for o in orders if o["customer_id"] == customer_id]
        seen = rows or sorted(kept, key=lambda r: (r["occurred_at"], r["event_id"]))
        customers.append({
            "customer_id": customer_id,
            "first_seen_at": seen[0]["occurred_at"] if seen else None,
            "last_seen_at": seen[-1]["occurred_at"] if seen else None,
            "n_touchpoints": len(rows), "n_orders": sum(not o["is_return"] for o in mine),
            "revenue": sum(o["revenue"] for o in mine), "is_identified": True, "n_identifiers": 1,
            "n_anonymous_ids": 0, "n_devices": 0, "n_emails": 1, "n_phones": 0, "n_cards": 0,
            "consent_profiling": True, "consent_marketing": True,
            "first_channel": rows[0]["channel"] if rows else None,
        })
    for name, columns, table_rows in (("touchpoints", TOUCHPOINT_COLUMNS, tps), ("orders", ORDER_COLUMNS, orders)):
        staged = engine.register_arrow(f"_journeys_for_{name}", _table(columns, table_rows))
        local = to_local(staged.occurred_at, time_zone)
        engine.create_table(name, staged.select(*[local.name(c) if c == "occurred_at_local" else staged[c]
                                                  for c, _ in columns]),
                            generated=TOUCHPOINTS_GENERATED if name == "touchpoints" else None)
        engine.unregister(f"_journeys_for_{name}")
    _write_events(engine, tps)
    engine.create_table("customers", _table(CUSTOMER_COLUMNS, customers))
    engine.create_table("record_updates", _table(RECORD_UPDATE_COLUMNS, records))
    from percorso.build.digest import drop_digests

    drop_digests(engine)   # the tables were not written by a build: the data version rescans them
    return engine


def _write_events(engine: Engine, tps: list[dict[str, Any]]) -> None:
    """The touchpoints' events, with every field a step set: where the analyses read a
    touchpoint's details (page, region, properties, source name: not stored in ``touchpoints``,
    ADR 0061). Events already there with other ids stay (a test may call this twice on one
    engine); those with these ids are replaced."""
    from percorso.engine.event_store import replace_events
    from percorso.events.schema import EVENT_COLUMNS

    replace_events(engine, _table(tuple((c.name, c.sql_type) for c in EVENT_COLUMNS), tps))


def cli_error(result: Any) -> tuple[str, str, int]:
    """(code, message, exit code) of a failed CLI run (a ``CliRunner`` result).

    Asserts what every failure must look like to a user: exactly one ``errore [code]:`` line,
    no traceback, a non-zero exit code.
    """
    out = result.output
    assert "Traceback" not in out, out
    lines = [ln for ln in out.splitlines() if ln.startswith("errore [")]
    assert len(lines) == 1, out
    code, message = lines[0][len("errore ["):].split("]: ", 1)
    assert result.exit_code != 0, out
    return code, message, result.exit_code
