"""Property (ADR 0040): customers rebuilt from a cut (their rows before their first new event kept)
give, build after build, the tables of one full build.

The events are made to reach every case of the tail: a customer's new events before, between
and after their old ones (same minute included), sessions left open across the cut, sessions
that were Direct and get an informative event (the kept rows change: a whole rebuild), the
same informative channel before and after the cut, orders whose id comes back in a later
import (a web purchase and the shop's order file: one order ranked across the cut), record
keeping (identify calls), an e-mail or user id that merges two customers in a later import.

A customer whose new events all come after their kept rows is rebuilt from the state the build
keeps per customer (``build_tail_state``), without reading their kept rows: after every build,
that state is compared with the one a slow obvious reading of the stored rows gives.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from build_helpers import ECOM_HEAD, ingest, seg, write_jsonl
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from percorso.build import run_build
from percorso.build.digest import DIGEST_COLUMNS, read_digests, table_digest
from percorso.build.schema import NOT_INFORMATIVE, SESSION_SYSTEMS
from percorso.project import init_project, open_project

_T0 = datetime(2025, 3, 1, 8, 0, 0)
_URLS = ["https://shop.it/", "https://shop.it/?utm_source=google&utm_medium=cpc",
         "https://shop.it/?utm_source=newsletter&utm_medium=email", "https://shop.it/p/1"]

event = st.fixed_dictionaries({
    "anon": st.sampled_from(["a1", "a2", "a3"]),
    "user": st.sampled_from([None, None, None, "u1", "u2"]),
    "minutes": st.integers(0, 200).map(lambda m: m - m % 5),   # gaps under and over 30 minutes, ties
    "url": st.sampled_from(_URLS),
    "kind": st.sampled_from(["page", "page", "page", "buy", "file", "identify"]),
    "order": st.sampled_from(["O1", "O2", "O3", None]),   # None: a purchase without an id (ADR 0057)
    "batch": st.integers(0, 3),
})


def _files(root: Path, b: int, spec: list[dict]) -> tuple[Path, Path | None]:
    msgs, lines = [], []
    for i, m in enumerate(spec):
        if m["batch"] != b:
            continue
        at = _T0 + timedelta(minutes=m["minutes"])
        ts = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if m["kind"] == "buy":
            msgs.append(seg(f"m{i}", ts, type="track", event="Order Completed", anon=m["anon"], user=m["user"],
                            props={"revenue": 10.0 + i} | ({"order_id": m["order"]} if m["order"] else {})))
        elif m["kind"] == "identify":
            msg = seg(f"m{i}", ts, type="identify", anon=m["anon"], user=m["user"])
            msg["traits"] = {"firstName": f"N{i}"}
            msgs.append(msg)
        elif m["kind"] == "file":   # the shop's order file: the same order as a web purchase, one row kept
            local = (at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
            lines.append(f"{m['order'] or 'O1'},1,{local},{m['user'] or ''},,,{m['anon']},S1,Sheet,lenzuola,1,{20 + i}.00,"
                         "0.00,EUR,,0.00,completed\n")
        else:
            msgs.append(seg(f"m{i}", ts, anon=m["anon"], user=m["user"], url=m["url"]))
    web = write_jsonl(root / f"b{b}.jsonl", msgs)
    ecom = None
    if lines:
        ecom = root / f"b{b}.csv"
        ecom.write_text(ECOM_HEAD + "".join(lines), encoding="utf-8")
    return web, ecom


def _tables(p) -> dict[str, list[tuple]]:
    out = {t: p.engine.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
           for t in ("touchpoints", "orders", "customers", "record_updates")}
    out["build_event_rows"] = p.engine.con.execute("SELECT k, r FROM build_event_rows ORDER BY ALL").fetchall()
    return out


def _state_oracle(p) -> dict[str, tuple]:
    """What ``build_tail_state`` must hold for a customer, read from the stored rows in Python:
    counts of their events and rows, the last row's time, and of their touchpoints (by position)
    the last one's time, session number (from ``session_id``) and position, the last informative
    channel, and the open session's web rows (how many, min / max channel and rule, rules set)."""
    con = p.engine.con
    tps = con.execute("""SELECT customer_id, occurred_at, event_id, seq, source_system, channel, channel_rule,
        online, session_id FROM touchpoints""").fetchall()
    rus = con.execute("SELECT customer_id, occurred_at FROM record_updates").fetchall()
    evs = con.execute("SELECT customer_id, count(*) FROM event_customers WHERE customer_id IS NOT NULL "
                      "GROUP BY ALL").fetchall()
    n_events = dict(evs)
    by: dict[str, list] = {}
    for r in tps:
        by.setdefault(r[0], []).append(r)
    times: dict[str, list] = {}
    for c, at in [(r[0], r[1]) for r in tps] + rus:
        times.setdefault(c, []).append(at)
    out = {}
    for c, ts in times.items():
        rows = by.get(c, [])
        sno = [int(r[8][len(c) + 1:]) for r in rows]
        inf = [r for r in rows if r[7] and r[5] not in NOT_INFORMATIVE and r[5] is not None]
        nd = max(inf, key=lambda r: (r[1], r[2])) if inf else None
        last = max(sno) if rows else None
        web = [r for r, n in zip(rows, sno, strict=True) if n == last and r[4] in SESSION_SYSTEMS]
        chans = [r[5] for r in web if r[5] is not None]
        rules = [r[6] for r in web if r[6] is not None]
        timed = [t for t in ts if t is not None]
        out[c] = (n_events.get(c, 0), len(ts), len(timed), max(timed) if timed else None,
                  max(r[1] for r in rows) if rows else None, last, max(r[3] for r in rows) if rows else None,
                  nd[5] if nd else None, nd[1] if nd else None, len(web), min(chans, default=None),
                  max(chans, default=None), min(rules, default=None), max(rules, default=None), len(rules))
    return out


