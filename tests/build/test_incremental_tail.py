"""Property (ADR 0040): customers rebuilt from a cut (their rows before their first new event kept)
give, build after build, the tables of one full build.

The events are made to reach every case of the tail: a customer's new events before, between
and after their old ones (same minute included), sessions left open across the cut, sessions
that were Direct and get an informative event (the kept rows change: a whole rebuild), the
same informative channel before and after the cut, orders whose id comes back in a later
import (a web purchase and the shop's order file: one order ranked across the cut), record
keeping (identify calls), an e-mail or user id that merges two customers in a later import.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from build_helpers import ECOM_HEAD, ingest, seg, write_jsonl
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from percorso.build import run_build
from percorso.build.digest import DIGEST_COLUMNS, read_digests, table_digest
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
    "order": st.sampled_from(["O1", "O2", "O3"]),
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
                            props={"order_id": m["order"], "revenue": 10.0 + i}))
        elif m["kind"] == "identify":
            msg = seg(f"m{i}", ts, type="identify", anon=m["anon"], user=m["user"])
            msg["traits"] = {"firstName": f"N{i}"}
            msgs.append(msg)
        elif m["kind"] == "file":   # the shop's order file: the same order as a web purchase, one row kept
            local = (at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
            lines.append(f"{m['order']},1,{local},{m['user'] or ''},,,{m['anon']},S1,Sheet,lenzuola,1,{20 + i}.00,"
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


def _run(root: Path, spec: list[dict]) -> list[int]:
    """Import batch by batch with a build after each; the last equals a full build. Returns the
    customers each incremental build rebuilt from a tail."""
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
