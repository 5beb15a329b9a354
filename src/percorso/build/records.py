"""Record-keeping events vs touchpoints: the one split every build table follows.

Why one place: a CRM export row or an identify call is not something the customer did, yet
it carries a customer id and a time. Counted as a touchpoint it became the first channel of
thousands of customers (``Unassigned``, from a ``crm_update``), the fourth acquisition channel
of the cohorts and a step of persona journeys. The event contract lists these types once
(:data:`percorso.events.RECORD_KEEPING_EVENT_TYPES`); the build splits the identified events
here, so ``touchpoints`` (and everything read from it: sessions, channels, orders, journeys,
attribution, value) never sees them, and ``record_updates`` keeps them for the customer view.
"""

from __future__ import annotations

import ibis.expr.types as ir

from percorso.build.schema import RECORD_UPDATE_COLUMNS
from percorso.events import RECORD_KEEPING_EVENT_TYPES


def is_record_keeping(t: ir.Table) -> ir.BooleanValue:
    """True for the rows of ``t`` (with ``event_type``) that are record keeping.

    ``IN (SELECT unnest([...]))``, not an IN list nor an OR of equalities: over the identified
    events (a view with two joins) DuckDB 2.0 filters those after a scan that reads every
    column of every event (1.25 s at 10M events); the subquery becomes a join whose filter
    reaches the scan (0.28 s).
    """
    import ibis

    return t.event_type.isin(ibis.literal(list(RECORD_KEEPING_EVENT_TYPES), type="array<string>").unnest())


def touchpoint_events(events: ir.Table) -> ir.Table:
    """The events that are touchpoints (every type but record keeping)."""
    return events.filter(~is_record_keeping(events))


def record_updates_expr(identified_events: ir.Table) -> ir.Table:
    """``record_updates`` rows: the record-keeping events that belong to a customer."""
    from percorso.build.touchpoints import _ibis_type

    t = identified_events.filter(identified_events.customer_id.notnull() & is_record_keeping(identified_events))
    return t.select(*[t[name].cast(_ibis_type(sql)).name(name) for name, sql in RECORD_UPDATE_COLUMNS])
