"""A touchpoint's details: the event's own columns that ``touchpoints`` does not store (ADR 0061).

Why a join and not a stored copy: writing a column costs the full build ~0.15-0.5 s per 10M rows
whatever its values (all-NULL columns included), and the details (page, referrer, region,
properties, source name: :data:`~percorso.build.schema.TOUCHPOINT_DETAILS`) are read only by the
queries that name one. Those queries add them here, by ``event_id``, after their own filters: a
customer's page of timeline joins that page, a page node joins the scoped touchpoints. Why not a
view over both tables: DuckDB 2.0.1 keeps a ``LEFT JOIN`` on a unique key whose columns a query
does not read, so every reader would pay the join.

A touchpoint shows the values its event has now: an erasure's masking or a retention detach of
the event shows in its touchpoint at once, not at the next build.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import ibis

from percorso.build.schema import TOUCHPOINT_COMPUTED, TOUCHPOINT_DETAILS, TOUCHPOINT_FIELDS, TOUCHPOINT_KEYS

if TYPE_CHECKING:
    import ibis.expr.types as ir

_IBIS = {"VARCHAR": "string", "TIMESTAMP": "timestamp", "DOUBLE": "float64", "BOOLEAN": "boolean", "BIGINT": "int64"}
_TYPES = dict(TOUCHPOINT_FIELDS)
_ORDER = {name: i for i, (name, _) in enumerate(TOUCHPOINT_FIELDS)}


def details_in(names: Iterable[str]) -> list[str]:
    """The detail columns among ``names`` (column names a query reads), each once, in field order."""
    wanted = set(names)
    return [n for n in TOUCHPOINT_DETAILS if n in wanted]


def with_details(engine: Any, t: ir.Table, names: Iterable[str] | None = None) -> ir.Table:
    """``t`` (touchpoint rows with ``event_id``) with the detail columns ``names`` (default: all),
    read from ``events`` by ``event_id``; the columns in :data:`TOUCHPOINT_FIELDS` order.

    Without ``names``, the rows as a reader sees a touchpoint (an export, the lake, a person's
    access archive): every field, and not the internal keys (:data:`TOUCHPOINT_KEYS`, ADR 0062) nor
    the stored columns of computed fields (:data:`TOUCHPOINT_COMPUTED`, ADR 0073).

    Pass ``t`` already filtered to the rows wanted: the join costs what it reads. A column ``t``
    has already (a table written before ADR 0061) is kept as it is; without an ``events`` table
    (a database holding the built tables alone) the details are NULL.
    """
    if names is None:
        t = t.drop(*[n for n, _ in (*TOUCHPOINT_KEYS, *TOUCHPOINT_COMPUTED.values()) if n in t.columns])
    wanted = [n for n in details_in(TOUCHPOINT_DETAILS if names is None else names) if n not in t.columns]
    if not wanted:
        return t
    if not engine.has_table("events"):
        out = t.mutate(**{n: ibis.null(_IBIS[_TYPES[n]]) for n in wanted})
    else:
        ev = engine.table("events")
        ev = ev.select(_d_event_id=ev.event_id, **{f"_d_{n}": ev[n].cast(_IBIS[_TYPES[n]]) for n in wanted})
        j = t.left_join(ev, t.event_id == ev._d_event_id)
        out = j.select(*[j[c] for c in t.columns], **{n: j[f"_d_{n}"] for n in wanted})
    names_now = sorted(out.columns, key=lambda c: _ORDER.get(c, len(_ORDER)))
    return out.select(*names_now)


__all__ = ["details_in", "with_details"]
