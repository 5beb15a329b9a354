"""The collector's intake processes (ADR 0030): ``percorso serve`` starts them on the collector's
port; a write key created through the running server reaches them; one killed with ``kill -9``
is restarted, and what it acknowledged (its unsealed spool file included) is stored once; a
clean stop stops them and drains the spool."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from percorso.project import open_project
from tests.server.conftest import Server, percorso
from tests.server.test_collector import write_key


def _workers(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return [p for p in out if b"intake_worker" in Path(f"/proc/{p}/cmdline").read_bytes()]


def _batch(tag: str, n: int = 20) -> dict:
    return {"batch": [{"type": "track", "event": "Product Viewed", "userId": f"{tag}-u", "messageId": f"{tag}-{i}",
                       "properties": {"product_id": "MAT-001"}} for i in range(n)]}


def _post_until_ok(url: str, key: str, body: dict, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as http:
        while True:
            try:
                if http.post(url + "/v1/batch", json=body, auth=(key, "")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no 200 from {url} in {seconds} s"
            time.sleep(0.1)


def test_intake_processes_keys_restart_and_stop(demo: Path) -> None:
    with open(demo / "percorso.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[collector]\nbatch_seconds = 0.3\nbuild = false\nworkers = 2\n")
    key = write_key(demo)
    server = Server.start(demo)
    sent: list[str] = []
    try:
        assert server.collector_url and server.collector_url != server.url
        _post_until_ok(server.collector_url, key, _batch("first"))
        sent += [f"first-{i}" for i in range(20)]
        with httpx.Client(timeout=10) as http:  # the intake port answers the tracking API only
            assert http.get(server.collector_url + "/v1/customers/x").status_code in (404, 405)
        # a key created while the server runs (the CLI goes through the server) reaches the workers
        app_key = percorso("source", "key", "create", "app", "-p", str(demo)).stdout.decode().strip()
        _post_until_ok(server.collector_url, app_key, _batch("appkey"), seconds=10)
        sent += [f"appkey-{i}" for i in range(20)]
        workers = _workers(server.proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)  # its open .part file is sealed by its successor
        for n in range(10):
            _post_until_ok(server.collector_url, key, _batch(f"after-{n}"))
            sent += [f"after-{n}-{i}" for i in range(20)]
        deadline = time.monotonic() + 60
        while len(_workers(server.proc.pid)) < 2:  # restarted by the server
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert workers[0] not in _workers(server.proc.pid)
    finally:
        assert server.stop() == 0  # stops the workers, then drains the spool
    with open_project(demo, read_only=True) as p:
        ev = p.engine.table("events")
        mine = ev.filter(ev.source_key.isin(sent))
        got = p.engine.execute(mine.group_by("source_key").aggregate(n=mine.count()))
    assert sorted(got.source_key) == sorted(sent) and (got.n == 1).all()
    spool = demo / ".percorso" / "spool"
    assert not [p for p in spool.iterdir()]  # drained, nothing left half-sealed
