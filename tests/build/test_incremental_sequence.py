"""Property (issue 15): any sequence of incremental builds gives the tables of one full build.

Random events (cookies, user ids, e-mails, orders, same-second ties) are split at random into
up to four imports, with a build after each; the last build's tables must equal a full
rebuild of the same project row for row: the built tables and identity's (every identifier's
customer, flags, links, event keys), and the build's own index of each event's key identifier
(``build_event_rows``, kept up to date by difference). A cookie seen alone in one import and with a user id in
a later one merges two customers across increments, which moves old events to the surviving
customer: the case an incremental build most easily gets wrong. A cookie seen with a second
user id later is flagged (user ids conflict), which splits a customer and re-keys old events.
These events carry no IP address, so identity takes its incremental path (only the
components the new events touch are solved again); the device link's full path is covered
by ``test_device_link_path_equals_full_build``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from build_helpers import ingest, seg, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.build import run_build
from percorso.build.digest import DIGEST_COLUMNS, read_digests, table_digest
from percorso.project import init_project, open_project

_T0 = datetime(2025, 3, 1, 8, 0, 0)
_URLS = ["https://shop.it/", "https://shop.it/?utm_source=google&utm_medium=cpc",
         "https://shop.it/?utm_source=newsletter&utm_medium=email", "https://shop.it/p/1"]

event = st.fixed_dictionaries({
    "anon": st.sampled_from([None, "a1", "a2", "a3", "a4", "a5"]),
    "user": st.sampled_from([None, None, "u1", "u2", "u3"]),
    "email": st.sampled_from([None, None, None, "x@shop.it", "y@shop.it"]),
    "minutes": st.integers(0, 4 * 24 * 60).map(lambda m: m - m % 7),   # same-minute ties are common
    "url": st.sampled_from(_URLS),
    "buy": st.integers(0, 5),
    "batch": st.integers(0, 3),
})


def _message(i: int, m: dict) -> dict:
    ts = (_T0 + timedelta(minutes=m["minutes"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    anon = m["anon"] or ("a0" if not (m["user"] or m["email"]) else None)
    if m["buy"] == 0:
        return seg(f"m{i}", ts, type="track", event="Order Completed", anon=anon, user=m["user"],
                   email=m["email"], props={"order_id": f"O{i}", "revenue": 10.0 + i})
    return seg(f"m{i}", ts, anon=anon, user=m["user"], email=m["email"], url=m["url"])


#: identity's answer, without the columns that only number rows (link_no) or date the run
_IDENTITY = {
    "identity_map": "id_type, id_value, customer_id, first_seen_at",
    "identity_identifiers": "id_type, id_value, first_seen_at, last_seen_at, n_events, trusted_seen, blocked",
    "identity_links": "id_type_a, id_value_a, id_type_b, id_value_b, event_id, source_name, occurred_at, n_events, "
                      "trusted, status",
    "identity_flags": "*",
    "identity_event_keys": "*",
    "identity_device_links": "anon_type, anon_value, known_type, known_value, anon_event_id, known_event_id, ip_key, "
                             "user_agent, occurred_at, days",
}


def _tables(p) -> dict[str, list[tuple]]:
    out = {t: p.engine.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
           for t in ("touchpoints", "orders", "customers", "record_updates")}
    out.update({t: p.engine.con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()
                for t, cols in _IDENTITY.items() if p.engine.has_table(t)})
    return out


def _event_rows(p) -> list[tuple]:
    return p.engine.con.execute("SELECT k, r FROM build_event_rows ORDER BY ALL").fetchall()


def _run_sequence(root: Path, spec: list[dict], network: list[tuple[str, str]] | None) -> list[tuple]:
    """Import ``spec`` batch by batch with a build after each; check the last equals a full build.

    ``network`` gives each event an (IP, user agent) pair, in turn (None: no network evidence).
    Returns identity's (mode, region identifiers) of each build.
    """
    init_project(root / "p", name="t")
    p = open_project(root / "p")
    try:
        modes, idmodes = [], []
        for b in sorted({m["batch"] for m in spec}):
            msgs = []
            for i, m in enumerate(spec):
                if m["batch"] == b:
                    msg = _message(i, m)
                    if network:
                        msg["context"]["ip"], msg["context"]["userAgent"] = network[i % len(network)]
                    msgs.append(msg)
            ingest(p, "web", write_jsonl(root / f"b{b}.jsonl", msgs))
            rep = run_build(p)
            modes.append(rep.mode)
            idmodes.append((rep.identity["mode"], rep.identity["region_identifiers"]))
        assert modes[0] == "full" and all(m == "incremental" for m in modes[1:])
        incremental = _tables(p)
        # the digests the builds kept for the value refresh are the ones a scan gives
        assert read_digests(p.engine) == {n: table_digest(p.engine, p.engine.table(n), n) for n in DIGEST_COLUMNS}
        # and the event index the builds kept (each event's key identifier) is the one a full build writes
        incremental["build_event_rows"] = _event_rows(p)
        if network and len(modes) > 1:   # the device link's cells kept by the runs are those every event gives
            from percorso.engine.identity_device_sql import CELLS, _cell_rows

            assert p.engine.con.execute(f"SELECT * FROM {CELLS} ORDER BY ALL").fetchall() == \
                p.engine.con.execute(f"SELECT * FROM ({_cell_rows('')}) ORDER BY ALL").fetchall()
        run_build(p, full=True)
        assert _tables(p) | {"build_event_rows": _event_rows(p)} == incremental
        return idmodes
    finally:
        p.close()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(event, min_size=2, max_size=16))
def test_any_sequence_of_incremental_builds_equals_one_full_build(tmp_path_factory, spec):
    idmodes = _run_sequence(tmp_path_factory.mktemp("seq"), spec, None)
    # identity re-solved only the components of each later batch (never the whole graph)
    assert all(m == "incremental" and n > 0 for m, n in idmodes[1:])


_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Safari/604.1",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(event, min_size=2, max_size=12),
       network=st.lists(st.tuples(st.sampled_from(["10.0.0.1", "10.0.0.2"]), st.sampled_from(_UA)),
                        min_size=1, max_size=3))
def test_device_link_path_equals_full_build(tmp_path_factory, spec, network):
    """With IP and user agent on the events the device link weighs every event of an address,
    so identity solves the whole graph; the build stays incremental and equal to a full one."""
    idmodes = _run_sequence(tmp_path_factory.mktemp("seqip"), spec, network)
    assert all(n == 0 for _, n in idmodes[1:])


def test_device_link_kept_cells_attach_later_cookies_as_a_full_build(tmp_path):
    """A known user and, in later imports, anonymous cookies on the same (IP, user agent): the
    device link attaches them from cells kept between runs (merged, first events by time then
    id, one cell reached again in a later import), with a full build's identity and tables."""
    rows = [("a1", "u1", 0, 0), ("a1", None, 30, 0), ("a2", None, 3000, 1), ("a2", None, 3000, 1),
            ("a3", None, 3100, 2), ("a2", None, 2990, 2), ("a1", None, 3200, 3)]
    spec = [{"anon": a, "user": u, "email": None, "minutes": m, "url": _URLS[0], "buy": 1, "batch": b}
            for a, u, m, b in rows]
    idmodes = _run_sequence(tmp_path, spec, [("10.0.0.9", _UA[0])])
    assert all(n == 0 for _, n in idmodes[1:])
