"""Real time: a micro-batch runs the incremental build and refreshes the saved segments, so a
customer's entry and exit are recorded as events with their time (issue 17, Deliver 4)."""

from __future__ import annotations

import datetime as dt

from percorso.collector.service import drain, stats
from percorso.value.segments.store import save_segment, segment_changes
from tests.collector.helpers import Sender


def _send(project, calls: list[dict]) -> None:  # noqa: ANN001
    sender = Sender(project)
    try:
        assert sender.send({"batch": calls}).status == 200
    finally:
        sender.close()


def _page(uid: str, n: int) -> dict:
    return {"type": "page", "userId": uid, "name": "Home", "messageId": f"{uid}-page-{n}"}


def _order(uid: str, n: int) -> dict:
    return {"type": "track", "event": "Order Completed", "userId": uid, "messageId": f"{uid}-order-{n}",
            "properties": {"revenue": 80.0, "order_id": f"{uid}-{n}"}}


def test_micro_batches_record_segment_entries_and_exits(project) -> None:
    _send(project, [_page("u-1", 1), _order("u-1", 1), _page("u-2", 1)])
    first = drain(project, build=True)
    assert first.accepted == 3 and first.build["mode"] == "full"
    e = project.engine
    save_segment(e, "buyers", {"type": "compare", "field": "n_orders", "op": "ge", "value": 1})
    save_segment(e, "browsers", {"type": "compare", "field": "n_orders", "op": "eq", "value": 0})
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _send(project, [_order("u-2", 1), _page("u-3", 1)])  # u-2 buys; u-3 is new
    live = drain(project, build=True)
    assert live.build["mode"] == "incremental" and live.build["new_events"] == 2
    assert "buyers 2" in live.build["value"]["segments"] and "browsers 1" in live.build["value"]["segments"]
    buyers = e.execute(segment_changes(e, "buyers", before))
    browsers = e.execute(segment_changes(e, "browsers", before))
    assert list(zip(buyers.customer_id.map(_uid(e)), buyers.change)) == [("u-2", "entered")]
    assert sorted(zip(browsers.customer_id.map(_uid(e)), browsers.change)) == [("u-2", "left"), ("u-3", "entered")]
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert ((buyers.occurred_at >= before) & (buyers.occurred_at <= after)).all()
    assert len(e.execute(segment_changes(e, "buyers"))) == 2  # u-1 at the save, u-2 live


def _uid(e):  # noqa: ANN001, ANN202
    m = e.table("identity_map")
    ids = e.execute(m.filter(m.id_type == "user_id").select("customer_id", "id_value"))
    return dict(zip(ids.customer_id, ids.id_value)).get


def test_events_left_unbuilt_by_a_stop_are_built_at_the_next_start(project) -> None:
    _send(project, [_page("u-9", 1), _order("u-9", 1)])
    assert drain(project, build=False).accepted == 2  # a stop drains the spool without building
    assert not project.engine.has_table("customers")
    restart = drain(project, build=True)  # nothing in the spool: the first cycle builds what waits
    assert restart is not None and restart.segments == 0 and restart.build["new_events"] == 2
    assert project.engine.count("customers") == 1
    assert drain(project, build=True) is None  # built: nothing to do
    figures = stats(project)  # `percorso collector stats` without a server
    assert (figures["server"], figures["accepted"], figures["deduplicated"]) == ("stopped", 2, 0)
    assert (figures["spool_events"], figures["lag_seconds"], figures["quarantined_total"]) == (0, 0.0, 0)


def test_a_micro_batch_says_where_its_seconds_went_and_checkpoints_when_idle(project, monkeypatch) -> None:
    import threading

    from percorso.collector import consumer as C
    from percorso.collector.service import spool_folder

    _send(project, [_page("u-5", 1), _order("u-5", 1)])
    con = C.Consumer(spool_folder(project.root), own=None, lock=threading.Lock(), project=lambda: project,
                     changed=lambda: None, batch_seconds=1.0, build=True)
    rep = con.cycle()
    at = rep.at
    assert at["oldest_unit"] <= at["start"] <= at["ingested"] <= at["built"]  # the spool, the ingest, the build
    assert set(rep.cpu) == {"ingest", "build"} and min(rep.cpu.values()) >= 0
    kept = con.recent[-1]
    assert (kept["events"], kept["accepted"]) == (2, 2) and "identity" in kept["build_steps"]
    threshold = project.engine.con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
    assert threshold == "256.0 MiB"  # the micro-batch's commits no longer checkpoint at 16 MB
    _send(project, [_page("u-5", 2)])
    con.cycle()
    wal = project.root / f"{project.engine.path.rsplit('/', 1)[-1]}.wal"
    assert wal.exists() and wal.stat().st_size > 0  # committed, not yet in the file
    monkeypatch.setattr(C, "IDLE_CHECKPOINT_BYTES", 0)
    assert con.cycle() is None  # nothing waits: idle
    con._checkpoint_if_idle()
    assert not wal.exists() or wal.stat().st_size == 0
    # under load the spool is never empty: when the next micro-batch would take the log past
    # WAL_MB, it goes into the file right after this one (its events already visible), not
    # inside the next one's commit
    _send(project, [_page("u-5", 3)])
    rep = con.cycle()
    assert "checkpoint" not in rep.seconds and wal.stat().st_size > 0  # far from WAL_MB
    _send(project, [_page("u-5", 4)])
    monkeypatch.setattr(C, "WAL_MB", 0)
    rep = con.cycle()
    assert rep.accepted == 1 and rep.seconds["checkpoint"] >= 0 and set(rep.cpu) == {"ingest", "build", "checkpoint"}
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_micro_batch_runs_on_its_engine_threads_and_gives_them_back(project, monkeypatch) -> None:
    """``[collector] micro_batch_threads``: the ingest and the build see that many engine threads;
    the jobs after it (imports, full builds through the server) get the engine's own again."""
    import threading

    from percorso.collector import consumer as C
    from percorso.collector.service import spool_folder

    def threads() -> int:
        return int(project.engine.con.execute("SELECT current_setting('threads')").fetchall()[0][0])

    before = threads()
    seen: list[int] = []
    real = C.live_build
    monkeypatch.setattr(C, "live_build", lambda p: (seen.append(threads()), real(p))[1])
    _send(project, [_page("u-6", 1), _order("u-6", 1)])
    con = C.Consumer(spool_folder(project.root), own=None, lock=threading.Lock(), project=lambda: project,
                     changed=lambda: None, batch_seconds=1.0, build=True, threads=1)
    assert con.cycle().build["customers_rebuilt"] >= 1
    assert seen == [1] and threads() == before
