"""attribution --measure value: the fractional models give byte-identical JSON run after run and
whatever order the rows are stored in (paths read in path order, values summed exactly:
``attribution.aggregates.load_path_table``, ``_share_sum``)."""

from __future__ import annotations

import json
from decimal import Decimal

from journey_cli import cli, journey_project

#: three buyers on Email (a session the day before) → Paid Search → purchase, their purchases 0.1, 0.2 and 0.3 €
BUYERS = {"b1": "0.1", "b2": "0.2", "b3": "0.3"}


def _people(order: list[str]) -> dict:
    people = {c: [("page_view", "2023-12-31 10:00", {"channel": "Email"}),
                  ("page_view", "2024-01-01 10:02", {"channel": "Paid Search"}),
                  ("purchase", "2024-01-01 10:05", {"channel": "Paid Search", "revenue": float(BUYERS[c])})]
              for c in BUYERS}
    people["viewer"] = [("page_view", "2024-01-02 10:00", {"channel": "Email"})]
    return {c: people[c] for c in order}


def test_value_credits_the_same_json_and_the_hand_halves(tmp_path):
    forward = journey_project(tmp_path / "forward", _people(["b1", "b2", "b3", "viewer"]))
    backward = journey_project(tmp_path / "backward", _people(["viewer", "b3", "b2", "b1"]))
    args = ("--measure", "value", "--models", "linear,position,time_decay,markov,shapley", "--format", "json")
    first = cli("attribution", "--project", str(forward), *args)
    assert cli("attribution", "--project", str(forward), *args) == first
    assert cli("attribution", "--project", str(backward), *args) == first
    rows = {r["node"]: r for r in json.loads(first)}
    # linear: each of the two channels gets half of every purchase, 0.6 / 2 = 0.3 (by hand, in decimals);
    # position (40/20/40) on two steps and Shapley on one path are halves too
    half = float(sum(Decimal(v) for v in BUYERS.values()) / 2)
    for model in ("linear", "position", "shapley"):
        assert rows["Email"][model] == rows["Paid Search"][model] == half == 0.3, model
