"""Send request bodies through the collector's intake into a project's spool, without HTTP.

The route does exactly this (check, stamp, append with fsync) plus authentication and the
wait for the fsync; tests of the HTTP surface are in tests/server/test_collector_*.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from percorso.collector import intake as I
from percorso.collector.service import event_names, intake_for, spool_folder
from percorso.collector.spool import Spool


class Sender:
    """Bodies for one source of a project; :meth:`close` before draining."""

    def __init__(self, project: Any, source: str = "web") -> None:
        self.project = project
        self.source = source
        self.names = event_names(project.settings, source)
        self.spool = Spool(spool_folder(project.root), 1 << 40)
        self.n = 0

    def send(self, body: bytes | dict | list, endpoint: str = "batch", *, now: dt.datetime | None = None,
             ip: str | None = "203.0.113.9", user_agent: str | None = "pytest-agent") -> I.Outcome:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        intake = intake_for(self.project.settings, self.names, ip, user_agent, historical=endpoint == "import", now=now)
        self.n += 1
        out = I.process(raw, endpoint, intake, f"POST /v1/{endpoint} test-{self.n}")
        if out.events or out.rejects:
            self.spool.submit(self.source, b"".join(out.events), b"".join(out.rejects), out.accepted).result()
        return out

    def close(self) -> None:
        self.spool.close()


def replay_lines(project: Any, path: Path, source: str, chunk: int = 100) -> list[I.Outcome]:
    """A client replaying a Segment JSON Lines file through ``/v1/import`` in batches of ``chunk``.

    A line that is not JSON cannot go inside a batch: it is sent alone, as the raw body.
    """
    sender = Sender(project, source)
    outs, batch = [], []
    try:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                batch.append(json.loads(line))
            except ValueError:
                outs.append(sender.send(line, "import"))
                continue
            if len(batch) == chunk:
                outs.append(sender.send({"batch": batch}, "import"))
                batch = []
        if batch:
            outs.append(sender.send({"batch": batch}, "import"))
    finally:
        sender.close()
    return outs
