"""The collector feeds the same pipeline as files: replaying the demo's web and app JSON Lines
through ``/v1/import`` gives, after the build, the same touchpoints and customers as importing
the files; a call sent twice is stored once; a torn spool tail is cut at restart; the device
clock skew is corrected as Segment does (hand-computed)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from percorso.build.runner import run_build
from percorso.collector.service import drain, spool_folder
from percorso.collector.spool import Spool
from percorso.ingest.pipeline import ingest_files
from percorso.project import init_project, open_project
from tests.collector.helpers import Sender, replay_lines

SEGMENT_FILES = (("web", "web_events.jsonl"), ("app", "app_events.jsonl"))


def _twin(project, where: Path) -> Path:  # noqa: ANN001
    """An empty project with the same settings (same secret, so the same keyed hashes)."""
    init_project(where, name="twin")
    shutil.copy(project.root / "percorso.toml", where / "percorso.toml")
    return where


def _table(p, name: str):  # noqa: ANN001, ANN202
    df = p.engine.execute(p.engine.table(name))
    return df.sort_values(list(df.columns[:3])).reset_index(drop=True)


def test_replay_through_import_equals_file_import(project, demo_sources: Path, tmp_path: Path) -> None:
    for source, name in SEGMENT_FILES:
        reps = ingest_files(project, source, [demo_sources / name])
        assert reps[0].accepted > 100
    run_build(project, refresh=False)

    with open_project(_twin(project, tmp_path / "replayed")) as twin:
        refused = 0
        for source, name in SEGMENT_FILES:
            outs = replay_lines(twin, demo_sources / name, source)
            refused += sum(len(o.errors) for o in outs)
        report = drain(twin)
        assert report.quarantined == 0  # every call the pipeline would refuse got its 4xx at the door
        assert report.rejected == refused > 0  # the demo's malformed lines, each quarantined once
        run_build(twin, refresh=False)
        for table in ("touchpoints", "customers", "orders"):
            got, want = _table(twin, table), _table(project, table)
            assert len(got) == len(want) > 0, table
            assert got.equals(want), table
        # what the files quarantined, the collector refused: the same number of payloads
        q = twin.engine.execute(twin.engine.table("quarantine"))
        assert q.reason_code.str.startswith("collector_").all()
        assert len(q) == project.engine.count("quarantine")


def test_a_call_sent_twice_is_stored_once_and_skew_is_corrected(project) -> None:
    received = dt.datetime(2026, 3, 5, 12, 0, 5, tzinfo=dt.UTC)
    call = {"type": "track", "event": "Order Completed", "userId": "u-1", "messageId": "m-1",
            # the device's clock is 2 h behind: it says 10:00:00 for the call, 10:00:05 when sending
            "timestamp": "2026-03-05T10:00:00.000Z", "sentAt": "2026-03-05T10:00:05.000Z",
            "properties": {"revenue": 30.0, "order_id": "A1"}}
    sender = Sender(project)
    try:
        assert sender.send({"batch": [call]}, now=received).status == 200
        assert sender.send({"batch": [dict(call)]}, now=received + dt.timedelta(seconds=30)).status == 200  # retry
    finally:
        sender.close()
    report = drain(project)
    assert (report.accepted, report.duplicates) == (1, 1)
    ev = project.engine.execute(project.engine.table("events"))
    assert len(ev) == 1
    # receivedAt - (sentAt - originalTimestamp) = 12:00:05 - 5 s = 12:00:00 UTC
    assert ev.occurred_at[0] == dt.datetime(2026, 3, 5, 12, 0, 0)
    assert ev.event_type[0] == "purchase" and ev.revenue[0] == 30.0
    assert ev.ip_key[0] is not None and "203.0.113.9" not in str(ev.iloc[0].to_dict())  # keyed hash only
    assert ev.user_agent[0] == "pytest-agent"
    assert not any(spool_folder(project.root).iterdir())  # consumed segments are gone


def test_a_torn_tail_is_cut_at_restart_and_a_replay_adds_nothing(project) -> None:
    sender = Sender(project)
    try:
        out = sender.send({"batch": [{"type": "page", "anonymousId": f"a-{i}", "messageId": f"p-{i}", "name": "Home"}
                                     for i in range(5)]})
        assert out.accepted == 5
    finally:
        sender.close()
    seg = next(p for p in spool_folder(project.root).iterdir() if p.name.endswith(".events.jsonl"))
    part = seg.with_name(seg.name + ".part")  # as a writer killed while appending leaves it
    seg.rename(part)
    with open(part, "ab") as fh:  # a write killed half-way: never synced, never acknowledged
        fh.write(b'{"type":"page","anonymousId":"torn","messa')
    spool = Spool(spool_folder(project.root), 1 << 30)  # the same writer name, restarted: seals what it left
    spool.close()
    assert not part.exists() and seg.read_bytes().endswith(b"\n") and seg.read_bytes().count(b"\n") == 5
    copy = seg.read_bytes()
    assert drain(project).accepted == 5
    # the server was killed after the commit, before the file was deleted: the same file again
    seg.write_bytes(copy)
    again = drain(project)
    assert again is not None and again.accepted == 0
    assert project.engine.count("events") == 5
    assert project.engine.count("quarantine") == 0


def test_the_client_address_behind_trusted_proxies_only() -> None:
    from percorso.collector.intake import client_ip

    proxies = ["10.0.0.2", "10.0.0.3"]
    assert client_ip("203.0.113.5", "1.2.3.4", proxies) == "203.0.113.5"  # not a proxy: its header is not believed
    assert client_ip("10.0.0.2", "198.51.100.7", proxies) == "198.51.100.7"
    # a client's own forged hop stays left of the one our proxies saw
    assert client_ip("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.3", proxies) == "198.51.100.7"
    assert client_ip("10.0.0.2", None, proxies) == "10.0.0.2"
