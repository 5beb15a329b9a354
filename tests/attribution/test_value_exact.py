"""attribution --measure value: the fractional models give byte-identical JSON run after run and
whatever order the rows are stored in (paths read in path order, values summed exactly:
``attribution.aggregates.load_path_table``, ``_share_sum``)."""

from __future__ import annotations

import json
from decimal import Decimal

from journey_cli import BUYERS, cli, exact_sum_projects

def test_value_credits_the_same_json_and_the_hand_halves(tmp_path):
    forward, backward = exact_sum_projects(tmp_path, viewer_channel="Email")
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
