"""Steps numbered by the columns their labels are made of (``controls.label_numbers``), with the labels
of enumerated columns known from their declared values (``controls.step_vocabulary``): ``paths
transitions``, ``paths top`` and the funnel give the same tables as from label texts, on random
journeys of typed and generic events (a generic event without a name is labelled by its type),
with values declared that no touchpoint has, with ends, sessions, exclusions and date filters."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import percorso.journeys.funnel as funnel
from percorso.analysis.base import run
from percorso.engine import Engine
from percorso.errors import InputError
from percorso.journeys.controls import EVENT_NODE, MISSING_LABEL, JourneyQuery, step_vocabulary
from percorso.journeys.funnel import FunnelQuery
from percorso.journeys.paths import PathsQuery
from percorso.journeys.transitions import TransitionsQuery
from percorso.testing import journeys_for

T0 = datetime(2025, 3, 1, 9, 0)
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: (event type, event name): typed events, generic ones by name, a generic one without a name
EVENTS = (("page_view", "page_view"), ("product_view", "product_view"), ("purchase", "purchase"),
          ("custom", "cart"), ("custom", "catalog"), ("custom", None), ("custom", "purchase"))
CHANNELS = ("Email", "Direct", "Paid Search")
#: declared values no touchpoint has: numbers nobody uses
UNUSED = {"event_type": ["search"], "event_name": ["zz_unused"], "channel": ["Affiliates"]}

step = st.tuples(st.sampled_from(EVENTS), st.sampled_from(CHANNELS), st.integers(0, 12))
people = st.dictionaries(st.sampled_from([f"p{i}" for i in range(7)]), st.lists(step, min_size=1, max_size=8),
                         min_size=1, max_size=7)
controls = st.fixed_dictionaries({
    "node": st.sampled_from([EVENT_NODE, "channel", "event_name"]),
    "scope": st.sampled_from(["customer", "session"]),
    "exclude": st.sampled_from([(), ("cart",), ("Email",)]),
    "date_from": st.sampled_from([None, date(2025, 3, 2)]),
})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = Engine(tmp_path_factory.mktemp("vocabulary") / "v.duckdb")
    yield e
    e.close()


def _enumerated(engine: Engine, spec: dict) -> None:
    """``journeys_for`` of ``spec``, its touchpoints' event type, name and channel then stored as
    enumerations of their values and :data:`UNUSED`, as the build stores them (ADR 0071)."""
    journeys_for(engine, {person: [("custom" if kind == "custom" else kind, T0 + timedelta(hours=7 * tick),
                                    {"event_id": f"{person}-{i}", "event_name": name, "channel": channel,
                                     **({"revenue": 1.5} if kind == "purchase" else {})})
                                   for i, ((kind, name), channel, tick) in enumerate(steps)]
                          for person, steps in spec.items()})
    engine.create_table("_plain", engine.table("touchpoints"))
    plain = engine.table("_plain")
    values = {c: [r[c] for r in engine.rows(plain.select(c).distinct()) if r[c] is not None] + UNUSED[c]
              for c in UNUSED}
    engine.create_table("touchpoints", plain, enums=values)
    engine.drop_table("_plain")


def _table(engine: Engine, q: JourneyQuery) -> tuple[list[tuple], dict] | str:
    try:
        r = run(engine, q)
    except InputError as exc:   # a step named by generic and typed events is ambiguous either way
        return str(exc)
    rows = [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
            for row in r.to_frame().itertuples(index=False)]
    return rows, r.meta


def _by_text(engine: Engine, q: JourneyQuery, monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple], dict] | str:
    """The table of ``q`` with every label as text: no enumeration seen, no funnel step numbered."""
    with monkeypatch.context() as mp:
        mp.setattr(Engine, "enumerations", lambda self, name: {})
        mp.setattr(funnel, "numbered_by_columns", lambda q: False)
        return _table(engine, q)


def test_vocabulary_of_the_declared_values(tmp_path):
    e = Engine(tmp_path / "e.duckdb")
    try:
        _enumerated(e, {"a": [(("custom", "cart"), "Email", 0), (("page_view", "page_view"), "Direct", 1)]})
        assert e.enumerations("touchpoints") == {"event_type": ("custom", "page_view", "search"),
                                                 "event_name": ("cart", "page_view", "zz_unused"),
                                                 "channel": ("Affiliates", "Direct", "Email")}
        assert e.enumerations("no_such_table") == {}
        # the event node: the types but "custom", every name, "custom" (a generic event without a name)
        assert step_vocabulary(e, JourneyQuery()) == sorted(
            {"page_view", "search", "cart", "zz_unused", "custom", MISSING_LABEL})
        assert step_vocabulary(e, JourneyQuery(node="channel")) == ["(none)", "Affiliates", "Direct", "Email"]
        # text columns, compound nodes, pages and cleaned labels are not numbered by their columns
        assert step_vocabulary(e, JourneyQuery(node="store")) is None
        assert step_vocabulary(e, JourneyQuery(node="channel+event_type")) is None
        assert step_vocabulary(e, JourneyQuery(node="page")) is None
        assert step_vocabulary(e, JourneyQuery(clean=(("^c", "c"),))) is None
    finally:
        e.close()


@SETTINGS
@given(spec=people, kw=controls, ends=st.booleans())
def test_transitions_and_paths_by_numbers_equal_by_text(engine, spec, kw, ends):
    _enumerated(engine, spec)
    monkeypatch = pytest.MonkeyPatch()
    for q in (TransitionsQuery(include_ends=ends, top=4, **kw), PathsQuery(top=3, max_steps=3, **kw)):
        assert _table(engine, q) == _by_text(engine, q, monkeypatch)


@SETTINGS
@given(spec=people, kw=controls, order=st.sampled_from(["ordered", "any"]),
       steps=st.sampled_from([("product_view", "cart", "purchase"), ("page_view|catalog", "purchase"),
                              ("cart", "custom"), ("Email", "Direct", "Email")]))
def test_funnel_by_numbers_equals_by_text(engine, spec, kw, order, steps):
    _enumerated(engine, spec)
    kw = {**kw, "exclude": ()}
    q = FunnelQuery(steps=steps, order=order, window=timedelta(days=2), exclusions=(("page_view", 1, 2),), **kw)
    assert _table(engine, q) == _by_text(engine, q, pytest.MonkeyPatch())


def test_numbered_paths_take_no_label_query(engine, monkeypatch):
    """With enumerated columns, ``paths transitions`` asks nothing before its statement (no count of
    the labels) and neither statement groups the touchpoints' label columns for their values."""
    _enumerated(engine, {"a": [(("custom", "cart"), "Email", 0), (("purchase", "purchase"), "Direct", 1)]})
    compiled: list[str] = []
    real = Engine.compile
    monkeypatch.setattr(Engine, "compile", lambda self, expr: compiled.append(real(self, expr)) or compiled[-1])
    run(engine, TransitionsQuery())
    run(engine, PathsQuery())
    assert len(compiled) == 2 and not any("DISTINCT" in sql for sql in compiled)
