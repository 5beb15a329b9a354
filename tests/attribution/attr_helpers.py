"""Shared builders for attribution tests."""

from __future__ import annotations

import math
from datetime import timedelta

import pyarrow as pa

from percorso.attribution.paths import from_arrow
from percorso.testing import journeys_for


def table(rows):
    """rows: (path list, conversions, nulls[, value]) → PathTable."""
    return from_arrow(pa.table({
        "path": [" > ".join(r[0]) for r in rows],
        "total_conversions": [float(r[1]) for r in rows],
        "total_null": [float(r[2]) for r in rows],
        "total_conversion_value": [float(r[3]) if len(r) > 3 else 10.0 * r[1] for r in rows],
    }))


def by_node(paths, credits, col=0):
    return {n: float(credits[i, col]) for i, n in enumerate(paths.nodes)}


def write_streams(engine, spec, t0):
    """spec: {person: [(event_type, channel, minutes after the previous event)]} → written
    as the engine's touchpoints; returns them as dicts (Python datetimes, None sessions)."""
    journeys = {}
    for person, events in spec.items():
        t, steps = t0, []
        for i, (etype, channel, gap) in enumerate(events):
            t += timedelta(minutes=gap)
            steps.append((etype, t, {"channel": channel, "event_id": f"{person}-{i}",
                                     **({"revenue": 10.0} if etype == "purchase" else {})}))
        journeys[person] = steps
    journeys_for(engine, journeys)
    frame = engine.execute(engine.table("touchpoints").select(
        "event_id", "customer_id", "session_id", "occurred_at", "event_type", "channel", "online"))
    return [{**r, "occurred_at": r["occurred_at"].to_pydatetime(),
             "session_id": None if isinstance(r["session_id"], float) and math.isnan(r["session_id"])
             else r["session_id"]} for r in frame.to_dict("records")]
