"""``paths transitions`` counts a pair's customers on each customer's pair set (bit masks) when the
labels are few: the same table and totals as from the distinct (pair, customer) rows, on both
sides of a word's boundary (pair codes past 63), with ends, sessions, exclusions and a short top."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import percorso.journeys.transitions as transitions
from percorso.analysis.base import run
from percorso.engine import Engine
from percorso.journeys.transitions import TransitionsQuery, mask_words
from percorso.testing import journeys_for

#: Nine labels: (9 + 2)² = 121 pair codes, two 63-bit words.
CHANNELS = tuple(f"ch{i}" for i in range(9))
T0 = datetime(2025, 3, 1, 9, 0)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

step = st.tuples(st.sampled_from(CHANNELS), st.integers(0, 10))
people = st.dictionaries(st.sampled_from([f"p{i}" for i in range(8)]), st.lists(step, min_size=1, max_size=9),
                         min_size=1, max_size=8)
queries = st.fixed_dictionaries({
    "scope": st.sampled_from(["customer", "session"]),
    "include_ends": st.booleans(),
    "exclude": st.sampled_from([(), ("ch8",)]),
    "top": st.integers(1, 6),
})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = Engine(tmp_path_factory.mktemp("masks") / "m.duckdb")
    yield e
    e.close()


def test_words_by_labels():
    """(labels + 2)² codes in 63-bit words, at most MASK_WORDS of them."""
    assert mask_words(5) == 1 and mask_words(6) == 2 and mask_words(9) == 2
    assert mask_words(13) == 4 and mask_words(14) is None


def _table(engine: Engine, q: TransitionsQuery) -> tuple[list[tuple], dict]:
    r = run(engine, q)
    rows = [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
            for row in r.to_frame().itertuples(index=False)]
    return rows, r.meta


@SETTINGS
@given(spec=people, kw=queries)
def test_pair_sets_equal_distinct_rows(engine, spec, kw):
    journeys_for(engine, {person: [("page_view", T0 + timedelta(minutes=20 * tick), {"event_id": f"{person}-{i}",
                                                                                     "channel": channel})
                                   for i, (channel, tick) in enumerate(steps)]
                          for person, steps in spec.items()})
    q = TransitionsQuery(node="channel", **kw)
    by_masks = _table(engine, q)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(transitions, "MASK_WORDS", 0)   # every label count past the sets: distinct rows
        by_rows = _table(engine, q)
    assert by_masks == by_rows


def test_masks_are_taken_for_few_labels(engine, monkeypatch):
    """The branch above is the pair sets' (their SQL aggregates bits), and the rows' without them."""
    journeys_for(engine, {"a": [("page_view", T0, {"channel": c}) for c in CHANNELS]})
    compiled: list[str] = []
    real = Engine.compile
    monkeypatch.setattr(Engine, "compile", lambda self, expr: compiled.append(real(self, expr)) or compiled[-1])
    run(engine, TransitionsQuery(node="channel"))
    assert any("BIT_OR" in sql for sql in compiled)
    compiled.clear()
    monkeypatch.setattr(transitions, "MASK_WORDS", 0)
    run(engine, TransitionsQuery(node="channel"))
    assert not any("BIT_OR" in sql for sql in compiled)
