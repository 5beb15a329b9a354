"""Journeys kept per data version: what every attribution and ROI answer reads, computed once.

Why: the journeys of a conversion definition (:func:`percorso.attribution.journeys.journey_touches`,
windows over every touchpoint of every customer) are most of an attribution's cost and do
not depend on the dates asked: the dates only choose journeys by their conversion moment
(``ref_local``, one value per journey). On a 10M-event project they took 42 s, and the
Attribuzione e ROI page asks four definitions (channel level; channel × campaign for all,
online and store purchases), so its first opening took minutes and every new date range as
long again. Kept whole in the database (ADR 0038), they are computed once per data version
and survive a restart; every date range, model, measure and bootstrap then reads them (a
group-by over the journeys, seconds at 10M instead of minutes).

What makes a stored entry valid: its **key**, a digest of everything that shapes a journey
(the conversion definition, lookback, level, online breakdown, the Direct convention and
channels, excluded event types, one touch per session, :data:`FORMAT` of this code) and the
**data version** (:func:`percorso.value.refresh.data_version`: the built tables' digests
and the build settings). A new data version makes every entry stale; the first answer that
needs one computes it and drops the stale ones. The rows carry ``customer_id``, so an
erasure's sweep of every table by column name removes a person from them too
(:func:`percorso.engine.privacy_sql.sweep_tables`), and the rebuild it runs makes them stale.

Nothing here decides a number: the rows are the same expressions the runner computes live
(:func:`journeys_expr` of :func:`journey_touches`), filtered by the query's dates the same
way. A read-only database, an engine that is not DuckDB (Spark over the lake), or tables
the build did not write (no build digests) compute live as before.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from percorso.attribution import aggregates as A
from percorso.attribution import journeys as J

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from percorso.attribution.settings import AttributionSettings, ConversionDef
    from percorso.engine import Engine

#: Which stored journey tables exist, for which key and data version.
INDEX = "attribution_stored"
_INDEX_COLUMNS = (("name", "VARCHAR"), ("key", "VARCHAR"), ("shape", "VARCHAR"), ("data_version", "VARCHAR"),
                  ("rows", "BIGINT"), ("seconds", "DOUBLE"), ("computed_at", "TIMESTAMP"))
PREFIX = "attribution_journeys_"
#: Bumped when the journey definition's code changes: entries of an older format are stale.
FORMAT = 2  # 2: a web/app conversion that opens its session is its own touch (ADR 0058)


#: The settings that shape a journey (besides the conversion definition and the online breakdown).
SHAPE_SETTINGS = ("lookback_days", "level", "direct", "direct_channels", "exclude_event_types", "one_touch_per_session")


def journey_shape(cfg: AttributionSettings, conversion: ConversionDef, online_breakdown: bool) -> dict[str, Any]:
    """Everything that shapes a journey (not the dates, not the models' parameters)."""
    shape: dict[str, Any] = {k: getattr(cfg, k) for k in SHAPE_SETTINGS}
    shape["direct_channels"], shape["exclude_event_types"] = sorted(cfg.direct_channels), sorted(cfg.exclude_event_types)
    return {**shape, "format": FORMAT, "conversion": conversion.model_dump(mode="json", exclude={"label"}),
            "online_breakdown": bool(online_breakdown)}


def journey_key(cfg: AttributionSettings, conversion: ConversionDef, online_breakdown: bool) -> str:
    """A digest of :func:`journey_shape`."""
    shape = journey_shape(cfg, conversion, online_breakdown)
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def usable(engine: Any) -> bool:
    """A DuckDB database this process may write (the store is a table in it), whose tables the
    build wrote: only then is the data version a fingerprint of their content (the build keeps
    digests of what it writes, ingest never changes an event it has, rules are in the build
    settings); tables written otherwise (tests, tools) compute live."""
    from percorso.build.digest import read_digests
    from percorso.engine import Engine

    return isinstance(engine, Engine) and not engine.read_only and "touchpoints" in read_digests(engine)


def stored_journeys(engine: Engine, cfg: AttributionSettings, conversion: ConversionDef,
                    online_breakdown: bool = False) -> ir.Table | None:
    """Every journey of this definition (all dates), from the store; computed and stored first
    when the store has none for the current data version. ``None``: compute live (see module)."""
    if not usable(engine):
        return None
    from percorso.value.refresh import data_version

    key, version = journey_key(cfg, conversion, online_breakdown), data_version(engine)
    _ensure_index(engine)
    idx = engine.table(INDEX)
    hit = engine.execute(idx.filter((idx.key == key) & (idx.data_version == version)).select("name"))
    if len(hit) and engine.has_table(str(hit["name"].iloc[0])):
        return engine.table(str(hit["name"].iloc[0]))
    return _compute(engine, cfg, conversion, online_breakdown, key, version)


def _compute(engine: Engine, cfg: AttributionSettings, conversion: ConversionDef, online_breakdown: bool,
             key: str, version: str) -> ir.Table:
    """Materialise the journeys of one key, drop every stale entry, record the new one."""
    t0 = time.perf_counter()
    touches = J.journey_touches(engine, cfg, conversion, level=cfg.level, online_breakdown=online_breakdown,
                                with_ref_local=True)
    name = f"{PREFIX}{key}"
    rows = engine.create_table(name, A.journeys_expr(touches, with_ref=True))
    index = engine.execute(engine.table(INDEX))
    keep = index[(index["data_version"] == version) & (index["key"] != key)]
    for stale in set(index["name"]) - set(keep["name"]) - {name}:
        engine.drop_table(str(stale))
    entry = {"name": name, "key": key, "shape": json.dumps(journey_shape(cfg, conversion, online_breakdown), sort_keys=True),
             "data_version": version, "rows": rows,
             "seconds": round(time.perf_counter() - t0, 3), "computed_at": datetime.now(UTC).replace(tzinfo=None)}
    table = pa.Table.from_pylist([*keep.to_dict("records"), entry],
                                 schema=engine.to_arrow(engine.table(INDEX).limit(0)).schema)
    engine.create_table(INDEX, table)
    return engine.table(name)


def _ensure_index(engine: Engine) -> None:
    """The index table, with every stored table dropped if it was written by an older layout."""
    if engine.has_table(INDEX) and engine.columns(INDEX) != [c for c, _ in _INDEX_COLUMNS]:
        for name in engine.execute(engine.table(INDEX).select("name"))["name"]:
            engine.drop_table(str(name))
        engine.drop_table(INDEX)
    engine.create_empty_table(INDEX, _INDEX_COLUMNS, replace=False)


def held(engine: Engine) -> bool:
    """Whether journeys are stored (``percorso build`` then recomputes them, :func:`refresh`)."""
    return usable(engine) and engine.has_table(INDEX) and engine.count(INDEX) > 0


def refresh(engine: Engine, settings: Any) -> str:
    """Recompute the journeys of every shape stored for an older data version (after a build,
    :mod:`percorso.value.refresh`): the shapes someone asked for are ready before anyone asks
    again, the way a CLV fit is refitted. Returns what it did, for the build's summary."""
    from percorso.attribution.settings import ConversionDef, attribution_settings
    from percorso.value.refresh import data_version

    _ensure_index(engine)
    version = data_version(engine)
    index = engine.execute(engine.table(INDEX))
    todo = [json.loads(x) for x in index.loc[index["data_version"] != version, "shape"]]
    base = attribution_settings(settings)
    t0 = time.perf_counter()
    for shape in todo:  # read before the first: computing one drops the stale entries
        cfg = base.model_copy(update={k: shape[k] for k in SHAPE_SETTINGS})
        stored_journeys(engine, cfg, ConversionDef.model_validate(shape["conversion"]), shape["online_breakdown"])
    return f"journey shapes recomputed: {len(todo)} ({time.perf_counter() - t0:.1f} s)"


def in_dates(journeys: ir.Table, query: Any) -> ir.Table:
    """The journeys whose conversion moment falls in the query's local days (as
    :func:`journey_touches` filters its touches: ``ref_local`` is one value per journey)."""
    lo, hi = J._day_bounds(query)
    if lo is not None:
        journeys = journeys.filter(journeys.ref_local >= lo)
    if hi is not None:
        journeys = journeys.filter(journeys.ref_local < hi)
    return journeys
