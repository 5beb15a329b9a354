"""health and cost to serve: the same data gives byte-identical JSON, run after run and whatever
order the rows are stored in (``build.schema.exact_sum``, ``exact_mean``).

A sum of doubles depends on the order it adds them: 0.1 + 0.2 + 0.3 is 0.6000000000000001,
0.3 + 0.2 + 0.1 is 0.6, and the engine's threads meet the rows in no fixed order (health's
avg_score and cost to serve's sums changed in their last digits from run to run on the demo).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

from journey_cli import BUYERS, cli, exact_sum_projects

from percorso.analysis.base import run
from percorso.project import open_project
from percorso.value.cost_to_serve import CostToServeQuery
from percorso.value.health import HealthQuery

HAND = float(sum(Decimal(v) for v in BUYERS.values()))      # 0.6, as a person adds it


def _projects(tmp_path):
    return exact_sum_projects(tmp_path, viewer_channel="Paid Search")


def _same_json(command: str, forward, backward) -> list[dict]:
    first = cli(command, "-p", str(forward), "--format", "json")
    assert cli(command, "-p", str(forward), "--format", "json") == first       # queried twice
    assert cli(command, "-p", str(backward), "--format", "json") == first      # rows stored the other way
    return json.loads(first)


def test_health_the_same_json_and_the_hand_sums(tmp_path):
    forward, backward = _projects(tmp_path)
    rows = [r for r in _same_json("health", forward, backward) if r["customers"]]
    buyers = [r for r in rows if r["customers"] == 3]
    assert len(buyers) == 1 and buyers[0]["revenue"] == HAND == 0.6
    with open_project(forward) as p:
        res = run(p.engine, HealthQuery(), p.settings)
        people = res.customers(limit=10)
    for r in rows:   # each band's mean is the mean of its customers' scores, to the 1e-9 it is taken at
        scores = people.loc[people["band"] == r["band"], "score"]
        assert math.isclose(r["avg_score"], math.fsum(scores) / len(scores), abs_tol=1e-9)


def test_cost_to_serve_the_same_json_and_the_hand_sums(tmp_path):
    forward, backward = _projects(tmp_path)
    rows = _same_json("cost-to-serve", forward, backward)
    assert sum(r["customers"] for r in rows) == 4
    with open_project(backward) as p:
        tot = run(p.engine, CostToServeQuery(), p.settings).meta["totals"]
    assert tot["revenue"] == HAND == 0.6
    # one Email and one Paid Search contact each (flat 0.01 and 0.05 €), one for the viewer:
    # 3 × 0.06 + 0.05 = 0.23 to the cent (0.06 + 0.06 + 0.06 is 0.18000000000000002 in doubles)
    assert tot["marketing_cost"] == 0.23
    # three online deliveries at 6.90 €: 20.70
    assert tot["delivery_cost"] == 20.7
