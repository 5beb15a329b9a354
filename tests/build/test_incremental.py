"""Property: an incremental build after a second import equals a full build over everything."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from percorso.build import run_build
from percorso.project import init_project, open_project
from build_helpers import ingest, seg, write_jsonl

_T0 = datetime(2025, 3, 1, 8, 0, 0)
_URLS = ["https://shop.it/", "https://shop.it/?utm_source=google&utm_medium=cpc",
         "https://shop.it/?utm_source=newsletter&utm_medium=email", "https://shop.it/p/1"]

message = st.fixed_dictionaries({
    "anon": st.sampled_from(["a1", "a2", "a3", "a4"]),
    "user": st.sampled_from([None, None, "u1", "u2"]),
    "minutes": st.integers(0, 3 * 24 * 60),
    "url": st.sampled_from(_URLS),
    "buy": st.integers(0, 6),
    "batch": st.integers(0, 1),
})


def _messages(spec: list[dict]) -> list[tuple[int, dict]]:
    out = []
    for i, m in enumerate(spec):
        ts = (_T0 + timedelta(minutes=m["minutes"])).strftime("%Y-%m-%dT%H:%M:%SZ")
        if m["buy"] == 0:
            msg = seg(f"m{i}", ts, type="track", event="Order Completed", anon=m["anon"], user=m["user"],
                      props={"order_id": f"O{i}", "revenue": 10.0 + i})
        elif m["buy"] == 1:  # an identify call: record keeping, in record_updates and never a touchpoint
            msg = seg(f"m{i}", ts, type="identify", anon=m["anon"], user=m["user"], email=f"{m['anon']}@shop.it")
        else:
            msg = seg(f"m{i}", ts, anon=m["anon"], user=m["user"], url=m["url"])
        out.append((m["batch"], msg))
    return out


def _tables(p) -> dict[str, list[tuple]]:
    return {t: p.engine.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("touchpoints", "orders", "customers", "record_updates")}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(message, min_size=1, max_size=14))
# a cookie two users shared, one per import, with an anonymous identify call on it (found by
# hypothesis twice: an expected count that restated identity's conflict rule was wrong)
@example(spec=[{"anon": "a1", "user": "u2", "minutes": 0, "url": _URLS[0], "buy": 2, "batch": 0},
               {"anon": "a1", "user": None, "minutes": 10, "url": _URLS[0], "buy": 1, "batch": 0},
               {"anon": "a1", "user": "u1", "minutes": 20, "url": _URLS[0], "buy": 2, "batch": 1}])
def test_incremental_build_equals_full_build(tmp_path_factory, spec):
    root: Path = tmp_path_factory.mktemp("inc")
    init_project(root / "p", name="t")
    p = open_project(root / "p")
    try:
        msgs = _messages(spec)
        first = [m for b, m in msgs if b == 0]
        second = [m for b, m in msgs if b == 1]
        if first:
            ingest(p, "web", write_jsonl(root / "a.jsonl", first))
            run_build(p)
        if second:
            ingest(p, "web", write_jsonl(root / "b.jsonl", second))
            run_build(p)
        incremental = _tables(p)
        run_build(p, full=True)
        assert _tables(p) == incremental
        # every event with a person is a touchpoint or a record update (a web purchase is one
        # order, not two); the identify calls are the record updates
        with_person = p.engine.con.execute(
            "SELECT count(*) FROM event_customers WHERE customer_id IS NOT NULL").fetchall()[0][0]
        assert len(incremental["touchpoints"]) + len(incremental["record_updates"]) == with_person
        # the record updates are the identify calls that have a person: every one carrying a
        # user id has; an anonymous one may not (its cookie may be a conflict between two users,
        # never merged, and which calls that leaves out is identity's rule, not restated here)
        identified = p.engine.con.execute(
            "SELECT count(*) FROM events e JOIN event_customers c USING (event_id) "
            "WHERE e.event_type = 'identify' AND c.customer_id IS NOT NULL").fetchall()[0][0]
        assert len(incremental["record_updates"]) == identified
        calls = [m for m in spec if m["buy"] == 1]
        assert sum(1 for m in calls if m["user"]) <= identified <= len(calls)
    finally:
        p.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(message, min_size=1, max_size=14), resolved=st.lists(message, min_size=1, max_size=6))
def test_incremental_build_after_a_resolution_alone_equals_full_build(tmp_path_factory, spec, resolved):
    """Events resolved by identity alone (no build) between two builds: the build's scope then
    holds identifiers of that earlier resolution besides the last one's region, which the
    build reads from the map (ADR 0097: the region's rows are taken from identity's run)."""
    from percorso.identity.resolver import resolve

    root: Path = tmp_path_factory.mktemp("inc_res")
    init_project(root / "p", name="t")
    p = open_project(root / "p")
    try:
        msgs = _messages(spec)
        middle = [m for _, m in _messages(resolved)]
        middle = [{**m, "messageId": "r" + m["messageId"]} for m in middle]
        ingest(p, "web", write_jsonl(root / "a.jsonl", [m for b, m in msgs if b == 0] or middle[:1]))
        run_build(p)
        ingest(p, "web", write_jsonl(root / "r.jsonl", middle))
        resolve(p)
        ingest(p, "web", write_jsonl(root / "b.jsonl", [m for b, m in msgs if b == 1] or middle[-1:]))
        run_build(p)
        incremental = _tables(p)
        run_build(p, full=True)
        assert _tables(p) == incremental
    finally:
        p.close()


def test_project_built_before_the_event_index_gets_it_from_its_last_build(tmp_path):
    """A project whose last build kept no ``build_event_rows`` (an earlier version) builds
    incrementally: the index is written as of that build, then a merge moves old events."""
    init_project(tmp_path / "p", name="t")
    p = open_project(tmp_path / "p")
    try:
        ingest(p, "web", write_jsonl(tmp_path / "a.jsonl", [
            seg("m1", "2025-03-01T08:00:00Z", anon="a1"), seg("m2", "2025-03-01T08:05:00Z", anon="a1"),
            seg("m3", "2025-03-02T09:00:00Z", user="u1"), seg("m4", "2025-03-02T09:10:00Z", anon="a2")]))
        run_build(p)
        p.engine.drop_table("build_event_rows")
        # a1 logs in as u1: a1's two old visits move to u1's customer
        ingest(p, "web", write_jsonl(tmp_path / "b.jsonl", [
            seg("m5", "2025-03-03T10:00:00Z", anon="a1", user="u1"), seg("m6", "2025-03-03T10:01:00Z", anon="a3")]))
        rep = run_build(p)
        assert rep.mode == "incremental"
        incremental = _tables(p)
        rows = p.engine.con.execute("SELECT k, r FROM build_event_rows ORDER BY ALL").fetchall()
        owners = p.engine.con.execute("SELECT count(DISTINCT customer_id) FROM touchpoints").fetchall()[0][0]
        assert len(rows) == 6 and owners == 3   # u1 (with a1), a2, a3
        run_build(p, full=True)
        assert _tables(p) == incremental
        assert p.engine.con.execute("SELECT k, r FROM build_event_rows ORDER BY ALL").fetchall() == rows
    finally:
        p.close()