def _check_state(p) -> None:
    """Every kept state equals the oracle's, and only clean histories have one."""
    kept = {r[0]: tuple(r[1:]) for r in p.engine.con.execute("SELECT * FROM build_tail_state").fetchall()}
    want = _state_oracle(p)
    for c, row in kept.items():
        assert row == want[c], c
        assert row[0] == row[1] == row[2] > 0


def _run(root: Path, spec: list[dict], fast: list[int] | None = None) -> list[int]:
    """Import batch by batch with a build after each; the last equals a full build. Returns the
    customers each incremental build rebuilt from a tail (``fast``: appended, how many of those
    from their kept state)."""
    init_project(root / "p", name="t")
    p = open_project(root / "p")
    try:
        tails = []
        batches = sorted({m["batch"] for m in spec})
        for b in batches:
            web, ecom = _files(root, b, spec)
            ingest(p, "web", web)
            if ecom is not None:
                ingest(p, "ecommerce", ecom)
            rep = run_build(p)
            if rep.mode == "incremental":
                tails.append(rep.customers_from_tail)
                if fast is not None:
                    fast.append(rep.customers_from_state)
            _check_state(p)
        incremental = _tables(p)
        assert read_digests(p.engine) == {n: table_digest(p.engine, p.engine.table(n), n) for n in DIGEST_COLUMNS}
        run_build(p, full=True)
        assert _tables(p) == incremental
        return tails
    finally:
        p.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(spec=st.lists(event, min_size=2, max_size=14))
def test_builds_from_a_cut_equal_one_full_build(tmp_path_factory, spec):
    _run(tmp_path_factory.mktemp("tail"), spec)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(spec=st.lists(event, min_size=2, max_size=14))
def test_appended_builds_from_the_kept_state_equal_one_full_build(tmp_path_factory, spec):
    """The collector's case: each import mostly after the last (a few events back in time), so
    customers are rebuilt from their kept state, and the tables still equal a full build."""
    for m in spec:
        m["minutes"] = m["batch"] * 150 + m["minutes"] // 3
    _run(tmp_path_factory.mktemp("state"), spec)


def test_appended_events_are_built_from_the_kept_state(tmp_path):
    """A visitor's pages, a campaign visit, an identify call with a name and a purchase, each
    import after the last: from the third build on the customer is rebuilt from the kept state
    (no kept row read), with the same tables as a full build."""
    rows = [(0, _URLS[0], "page", 0), (10, _URLS[1], "page", 0), (40, _URLS[0], "page", 1),
            (90, _URLS[2], "page", 1), (95, _URLS[0], "identify", 2), (100, _URLS[0], "buy", 2),
            (105, _URLS[3], "page", 3), (300, _URLS[0], "page", 3)]
    spec = [{"anon": "a1", "user": "u1" if k != "page" else None, "minutes": m, "url": u, "kind": k, "order": "O1",
             "batch": b} for m, u, k, b in rows]
    fast: list[int] = []
    assert _run(tmp_path, spec, fast) == [1, 1, 1] and fast == [0, 1, 1]


