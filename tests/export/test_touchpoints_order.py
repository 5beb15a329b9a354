"""``export touchpoints`` writes each customer's journey in order, one journey after the other."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta

from percorso.export.tables import export_table
from percorso.testing import journeys_for

TYPES = ("page_view", "product_view", "cart", "email_click", "purchase")


def test_export_rows_follow_customer_then_position(tmp_path):
    rnd = random.Random(7)
    start = datetime(2025, 3, 1, 9)
    people = {f"p{i:03d}": [(rnd.choice(TYPES), start + timedelta(minutes=rnd.randrange(0, 60 * 24 * 30)))
                            for _ in range(rnd.randrange(1, 9))] for i in range(60)}
    engine = journeys_for(tmp_path, people)
    # stored in no useful order, as a build's parallel write leaves them
    tp = engine.table("touchpoints")
    engine.create_table("touchpoints", tp.order_by(tp.event_id.hash()))
    out = tmp_path / "tp.csv"
    n = export_table(engine, "touchpoints", out, csv_profile="standard")
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows) == sum(len(steps) for steps in people.values())
    got = [(r["customer_id"], int(r["seq"])) for r in rows]
    assert got == sorted(got)
    # positions run 1, 2, … within each journey, and the times never go back
    by = {}
    for r in rows:
        by.setdefault(r["customer_id"], []).append(r)
    for journey in by.values():
        assert [int(r["seq"]) for r in journey] == list(range(1, len(journey) + 1))
        assert [r["occurred_at"] for r in journey] == sorted(r["occurred_at"] for r in journey)
