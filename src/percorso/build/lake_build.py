"""The build on Spark: identity components, touchpoints, orders and customers from the lake.

Why: on a cluster the events do not fit one process, so neither identity nor the build can
run on DuckDB (DESIGN.md §2). This runs the **same** Ibis build code as
:func:`percorso.build.runner.run_build` (:mod:`~percorso.build.touchpoints`,
:mod:`~percorso.build.orders`, :mod:`~percorso.build.customers`, the channel rules, sessions
and stages) on the Spark engine, reading the lake and writing its derived tables back to it.

Identity: the resolver's rules (identifiers unpivoted from the events and keyed, trust per
source, the blocklist, hub caps and per-kind limits, the device link) run here too, from the
lake's raw events (:func:`percorso.identity.engine_rules.resolve_in_engine`, ADR 0039): the
components come from label propagation in the engine; only the components where a rule can
refuse a link are solved by the resolver's own solver, one component per executor task (ADR 0044). Each component is named
as the resolver names it (the oldest previous customer id it holds, from the lake's current
``identity_map``; else ``'C' + sha256(smallest 'type:value')[:12]``) and each event gets the
customer of its first usable identifier. Analytics consent (each event's latest record decides
whether its cookie is stitched) and erasure pins (identifiers kept flagged as shared, ADR 0028)
apply as on DuckDB, from the lake's ``consent_history`` and ``identity_pins`` (ADR 0044).

Writes: each table is staged under ``<lake>/_staging`` by Spark and moved into the lake only
when every step succeeded (:func:`percorso.lake.install_staged`). ``customers`` leaves out
names and birth date, as the export does.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import ibis

from percorso.build.customers import customers_expr
from percorso.build.orders import orders_expr
from percorso.build.records import record_updates_expr
from percorso.build.schema import CUSTOMER_COLUMNS, ORDER_COLUMNS, TOUCHPOINT_FIELDS
from percorso.build.touchpoints import write_touchpoints
from percorso.engine.dialect import order_item_counts
from percorso.errors import EngineError

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from percorso.engine.spark import SparkEngine
    from percorso.project import Project

#: Columns of ``contact_profiles`` the lake leaves out (as it leaves them out of ``customers``).
_PROFILE_PII = ("first_name", "last_name", "birth_date")

IDENTITY_MAP_COLUMNS = (("id_type", "VARCHAR"), ("id_value", "VARCHAR"), ("customer_id", "VARCHAR"),
                        ("first_seen_at", "TIMESTAMP"), ("id_hash", "BIGINT"))  # Spark keys: xxhash64


@dataclass
class LakeBuildReport:
    """What a build on Spark wrote (rows per table) and how long each step took."""

    rounds: int = 0
    #: what the identity solver got (:attr:`percorso.identity.engine_rules.EngineIdentity.solved`)
    solved: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def name_components(comp: Table, previous: Table | None) -> Table:
    """``label, customer_id``: the resolver's naming of components (ADR 0008's stable ids).

    ``comp`` holds ``label, id_type, id_value``; ``previous`` the last identity map
    (``id_type, id_value, customer_id, first_seen_at``) or None, matched on the identifier
    itself (type and value): its ``id_hash`` may come from another engine's key. A component keeps the oldest previous
    id among its identifiers (oldest first seen, then smallest id); a previous id claimed by
    several components stays with the one holding most of its identifiers (then the smallest
    ``type:value``); the others are new: ``'C'`` and the first 12 hex digits of the SHA-256 of
    the component's smallest ``type:value`` (no kind name is a prefix of another, so the
    smallest string is the smallest pair).
    """
    ident = comp.id_type.concat(":", comp.id_value)
    labs = comp.group_by("label").aggregate(min_ident=ident.min())
    new_id = ibis.literal("C").concat(labs.min_ident.hexdigest("sha256").substr(0, 12))
    if previous is None:
        return labs.select("label", customer_id=new_id)
    pc = previous.group_by("customer_id").aggregate(pfs=previous.first_seen_at.min())
    claim = comp.join(previous.select("id_type", "id_value", "customer_id"), ["id_type", "id_value"])
    claim = claim.group_by(["label", "customer_id"]).aggregate(n=claim.count())
    claim = claim.join(pc, "customer_id")
    oldest = ibis.struct({"at": claim.pfs, "id": claim.customer_id})
    pick = claim.group_by("label").aggregate(customer_id=claim.customer_id.argmin(oldest), n=claim.n.argmin(oldest))
    pick = pick.join(labs, "label")
    most = ibis.struct({"n": -pick.n, "m": pick.min_ident})
    keep = pick.group_by("customer_id").aggregate(label=pick.label.argmin(most))
    out = labs.left_join(keep, "label")
    return out.select(label=out.label, customer_id=out.customer_id.fill_null(new_id))


def identity_map_expr(project: Project, engine: SparkEngine) -> tuple[Table, Table, Any]:
    """The identity map and each event's key identifier (``event_id, id_hash``) resolved on the
    engine from the lake's events, and the run (:class:`~percorso.identity.engine_rules.EngineIdentity`:
    propagation rounds, what the solver got)."""
    from percorso.identity.engine_rules import resolve_in_engine

    ident = resolve_in_engine(project, engine, engine.table("events"))
    comp = ident.nodes
    previous = engine.table("identity_map") if engine.has_table("identity_map") else None
    names = engine.temp_table(name_components(comp, previous))
    clashes = names.group_by("customer_id").aggregate(n=names.count()).filter(ibis._.n > 1).count()
    if int(engine.execute(clashes)):
        raise EngineError("two identity components got the same new customer id (a SHA-256 prefix clash): "
                          "run this build on DuckDB (`percorso build`), which renames clashing ids",
                          code="spark_id_clash")
    m = comp.join(names, "label")
    return m.select(*[name for name, _ in IDENTITY_MAP_COLUMNS]), ident.event_keys, ident


class _LakeStage:
    """The engine the shared build code writes through: Spark for reading, and ``create_table``
    staging a table under the lake's staging folder (nothing is in the lake before the end)."""

    def __init__(self, engine: SparkEngine, staging: Any) -> None:
        self._engine = engine
        self._staging = staging

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def create_table(self, name: str, expr: Any) -> int:
        from percorso.lake import table_spec

        spec = table_spec(name)
        expr = expr.drop(*[c for c in spec.exclude if c in expr.columns])
        t = self._engine.stage_table(name, expr, self._staging, spec.partition_by)
        return int(self._engine.execute(t.count()))


