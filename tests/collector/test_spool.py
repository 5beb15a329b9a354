"""The spool's two promises at its edges: a unit is consumed whole, a refused write leaves nothing.

Both were found by reading the code, not by a failure: a listing that raced a writer's seal
could hand out the rejects of a unit without its events (the unit is then marked consumed and
its acknowledged events deleted unread), and a write that failed half-way (a full disk) left a
torn line that the next acknowledged line would be glued to.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from percorso.collector import spool as spool_mod
from percorso.collector.spool import PART, Spool, sealed_segments


def _line(i: int) -> bytes:
    return (json.dumps({"type": "track", "event": "x", "messageId": f"m{i}", "userId": "u"}) + "\n").encode()


def test_a_listing_that_raced_the_seal_still_hands_out_the_whole_unit(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    stem = "00000000000000000042-w0@web"
    # what the folder holds now: the writer sealed rejects, then events
    (folder / f"{stem}.rejects.jsonl").write_bytes(b'{"reason": "collector_bad_json"}\n')
    (folder / f"{stem}.events.jsonl").write_bytes(_line(1) + _line(2))
    # what a listing taken between the two renames saw
    stale = [folder / f"{stem}.rejects.jsonl", folder / f"{stem}.events.jsonl{PART}"]
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(stale) if self == folder else iter(()))
    kinds = sorted(s.kind for s in sealed_segments(folder))
    assert kinds == ["events", "rejects"]


def test_a_unit_still_being_sealed_waits(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    stem = "00000000000000000042-w0@web"
    (folder / f"{stem}.rejects.jsonl").write_bytes(b"{}\n")
    (folder / f"{stem}.events.jsonl{PART}").write_bytes(_line(1))
    assert sealed_segments(folder) == []
    (folder / f"{stem}.events.jsonl{PART}").rename(folder / f"{stem}.events.jsonl")
    assert [s.kind for s in sealed_segments(folder)] == ["events", "rejects"]


def test_a_failed_write_leaves_no_bytes_and_the_next_group_is_whole(tmp_path: Path, monkeypatch) -> None:
    sp = Spool(tmp_path / "spool", 1 << 30, writer="t", rotate_seconds=3600)
    try:
        sp.submit("web", _line(1), b"", 1).result(timeout=10)
        real = spool_mod._write_all
        calls = {"n": 0}

        def half_then_full_disk(fd: int, data: bytes) -> None:
            calls["n"] += 1
            if calls["n"] == 1:
                real(fd, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            real(fd, data)

        monkeypatch.setattr(spool_mod, "_write_all", half_then_full_disk)
        refused = sp.submit("web", _line(2), b"", 1)
        with pytest.raises(OSError):
            refused.result(timeout=10)
        sp.submit("web", _line(3), b"", 1).result(timeout=10)
        sp.seal()
        files = [s for s in sealed_segments(sp.folder) if s.kind == "events"]
        body = b"".join(s.path.read_bytes() for s in files)
        ids = [json.loads(x)["messageId"] for x in body.splitlines()]
        assert ids == ["m1", "m3"]  # the refused group is gone, the acknowledged ones are whole lines
    finally:
        sp.close()