def test_kept_direct_session_that_gets_a_channel_falls_back_from_the_kept_state(tmp_path):
    """A customer rebuilt from the kept state whose open Direct session is joined by a campaign
    visit falls back to the whole history: their old events, never listed, are found then."""
    spec = [{"anon": "a1", "user": None, "minutes": m, "url": u, "kind": "page", "order": "O1", "batch": b}
            for m, u, b in ((0, _URLS[0], 0), (10, _URLS[0], 1), (15, _URLS[0], 2), (20, _URLS[1], 3))]
    fast: list[int] = []
    assert _run(tmp_path, spec, fast) == [1, 1, 0] and fast == [0, 1, 0]


def test_open_session_continued_out_of_order_is_rebuilt_from_the_cut(tmp_path):
    """A customer's session left open by one import is continued by the next one's events, one
    of them earlier than the last old event: only the rows from the cut are derived again."""
    first = [{"anon": "a1", "user": None, "minutes": m, "url": _URLS[1], "kind": "page", "order": "O1", "batch": 0}
             for m in (0, 10, 20, 60, 70)]
    later = [{"anon": "a1", "user": None, "minutes": m, "url": u, "kind": k, "order": "O2", "batch": 1}
             for m, u, k in ((65, _URLS[0], "page"), (75, _URLS[2], "page"), (80, _URLS[0], "buy"))]
    late = [{"anon": "a1", "user": "u1", "minutes": 200, "url": _URLS[0], "kind": "buy", "order": "O3", "batch": 2}]
    assert _run(tmp_path, first + later + late) == [1, 1]


def test_direct_session_that_gets_a_channel_falls_back_to_the_whole_history(tmp_path):
    """The kept rows of an open Direct session take the channel of an informative event that
    joins it later: the customer is rebuilt whole, and the tables equal a full build."""
    spec = [{"anon": "a1", "user": None, "minutes": m, "url": _URLS[0], "kind": "page", "order": "O1", "batch": 0}
            for m in (0, 10)]
    spec += [{"anon": "a1", "user": None, "minutes": 15, "url": _URLS[1], "kind": "page", "order": "O1", "batch": 1}]
    assert _run(tmp_path, spec) == [0]


def test_a_stage_rule_on_the_channel_rebuilds_whole_histories(tmp_path):
    """A stage read from the channel would not follow a kept row's channel: no cut at all."""
    init_project(tmp_path / "p", name="t")
    with open(tmp_path / "p" / "percorso.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[stages]\norder = ["awareness", "purchase"]\n\n[[stages.rules]]\nstage = "purchase"\n'
                 'channels = ["Paid Search"]\n\n[[stages.rules]]\nstage = "awareness"\n')
    p = open_project(tmp_path / "p")
    try:
        spec = [{"anon": "a1", "user": None, "minutes": m, "url": _URLS[1], "kind": "page", "order": "O1", "batch": b}
                for m, b in ((0, 0), (10, 0), (20, 1))]
        tails = []
        for b in (0, 1):
            web, _ = _files(tmp_path, b, spec)
            ingest(p, "web", web)
            tails.append(run_build(p).customers_from_tail)
        incremental = _tables(p)
        run_build(p, full=True)
        assert tails == [0, 0] and _tables(p) == incremental
        assert {r[0] for r in p.engine.con.execute("SELECT stage FROM touchpoints").fetchall()} == {"purchase"}
    finally:
        p.close()


def test_order_left_out_before_the_cut_falls_back_to_the_whole_history(tmp_path, monkeypatch):
    """A web purchase and the shop's file of the same order before the cut are two events and one
    kept row (one row per order): the kept rows do not account for the customer's old events, so
    a later visit rebuilds them whole (``split_picked``'s last fallback, whose set-aside events are
    then read again), with the tables of a full build."""
    import percorso.engine.build_tail_sql as T

    fell: list[int] = []
    real = T._fall_back
    monkeypatch.setattr(T, "_fall_back", lambda engine, which: fell.append(real(engine, which)) or fell[-1])
    spec = [{"anon": "a1", "user": "u1", "minutes": 0, "url": _URLS[0], "kind": k, "order": "O1", "batch": 0}
            for k in ("buy", "file")]
    spec += [{"anon": "a1", "user": "u1", "minutes": 100, "url": _URLS[0], "kind": "page", "order": None, "batch": 1}]
    assert _run(tmp_path, spec) == [0]
    assert fell == [0, 0, 1]   # the carry, the events without a time, the uncounted order event