def build_lake(project: Project, engine: SparkEngine) -> LakeBuildReport:
    """Identity, touchpoints, orders and customers on Spark, written into the engine's lake.

    ``project`` gives the settings (channel rules, session gap, stages, time zone); its
    database is not read. The lake must hold what ``percorso lake export`` writes.
    """
    from percorso.channels import load_rules
    from percorso.lake import STAGING, install_staged

    for needed in ("events", "contact_profiles"):
        if not engine.has_table(needed):
            raise EngineError(f"the lake {engine.lake} has no '{needed}': export it with "
                              "`percorso lake export` after `percorso ingest`", code="lake_incomplete")
    report = LakeBuildReport()
    staging = engine.lake / STAGING / f"build-{uuid.uuid4().hex[:12]}"
    stage = _LakeStage(engine, staging)
    st = project.settings
    t0 = time.perf_counter()
    try:
        idmap, keys, ident = identity_map_expr(project, engine)
        report.rounds, report.solved = ident.rounds, ident.solved
        report.rows["identity_map"] = stage.create_table("identity_map", idmap)
        idmap = engine.table("identity_map")
        report.seconds["identity"] = round(time.perf_counter() - t0, 3)

        t1 = time.perf_counter()
        ev = engine.table("events")
        k = ev.left_join(keys, "event_id").drop("event_id_right")
        m = idmap.select("id_hash", "customer_id", "id_type", "id_value")
        identified = k.left_join(m, "id_hash").drop("id_hash_right")
        # the row key the build joins on: the event id (DuckDB's is its rowid, which Spark has not)
        identified = identified.mutate(_r=identified.event_id)
        rows = ev.mutate(_r=ev.event_id)
        rules = load_rules(project, st.channels.rules_version)
        report.rows["touchpoints"] = write_touchpoints(
            stage, "touchpoints", identified, rows, rules, session_gap_minutes=st.build.session_gap_minutes,
            stage_settings=st.stages, time_zone=st.project.time_zone, columns=TOUCHPOINT_FIELDS)
        records = engine.temp_table(record_updates_expr(identified))
        report.seconds["touchpoints"] = round(time.perf_counter() - t1, 3)

        t1 = time.perf_counter()
        tp = engine.table("touchpoints")
        o = orders_expr(tp)
        n_lines, n_items = order_item_counts(o["items"])
        report.rows["orders"] = stage.create_table("orders", o.mutate(n_lines=n_lines, n_items=n_items))
        report.seconds["orders"] = round(time.perf_counter() - t1, 3)

        t1 = time.perf_counter()
        cp = engine.table("contact_profiles")
        # names and birth dates are not in the lake (nor in its customers)
        cp = cp.mutate(**{c: ibis.null("date" if c == "birth_date" else "string") for c in _PROFILE_PII})
        merges = engine.table("identity_merges") if engine.has_table("identity_merges") else None
        cust = customers_expr(tp, records, engine.table("orders"), idmap, identified.select("event_id", "customer_id"),
                              cp, merges)
        report.rows["customers"] = stage.create_table("customers", cust)
        engine.drop_temp(records)
        engine.drop_temp(keys)
        report.seconds["customers"] = round(time.perf_counter() - t1, 3)

        t1 = time.perf_counter()
        tag = f"spark-{staging.name}"
        for name, cols in (("identity_map", IDENTITY_MAP_COLUMNS), ("touchpoints", TOUCHPOINT_FIELDS),
                           ("orders", ORDER_COLUMNS), ("customers", CUSTOMER_COLUMNS)):
            from percorso.lake import table_spec

            cols = [c for c in cols if c[0] not in table_spec(name).exclude]
            engine.unregister(name)
            install_staged(engine.lake, name, staging / name, list(cols), tag)
        engine.reload()
        report.seconds["write"] = round(time.perf_counter() - t1, 3)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if (engine.lake / STAGING).exists() and not any((engine.lake / STAGING).iterdir()):
            (engine.lake / STAGING).rmdir()
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    return report


__all__ = ["LakeBuildReport", "build_lake", "identity_map_expr", "name_components"]
