"""The demo's findings, checked against the generator's ground truth.

Why: the demo is the product's promise in one screen: how many people were found, where they
touched the brand, what they bought online and in store, what was rejected and why, and how
right the identity stitching is. Reconciliation compares every malformed row the generator
wrote (``ground_truth/malformed.csv``) with the quarantine, so a lost row shows up as a
number, not as silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    from percorso.demo.run import DemoReport
    from percorso.engine import Engine


def _records(frame: Any) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def customer_counts(engine: Engine) -> dict[str, Any]:
    """People found, with touchpoints, identified, buyers, and buyers online, in store and both
    (the customer definitions of :mod:`percorso.build.definitions`)."""
    c = engine.table("customers")
    o = engine.table("orders")
    o = o.filter(~o.is_return)
    per = o.group_by("customer_id").aggregate(
        online=o.online.any(), store=(~o.online).any(),
    )
    head = engine.execute(c.aggregate(customers=c.count(), with_touchpoints=c.count(where=c.n_touchpoints > 0),
                                      identified=c.count(where=c.is_identified)))
    mix = engine.execute(per.aggregate(
        buyers=per.count(),
        online_only=per.count(where=per.online & ~per.store),
        store_only=per.count(where=per.store & ~per.online),
        omnichannel=per.count(where=per.online & per.store),
    ))
    return {**_records(head)[0], **_records(mix)[0]}


def quarantine_by_reason(engine: Engine) -> list[dict[str, Any]]:
    """Quarantined rows per source and stable reason code."""
    if not engine.has_table("quarantine"):
        return []
    q = engine.table("quarantine")
    frame = engine.execute(q.group_by("source_name", "reason_code").aggregate(rows=q.count()))
    return _records(frame.sort_values(["source_name", "rows"], ascending=[True, False]))


def reconcile_malformed(engine: Engine, malformed_csv: Path) -> list[dict[str, Any]]:
    """Per source: malformed rows generated, found in quarantine, and missing (must be 0)."""
    import pyarrow.csv as pacsv

    if not malformed_csv.exists():
        return []
    truth = pacsv.read_csv(malformed_csv, convert_options=pacsv.ConvertOptions(
        column_types={"source_name": "string", "file": "string", "line": "int64", "defect": "string"}))
    m = engine.register_arrow("_demo_malformed", truth)
    try:
        q = engine.table("quarantine").select("source_name", line=ibis._.source_line.cast("int64")).distinct()
        hit = m.left_join(q, [m.source_name == q.source_name, m.line == q.line])
        found = hit.select(source_name=m.source_name, found=q.line.notnull())
        frame = engine.execute(found.group_by("source_name").aggregate(
            generated=found.count(), in_quarantine=found.found.sum().cast("int64")))
    finally:
        engine.unregister("_demo_malformed")
    frame["missing"] = frame["generated"] - frame["in_quarantine"]
    return _records(frame.sort_values("source_name"))


def identity_quality(engine: Engine, truth_csv: Path) -> dict[str, Any]:
    """Pairwise precision and recall of the customers against the true persons, and hubs flagged."""
    from percorso.identity.evaluation import evaluate

    result: dict[str, Any] = evaluate(engine, truth_csv) if truth_csv.exists() else {}
    if engine.has_table("identity_flags"):
        f = engine.table("identity_flags")
        result["hubs_flagged"] = int(engine.execute(f.count()))
    return result


def example_customer(engine: Engine) -> str | None:
    """An interesting person to look at: bought online and in store, most channels."""
    t = engine.table("touchpoints")
    per = t.group_by("customer_id").aggregate(
        channels=t.channel.nunique(), online=t.online.any(), offline=(~t.online).any(),
        orders=t.order_id.nunique(),
    )
    best = per.filter(per.online & per.offline & (per.orders > 0)).order_by(
        [ibis.desc("channels"), ibis.desc("orders"), "customer_id"]).limit(1)
    frame = engine.execute(best.select("customer_id"))
    return None if frame.empty else str(frame.iloc[0, 0])


def fill_summary(engine: Engine, ground_truth: Path, report: DemoReport) -> None:
    """Fill the findings of ``report`` from the built tables and the ground truth folder."""
    from percorso.build.summary import orders_by_place, touchpoints_by_channel

    report.customers = customer_counts(engine)
    report.channels = touchpoints_by_channel(engine)
    report.orders = orders_by_place(engine)
    report.quarantine = quarantine_by_reason(engine)
    report.reconciliation = reconcile_malformed(engine, ground_truth / "malformed.csv")
    report.identity = identity_quality(engine, ground_truth / "identity.csv")
    report.example_customer = example_customer(engine)
