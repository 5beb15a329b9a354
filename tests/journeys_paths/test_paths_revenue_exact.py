"""paths top: revenue is an exact sum, the same whatever order the rows are stored or met in.

A sum of doubles depends on the order it adds them: 0.1 + 0.2 + 0.3 is 0.6000000000000001,
0.3 + 0.2 + 0.1 is 0.6, and the engine's threads meet the rows in no fixed order (the revenue
of ``paths top`` changed in its last digit from run to run). Sums are decimals
(``build.schema.REVENUE_DECIMAL``), as ``customers.revenue``.
"""

from __future__ import annotations

import json
from decimal import Decimal

from paths_people import PU, PV, p

from tests.journey_cli import cli, journey_project

#: three buyers on page_view → purchase, one page_view alone; a fifth goes email_click → purchase
#: twice (0.1 + 0.2 in one journey)
BUYERS = {"b1": "0.1", "b2": "0.2", "b3": "0.3"}


def _people(order: list[str]) -> dict:
    people = {c: [(PV, "2024-01-01 10:00"), (PU, "2024-01-01 10:05", {"revenue": float(BUYERS[c])})]
              for c in BUYERS}
    people["viewer"] = [(PV, "2024-01-02 10:00")]
    people["twice"] = [("email_click", "2024-01-03 10:00"), (PU, "2024-01-03 10:01", {"revenue": 0.1}),
                       (PU, "2024-01-03 10:02", {"revenue": 0.2})]
    return {c: people[c] for c in order}


def _top(root) -> str:
    return cli("paths", "top", "-p", str(root), "--top", "1", "--format", "json")


def test_the_same_paths_give_byte_identical_json_and_the_hand_sums(tmp_path):
    forward = journey_project(tmp_path / "forward", _people(["b1", "b2", "b3", "viewer", "twice"]))
    backward = journey_project(tmp_path / "backward", _people(["twice", "viewer", "b3", "b2", "b1"]))
    first = _top(forward)
    assert _top(forward) == first            # queried twice
    assert _top(backward) == first           # rows stored in the other order
    rows = json.loads(first)
    hand = float(sum(Decimal(v) for v in BUYERS.values()))            # 0.6, as a person adds it
    assert [(r["path"], r["journeys"], r["revenue"]) for r in rows] == [
        (p(PV, PU), 3, hand),
        # the two paths not shown: 0.1 + 0.2 in one journey, nothing on the page view alone;
        # the total (0.9) less the top (0.6) is 0.3, not 0.30000000000000004
        ("other (2 varianti / variants)", 2, float(Decimal("0.1") + Decimal("0.2")))]
    assert rows[0]["revenue"] == 0.6 and rows[1]["revenue"] == 0.3
