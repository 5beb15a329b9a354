"""20 random ``kill -9`` of the server while clients send: every acknowledged event is in
``events`` exactly once after the restarts (issue 17, must-show: crash test).

Clients behave as Segment's libraries do: a batch that got no 200 (connection refused, reset,
503) is sent again, with the same messageIds, until it gets one. So at the end every batch
was acknowledged once at least, some were written and never acknowledged (the kill came
between the fsync and the answer) and then sent again: each event must still be there once.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from percorso.project import open_project
from tests.server.conftest import Server
from tests.server.test_collector import write_key

KILLS = 20
CLIENTS = 4
BATCH = 25


def _fresh(template: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    shutil.copy(template / "percorso.toml", where / "percorso.toml")
    shutil.copytree(template / "rules", where / "rules")
    with open(where / "percorso.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[collector]\nbatch_seconds = 0.3\nbuild = false\n")
    return where


@pytest.mark.slow  # 20 server starts: ~60 s on an idle 2-core machine, ~170 s with load 12 (bench: 200)
def test_twenty_kills_lose_and_duplicate_nothing(demo_template: Path, tmp_path: Path) -> None:
    root = _fresh(demo_template, tmp_path / "killed")
    key = write_key(root)
    server = Server.start(root)
    # half the clients post to the server's own routes, half to the intake workers' port, whose
    # processes die with the server (and may be cut mid-append): both doors keep the promise
    url = {"now": server.url, "intake": server.collector_url}
    assert server.collector_url
    stop = threading.Event()
    acked: list[list[str]] = [[] for _ in range(CLIENTS)]
    sent_batches = [0] * CLIENTS

    def client(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(timeout=10) as http:
            b = 0
            while not stop.is_set():
                ids = [f"c{n}-b{b}-e{i}" for i in range(BATCH)]
                batch = {"batch": [{"type": "track", "event": rng.choice(["Product Viewed", "Order Completed"]),
                                    "userId": f"u{n}-{b % 7}", "messageId": m,
                                    "properties": {"revenue": 10.0, "order_id": m}} for m in ids]}
                while True:  # until acknowledged, same messageIds (a retry, as the SDKs do)
                    try:
                        door = url["intake"] if n % 2 else url["now"]
                        if http.post(door + "/v1/batch", json=batch, auth=(key, "")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)
                acked[n].extend(ids)
                b += 1
                sent_batches[n] = b

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    rng = random.Random(42)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.2))  # into the load: appends, syncs, consumer commits
            server.kill()
            server = Server.start(root)  # replays the spool
            url["now"], url["intake"] = server.url, server.collector_url
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert server.stop() == 0  # a clean stop drains the spool
    want = [m for ids in acked for m in ids]
    assert len(want) >= KILLS * BATCH
    with open_project(root, read_only=True) as p:
        ev = p.engine.table("events")
        counts = p.engine.execute(ev.group_by("source_key").aggregate(n=ev.count()))
        assert p.engine.count("quarantine") == 0
    stored = dict(zip(counts.source_key, counts.n))
    assert not [m for m in want if stored.get(m) != 1]  # every acknowledged event exactly once
    assert set(stored) == set(want)  # and nothing else (every batch was retried until acknowledged)
