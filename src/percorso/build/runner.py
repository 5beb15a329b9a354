"""``run_build``: identity, then ``touchpoints``, ``orders`` and ``customers``, fully or incrementally.

Why incremental by *customer*: a new event can change a person's sessions (a new event
between two old ones), their session channels, their first channel, their orders and their
profile, and an identity merge moves old events to another customer. Rebuilding every row
of the customers touched by the new events or by changed assignments, and nothing else,
gives exactly the tables a full build would give (a test checks it) while reading only a
small part of the data on a daily import.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from percorso.build import digest as D
from percorso.build import plan as P
from percorso.build.schema import (CUSTOMER_COLUMNS, CUSTOMERS_UNCOMPRESSED, NOT_INFORMATIVE, ORDER_COLUMNS,
                                   ORDERS_UNCOMPRESSED, RECORD_UPDATE_COLUMNS, REVENUE_DECIMAL, SESSION_SYSTEMS,
                                   TOUCHPOINT_TABLE_COLUMNS)
from percorso.channels.rules import load_rules
from percorso.engine import build_sql as S
from percorso.engine import build_tail_sql as T
from percorso.identity.kinds import PRIORITY

if TYPE_CHECKING:
    from percorso.project import Project

Progress = Callable[[str], None]

_BUILD_TABLES = {"touchpoints": TOUCHPOINT_TABLE_COLUMNS, "orders": ORDER_COLUMNS, "customers": CUSTOMER_COLUMNS,
                 "record_updates": RECORD_UPDATE_COLUMNS}
_BUILDS_COLUMNS = (
    ("build_id", "VARCHAR"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"), ("mode", "VARCHAR"),
    ("events", "BIGINT"), ("events_without_customer", "BIGINT"), ("customers_rebuilt", "BIGINT"),
    ("touchpoints", "BIGINT"), ("orders", "BIGINT"), ("customers", "BIGINT"), ("seconds", "DOUBLE"),
)


@dataclass
class BuildReport:
    """What a build did; counts of the tables are after the build, over all data."""

    mode: str
    events: int = 0
    new_events: int = 0
    events_without_customer: int = 0
    customers_rebuilt: int = 0
    #: of those, rebuilt from the time of their first new event, not from their first (ADR 0040)
    customers_from_tail: int = 0
    #: of those, rebuilt from their kept state without reading their kept rows (ADR 0040, 2026-12-05)
    customers_from_state: int = 0
    touchpoints: int = 0
    orders: int = 0
    customers: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    #: what the refresh of the stored value artefacts did (:class:`percorso.value.refresh.RefreshReport`)
    value: dict[str, Any] = field(default_factory=dict)
    activation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The version of what the build derives from the same events and settings. A change of the
#: derivation itself (not of a setting) raises it, so the next build of a project built before
#: is a full one and no table mixes rows of two derivations. 2 (2026-12): ad events without
#: UTMs get a paid medium (``touchpoints.AD_DEFAULT_MEDIUM``); Bing impressions were Organic Search.
#: 3: a clickstream's channel column is its events' channel (ADR 0055; the events of an older
#: project get it by the database's migration 4), where every such event was Direct.
#: 4: an order event without an order id is an order of its own, and a customer's revenue is an
#: exact (decimal) sum (ADR 0057).
DERIVATION_VERSION = 4


def _settings_fingerprint(project: Project) -> str:
    import dataclasses
    import hashlib
    import json

    st = project.settings
    text = json.dumps({"derivation": DERIVATION_VERSION, "stages": st.stages, "gap": st.build.session_gap_minutes,
                       "time_zone": st.project.time_zone,  # the local days of every touchpoint
                       "channels": dataclasses.asdict(st.channels)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _tail_allowed(project: Project) -> bool:
    """Whether customers may be rebuilt from a cut: not when a stage rule reads the channel
    (a kept row's stage would follow a channel the carry changes; ADR 0040)."""
    rules = (project.settings.stages or {}).get("rules") or []
    return not any(isinstance(r, dict) and r.get("channels") for r in rules)


def _schema_changed(engine: Any) -> bool:
    """Whether a build table is missing (no columns) or has other columns than this version writes."""
    return any(engine.columns(name) != [c for c, _ in cols] for name, cols in _BUILD_TABLES.items())


def run_build(project: Project, *, full: bool = False, refresh: bool = True,
              progress: Progress | None = None, parts: int | None = None,
              keep_block_memory: bool = False) -> BuildReport:
    """Resolve identities and derive the build tables.

    Parameters
    ----------
    project
        The open project; its engine is written.
    full
        Rebuild every table from every event; otherwise only the customers touched by new
        events or by identity changes are rebuilt (same result, less work).
    progress
        Called with a short description of each step.
    parts
        Customer parts of a full build's touchpoints (ADR 0036); ``None`` sizes them from the
        engine's memory limit (:func:`build_parts`). The tables are the same for any value.
    keep_block_memory
        The caller's process ends with the build (the ``build`` command): a full build lets the
        engine keep its freed blocks (:meth:`Project.keep_block_memory`, ADR 0035). An
        incremental one does not: it reads little, and mapping the kept blocks cost it more
        than fresh pages did (~0.04 s of ~1 s at 10M events, ADR 0098).
    """
    from percorso.engine.imports_meanwhile import soon

    soon("numpy")   # identity's solver: imported while the first statements run (ADR 0070)
    say = progress or (lambda _m: None)
    engine = project.engine
    started = datetime.now(UTC).replace(tzinfo=None)
    t0 = time.perf_counter()
    report = BuildReport(mode="full")
    if not engine.has_table("events") or engine.count("events") == 0:
        from percorso.errors import InputError

        raise InputError("no events to build from; import files first with `percorso ingest SOURCE FILE`")
    # a table missing, or written by an older version (different columns), is rebuilt, never appended to
    full = full or _schema_changed(engine)
    # the last build's state: which events it read and which customer each identifier had
    after = None if full else S.build_watermark(engine)
    full = full or after is None
    # so is everything when a build setting changed (stage rules, session gap, channel rules):
    # old touchpoints would otherwise keep the old stages and sessions
    fingerprint = _settings_fingerprint(project)
    full = full or S.read_fingerprint(engine) != fingerprint
    report.mode = "full" if full else "incremental"
    if full and keep_block_memory:
        project.keep_block_memory()

    # an incremental build is one transaction, one commit: identity's writes and the tables'
    # (a failure leaves the last build whole, and the next one starts from it again)
    with nullcontext() if full else engine.transaction():
        ident = _resolve_and_derive(project, engine, full=full, after=after, fingerprint=fingerprint, say=say,
                                    progress=progress, report=report, t0=t0, parts=parts)
    if full:
        report.customers_rebuilt = report.customers

    report.events = engine.count("events")
    report.new_events = int(ident.events_read)
    # identity counted the events with a customer without reading the view (a scan of history)
    report.events_without_customer = report.events - int(ident.events_assigned)
    from percorso.value.refresh import refresh_after_build

    t1 = time.perf_counter()
    report.value = refresh_after_build(project, enabled=refresh, progress=progress).to_dict()
    report.seconds["value"] = round(time.perf_counter() - t1, 3)
    from percorso.activation.store import load_journeys

    t1 = time.perf_counter()
    if any(j.enabled for j in load_journeys(project.root)):   # else the service (pandas) is not loaded
        from percorso.activation.service import after_build

        report.activation = after_build(project)
    report.seconds["activation"] = round(time.perf_counter() - t1, 3)
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    _log_build(engine, report, started)
    return report


def _resolve_and_derive(project: Project, engine: Any, *, full: bool, after: int | None, fingerprint: str,
                        say: Progress, progress: Progress | None, report: BuildReport, t0: float,
                        parts: int | None) -> Any:
    """Consent, identity, the ``_build_*`` tables and their write; returns identity's report."""
    from percorso.identity.resolver import resolve
    from percorso.privacy.consent import refresh as refresh_consent

    # the consent the sources hold (newsletter, loyalty and CRM flags, Segment's context.consent)
    # is read first: identity stitching and the per-person outputs check it (percorso.privacy)
    refresh_consent(project)

    say("identità / identity resolution")
    ident = resolve(project, full=full, progress=progress)
    report.identity = ident.to_dict()
    report.seconds["identity"] = round(time.perf_counter() - t0, 3)

    rules = load_rules(project, project.settings.channels.rules_version)
    touched_only = False
    plan_key, plan, to_keep = None, None, False
    if full:
        # the next incremental build's queries compile on a thread while DuckDB works
        # (plan.plan_in_background), started when the touchpoints' wide statement is about to run:
        # started before, it shared the interpreter with the build's compiles and the short
        # statements' Python, which waited (ADR 0088)
        started: list[Callable[[], tuple[str, dict[str, str], bool]]] = []
        # the _build_* rows are grouped, joined or ordered by every reader, never read by position
        with engine.unordered_writes():
            _derive_full(project, engine, rules, say, report, parts,
                         started=lambda: started.append(P.plan_in_background(project, rules, fingerprint)))
        planned = started[0]
    else:
        # only the customers whose rows can differ, and only their events (ADR 0019)
        t1 = time.perf_counter()
        assert after is not None
        touched_only = S.touched_is_partial(engine)
        S.stage_event_rows(engine, after, PRIORITY)
        report.customers_rebuilt = S.stage_scope(engine, touched_only=touched_only)
        # the queries were compiled once (ADR 0032): here they only run, on the event columns they read
        plan_key, plan, to_keep = P.incremental_plan(project, rules, fingerprint)
        # a customer only appended to is rebuilt from the time of their first new event (ADR 0040)
        T.empty_inputs(engine)
        tails = T.stage_cut(engine, after, tail=_tail_allowed(project))
        if tails:
            tails = T.stage_carry(engine, SESSION_SYSTEMS, NOT_INFORMATIVE, project.settings.build.session_gap_minutes)
        staged = S.stage_scope_events(engine, P.event_columns(plan), tail=tails > 0)
        report.seconds["scope"] = round(time.perf_counter() - t1, 3)
        _derive_incremental(engine, plan, say, report, S.light_planning(engine, staged))
        # what each rebuilt customer's rows say at their end, for the next build (ADR 0040)
        T.stage_state(engine, SESSION_SYSTEMS, NOT_INFORMATIVE)

    say("scrittura / writing tables")
    t1 = time.perf_counter()
    with engine.transaction():
        old_digests = {} if full else D.read_digests(engine)
        fallen = not full and T.fast_fallen_back(engine)
        digests = {}
        catalog = {} if full else S.stored_catalog(engine, tuple(_BUILD_TABLES))
        for name in _BUILD_TABLES:
            staged = f"_build_{name}"
            if full:
                S.replace_table(engine, name, staged)
                if name in D.DIGEST_COLUMNS:
                    digests[name] = D.stored_table_digest(engine, name)
            else:
                # the scope holds the old customers of moved events too: a customer retired
                # by a merge loses its rows here and gets none back
                if name in T.CUT_TABLES:   # a tail customer keeps their rows before the cut
                    T.cut_gone(engine, name, fallen=fallen)
                else:
                    S.stage_gone(engine, name, "_build_scope")
                if name in D.DIGEST_COLUMNS:
                    # digest = old - deleted + appended (read before the delete, by rowid)
                    base = old_digests.get(name) or D.stored_table_digest(engine, name)
                    digests[name] = D.updated(base, *D.gone_and_staged_digests(engine, name, staged))
                S.delete_gone(engine, name)
                S.append_table(engine, name, staged, catalog[name])
            if full:   # an incremental build's are dropped with the rest (drop_tail)
                S.drop(engine, staged)
        D.write_digests(engine, digests)
        # a digest's first part is the table's row count (exact: an incremental build updates it by
        # the rows deleted and appended), so the report needs no count of the tables
        report.touchpoints, report.orders, report.customers = (digests[t][0] for t in ("touchpoints", "orders",
                                                                                      "customers"))
        if full:
            T.reset_state(engine)
        else:
            T.write_state(engine)
            T.drop_tail(engine, "_build_scope", "_build_nk", "_build_events", S.SCOPE_MAP, "_build_sessions",
                        S.REGION_MAP, S.REGION_IDS, *S.INCREMENTAL_TEMPS, *(f"_build_{name}" for name in _BUILD_TABLES))
        # what this build was made from: the next incremental build compares
        S.snapshot_build_state(engine, PRIORITY, incremental=not full, touched_only=not full and touched_only)
        S.write_fingerprint(engine, fingerprint)
        if full:  # the next incremental build finds its queries compiled
            plan_key, plan, to_keep = planned()
        if to_keep:
            S.write_plan(engine, plan_key, plan)
    report.seconds["write"] = round(time.perf_counter() - t1, 3)
    return ident


#: Engine memory a full build's touchpoints step holds per event in one statement (the session
#: windows' sort of the narrow key rows), measured at 10M events (ADR 0036); with
#: :data:`_PART_SHARE` of the memory limit per part, 100M events under a 10 GB limit run in 5 parts.
BYTES_PER_EVENT = 250
_PART_SHARE = 0.5


def build_parts(engine: Any, n_events: int) -> int:
    """Customer parts of a full build, so that each part's windows fit in the engine's memory
    (1 when the whole build does: the one-statement path of smaller projects)."""
    import math

    limit = engine.memory_limit_bytes()
    if not limit:
        return 1
    return max(1, math.ceil(n_events * BYTES_PER_EVENT / (limit * _PART_SHARE)))


def _derive_full(project: Project, engine: Any, rules: Any, say: Progress, report: BuildReport,
                 parts: int | None = None, started: Callable[[], None] | None = None) -> None:
    """``_build_*`` tables from every event; ``started``: see :func:`write_touchpoints`."""
    # the expressions (Ibis) are imported here: an incremental build runs their SQL compiled
    # once (:mod:`percorso.build.plan`) and never loads Ibis
    from percorso.build.customers import customers_expr
    from percorso.build.orders import orders_expr
    from percorso.build.records import record_updates_expr
    from percorso.build.touchpoints import keyed, write_touchpoints
    from percorso.engine.event_store import WITH_ROWID
    from percorso.events import RECORD_KEEPING_EVENT_TYPES

    scoped = keyed(engine.table("events_identified"))
    say("punti di contatto / touchpoints")
    t1 = time.perf_counter()
    parts = parts or build_parts(engine, engine.count("events"))
    seen: dict[str, list[str]] = {}
    write_touchpoints(engine, "_build_touchpoints", scoped, keyed(engine.table(WITH_ROWID)), rules,
                      session_gap_minutes=project.settings.build.session_gap_minutes,
                      stage_settings=project.settings.stages, time_zone=project.settings.project.time_zone,
                      parts=parts, progress=say, started=started, seen=seen)
    say("aggiornamenti anagrafici / record updates")
    if seen and not set(seen["event_type"]) & set(RECORD_KEEPING_EVENT_TYPES):
        # no event is record keeping (the touchpoints' scan of the event types says so): the table is
        # empty, without the statement's scan of every identified event (10M events: 0.2-0.3 s)
        engine.create_empty_table("_build_record_updates", RECORD_UPDATE_COLUMNS)
    else:
        engine.create_table("_build_record_updates", record_updates_expr(scoped))
    report.seconds["touchpoints"] = round(time.perf_counter() - t1, 3)

    say("ordini / orders")
    t1 = time.perf_counter()
    new_tp = engine.table("_build_touchpoints")
    with engine.joins_as_written():    # its semi-join builds on the customers with a Direct order
        engine.create_table("_build_orders", orders_expr(new_tp), uncompressed=ORDERS_UNCOMPRESSED)
    S.fill_order_item_counts(engine, "_build_orders")
    report.seconds["orders"] = round(time.perf_counter() - t1, 3)

    say("clienti / customers")
    t1 = time.perf_counter()
    merges = engine.table("identity_merges") if engine.has_table("identity_merges") else None
    # contacts stay keyed hashes: the vault is not opened by the build (percorso.privacy.contacts)
    cust = customers_expr(new_tp, engine.table("_build_record_updates"), engine.table("_build_orders"),
                          engine.table("identity_map"), engine.table("event_customers"),
                          engine.table("contact_profiles"), merges)
    engine.create_table("_build_customers", cust, uncompressed=CUSTOMERS_UNCOMPRESSED)
    report.seconds["customers"] = round(time.perf_counter() - t1, 3)


def _derive_incremental(engine: Any, plan: dict[str, str], say: Progress, report: BuildReport,
                        light: tuple[str, str] | None = None) -> None:
    """``_build_*`` tables of the scope's events (``_build_events``), by the compiled plan.

    Temporary tables: they live only until the write appends them (a stored table was
    written to the database's log for nothing). ``light``: the optimizer settings around the
    steps that read only those tables (:func:`percorso.engine.build_sql.light_planning`); the
    customers step reads stored tables too (profiles, merges) and is planned in full."""
    say("punti di contatto / touchpoints")
    t1 = time.perf_counter()
    S.run_plan_step(engine, "_build_sessions", plan["_build_sessions"], temp=True, settings=light)
    if T.tail_count(engine) and T.session_fallbacks(engine, SESSION_SYSTEMS, NOT_INFORMATIVE):
        # customers whose rows after the cut the carry cannot give: their whole history, then again
        T.picked_of_fallbacks(engine)
        if S.read_picked(engine, P.event_columns(plan)) > S.LIGHT_PLANNING_EVENTS:
            light = None   # whole histories read again: planned in full
        S.run_plan_step(engine, "_build_sessions", plan["_build_sessions"], temp=True, settings=light)
    report.customers_from_tail, report.customers_from_state = T.tail_counts(engine)
    S.run_plan_step(engine, "_build_touchpoints", plan["_build_touchpoints"], temp=True, settings=light)
    S.run_plan_step(engine, "_build_record_updates", plan["_build_record_updates"], temp=True, settings=light)
    report.seconds["touchpoints"] = round(time.perf_counter() - t1, 3)
    say("ordini / orders")
    t1 = time.perf_counter()
    S.run_plan_step(engine, "_build_orders", plan["_build_orders"], temp=True, settings=light)
    S.fill_order_item_counts(engine, "_build_orders")
    report.seconds["orders"] = round(time.perf_counter() - t1, 3)
    say("clienti / customers")
    t1 = time.perf_counter()
    T.stage_all_inputs(engine)
    S.run_plan_step(engine, "_build_customers", plan["_build_customers"], temp=True)
    if report.customers_from_state:
        T.combine_fast_customers(engine, REVENUE_DECIMAL)
    report.seconds["customers"] = round(time.perf_counter() - t1, 3)


def _log_build(engine: Any, report: BuildReport, started: datetime) -> None:
    engine.create_empty_table("builds", _BUILDS_COLUMNS, replace=False)
    row = {
        "build_id": uuid.uuid4().hex[:16], "started_at": started,
        "finished_at": datetime.now(UTC).replace(tzinfo=None), "mode": report.mode, "events": report.events,
        "events_without_customer": report.events_without_customer, "customers_rebuilt": report.customers_rebuilt,
        "touchpoints": report.touchpoints, "orders": report.orders, "customers": report.customers,
        "seconds": report.seconds.get("total", 0.0),
    }
    engine.insert_row("builds", row)


__all__ = ["BuildReport", "build_parts", "run_build"]
