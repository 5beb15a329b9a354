"""Properties of ``resolve`` end to end (SQL + solver) on random events in a real DuckDB file.

Oracles: a plain union-find over the identifiers that share an event (kinds without
per-person limits, hub cap out of reach), with blocklisted values removed; and the same
events inserted in another order, which must give the same customers with the same ids.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.identity import resolve
from tests.identity.helpers import add_events, new_project, partition

KINDS = ("anonymous_id", "device_id", "order_id")

# one event: 1..3 identifiers of distinct kinds, values from small pools (so they collide)
event = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 6)), min_size=1, max_size=3,
                 unique_by=lambda t: t[0])
events_st = st.lists(event, min_size=1, max_size=25)


def rows(evs: list[list[tuple[str, int]]], *, guest_every: int = 0) -> list[dict]:
    out = []
    for i, ev in enumerate(evs):
        r = {k: f"{k[0]}{v}" for k, v in ev}
        if guest_every and i % guest_every == 0:
            r["user_id"] = "guest"                 # blocklisted by default
        r["source_name"] = "pos"
        r["source_key"] = f"e{i}"
        out.append(r)
    return out


def union_find(evs: list[dict]) -> set[frozenset[tuple[str, str]]]:
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in evs:
        ids = [(k, r[k]) for k in KINDS if k in r]
        for x in ids:
            find(x)
        for x in ids[1:]:
            parent[find(x)] = find(ids[0])
    groups: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for x in list(parent):
        groups.setdefault(find(x), set()).add(x)
    return {frozenset(g) for g in groups.values()}


def resolved(evs: list[dict]) -> tuple[set, list]:
    with tempfile.TemporaryDirectory() as tmp:
        p = new_project(Path(tmp), max_customers_per_identifier=10**6)
        try:
            add_events(p, evs)
            resolve(p)
            ids = p.engine.query("SELECT id_type, id_value, customer_id FROM identity_map ORDER BY 1, 2").to_pylist()
            return partition(p), ids
        finally:
            p.close()


@settings(max_examples=25, deadline=None)
@given(events_st)
def test_components_equal_union_find(evs) -> None:
    r = rows(evs)
    got, _ = resolved(r)
    assert got == union_find(r)


@settings(max_examples=25, deadline=None)
@given(events_st, st.integers(1, 3))
def test_blocklisted_value_never_links(evs, every) -> None:
    """``user_id = guest`` on many events: it maps to nobody and joins nothing."""
    r = rows(evs, guest_every=every)
    got, ids = resolved(r)
    assert ("user_id", "guest") not in {(x["id_type"], x["id_value"]) for x in ids}
    assert got == union_find(r)


@settings(max_examples=20, deadline=None)
@given(events_st, st.randoms(use_true_random=False))
def test_partition_and_customer_ids_do_not_depend_on_event_order(evs, rnd: random.Random) -> None:
    r = rows(evs, guest_every=4)
    shuffled = list(r)
    rnd.shuffle(shuffled)
    assert resolved(r) == resolved(shuffled)


def _first_run(evs: list[dict], *, general: bool) -> tuple[list, dict, int]:
    """(identity_map rows, the report's counts, events with a customer in the view) of a first resolve;
    ``general``: the fresh-map statement is bypassed, as on an id clash (the path of every later run)."""
    from contextlib import nullcontext
    from unittest.mock import patch

    from percorso.engine import identity_sql as S

    with tempfile.TemporaryDirectory() as tmp:
        p = new_project(Path(tmp), max_customers_per_identifier=10**6)
        try:
            add_events(p, evs)
            with patch.object(S, "write_fresh_identity_map", lambda *_a: False) if general else nullcontext():
                rep = resolve(p)
            rows_ = p.engine.query("SELECT * FROM identity_map ORDER BY id_type, id_value").to_pylist()
            placed = p.engine.query("SELECT count(*) AS n FROM event_customers WHERE customer_id IS NOT NULL")
            counts = {k: getattr(rep, k) for k in ("customers_new", "customers_retired", "components",
                                                  "identifiers", "events_assigned")}
            return rows_, counts, placed["n"][0].as_py()
        finally:
            p.close()


@settings(max_examples=20, deadline=None)
@given(events_st, st.integers(0, 3))
def test_first_resolve_fresh_map_equals_the_general_path(evs, every) -> None:
    """A first run writes the map in one statement (no previous ids to keep); the general path
    (stage components, assign ids, write the map) must give the same rows and counts, and the
    events counted as placed must be those the view places."""
    r = rows(evs, guest_every=every)
    fresh, general = _first_run(r, general=False), _first_run(r, general=True)
    assert fresh == general
    assert fresh[1]["events_assigned"] == fresh[2]
    assert fresh[1]["customers_new"] == fresh[1]["components"] == len({x["customer_id"] for x in fresh[0]})
