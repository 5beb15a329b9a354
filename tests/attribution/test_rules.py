"""Rule-based models: hand-computed examples and a pure-Python oracle."""

from __future__ import annotations

import pytest
from attr_helpers import by_node, table
from attribution_oracle import rule_credits
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.attribution import rules

ROWS = [(["Email", "Paid Search", "Direct"], 2, 1), (["Direct"], 1, 0), (["Paid Search", "Email"], 1, 3)]


def test_hand_computed_examples():
    p = table(ROWS)
    assert by_node(p, rules.first_touch(p)) == {"Direct": 1, "Email": 2, "Paid Search": 1}
    assert by_node(p, rules.last_touch(p)) == {"Direct": 3, "Email": 1, "Paid Search": 0}
    # path 1's last non-direct is Paid Search; 'Direct' alone keeps Direct
    assert by_node(p, rules.last_non_direct(p)) == {"Direct": 1, "Email": 1, "Paid Search": 2}
    lin = by_node(p, rules.linear(p))
    assert lin == pytest.approx({"Email": 2 / 3 + 0.5, "Paid Search": 2 / 3 + 0.5, "Direct": 2 / 3 + 1})
    pos = by_node(p, rules.position_based(p))
    # 3 touches: 0.4 / 0.2 / 0.4 of 2 conversions; 2 touches: 0.5 / 0.5; 1 touch: all
    assert pos == pytest.approx({"Email": 0.8 + 0.5, "Paid Search": 0.4 + 0.5, "Direct": 0.8 + 1})
    pos2 = by_node(p, rules.position_based(p, first=0.6, last=0.2))
    assert pos2 == pytest.approx({"Email": 1.2 + 0.25, "Paid Search": 0.4 + 0.75, "Direct": 0.4 + 1})
    # value credit follows the same weights: first touch of path 1 carries its 20 €
    assert by_node(p, rules.first_touch(p), col=1)["Email"] == 20.0


def test_time_decay_positional_hand():
    p = table([(["a", "b"], 1, 0)])
    td = by_node(p, rules.time_decay_positional(p, half_life_steps=1.0))
    assert td == pytest.approx({"a": 1 / 3, "b": 2 / 3})  # weights 1/2 and 1


CHANNELS = st.sampled_from(["Direct", "Email", "Paid Search", "Display", "Store / POS"])
PATH_ROWS = st.lists(st.tuples(st.lists(CHANNELS, min_size=1, max_size=6),
                               st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None)
@given(PATH_ROWS, st.floats(0, 0.5), st.floats(0, 0.5))
def test_rules_equal_oracle(rows, first, last):
    p = table(rows)
    simple = [(r[0], r[1]) for r in rows]
    cases = {
        "first": rules.first_touch(p), "last": rules.last_touch(p), "linear": rules.linear(p),
        "last_non_direct": rules.last_non_direct(p),
    }
    for name, credits in cases.items():
        expected = rule_credits(simple, name)
        got = by_node(p, credits)
        assert got == pytest.approx({n: expected.get(n, 0.0) for n in got}, abs=1e-9), name
    got = by_node(p, rules.position_based(p, first, last))
    expected = rule_credits(simple, "position", first=first, last=last)
    assert got == pytest.approx({n: expected.get(n, 0.0) for n in got}, abs=1e-9)
    got = by_node(p, rules.time_decay_positional(p, 2.0))
    expected = rule_credits(simple, "time_decay", half_life=2.0)
    assert got == pytest.approx({n: expected.get(n, 0.0) for n in got}, abs=1e-9)
    total = sum(r[1] for r in rows)
    assert rules.linear(p)[:, 0].sum() == pytest.approx(total)
