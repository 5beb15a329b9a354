"""The stored position ``touchpoints.seq`` gives every journey analysis the same answer as sorting
by time and event id (ADR 0035): random small journeys (ties in time, sessions, purchases),
each analysis run on a table with the column and on the same table without it (an older build:
the general path), under the controls that change which rows a journey keeps."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.engine import Engine
from percorso.journeys.friction import FrictionQuery
from percorso.journeys.funnel import FunnelQuery
from percorso.journeys.paths import PathsQuery
from percorso.journeys.transitions import TransitionsQuery
from percorso.testing import journeys_for

LABELS = ("page_view", "product_view", "cart", "purchase")
T0 = datetime(2025, 3, 1, 9, 0)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

step = st.tuples(st.sampled_from(LABELS), st.integers(0, 12), st.sampled_from(["Email", "Direct", "Store / POS"]))
people = st.dictionaries(st.sampled_from([f"p{i}" for i in range(6)]), st.lists(step, min_size=1, max_size=9),
                         min_size=1, max_size=6)
controls = st.fixed_dictionaries({
    "scope": st.sampled_from(["customer", "session"]),
    "collapse_repeats": st.booleans(),
    "exclude": st.sampled_from([(), ("page_view",)]),
    "date_from": st.sampled_from([None, date(2025, 3, 1), datetime(2025, 3, 1, 10, 0)]),
    "online": st.sampled_from([None, True]),
})


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stored-order")
    stored, general = Engine(folder / "s.duckdb"), Engine(folder / "g.duckdb")
    yield stored, general
    stored.close()
    general.close()


def load(engines: tuple[Engine, Engine], spec: dict) -> None:
    """The same journeys in both engines (20-minute ticks: ties and session breaks are common,
    the day changes at tick 45); the second loses ``seq``."""
    journeys = {
        person: [(label, T0 + timedelta(minutes=20 * tick),
                  {"event_id": f"{person}-{(i * 7) % 10}{i}", "channel": channel,
                   **({"revenue": 10.0 + i} if label == "purchase" else {})})
                 for i, (label, tick, channel) in enumerate(steps)]
        for person, steps in spec.items()}
    stored, general = engines
    journeys_for(stored, journeys)
    journeys_for(general, journeys)
    general.con.execute("ALTER TABLE touchpoints DROP COLUMN seq")
    assert "seq" in stored.table("touchpoints").columns and "seq" not in general.table("touchpoints").columns


def same(engines: tuple[Engine, Engine], query) -> None:
    from pandas.testing import assert_frame_equal

    a, b = (run(e, query).to_frame() for e in engines)
    assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


@SETTINGS
@given(spec=people, c=controls, max_steps=st.integers(1, 4), start=st.none() | st.sampled_from(LABELS))
def test_paths_and_transitions_are_the_same_with_the_stored_order(engines, spec, c, max_steps, start):
    load(engines, spec)
    same(engines, PathsQuery(max_steps=max_steps, start=start, **c))
    same(engines, TransitionsQuery(include_ends=True, **c))
    same(engines, FrictionQuery(min_journeys=1, **c))


@SETTINGS
@given(spec=people, c=controls, order=st.sampled_from(["ordered", "strict", "any"]),
       window=st.sampled_from(["1h", "30d"]), exclusion=st.booleans())
def test_funnels_are_the_same_with_the_stored_order(engines, spec, c, order, window, exclusion):
    load(engines, spec)
    ex = (("page_view", 1, 2),) if exclusion and "page_view" not in c["exclude"] else ()
    same(engines, FunnelQuery(steps=("product_view", "cart|page_view", "purchase"), order=order, window=window,
                              exclusions=ex, **c))
