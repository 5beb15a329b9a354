"""Two dispatchers on one database at once (the server's beat and the collector's hook): each message once.

A dispatch begins by recovering what a crash left ``sending``; without one dispatcher at a time
per database, the second one took the first one's batch in flight for a crash's and sent it
again (bench/activation.py --latency: 1 of 50 probe e-mails arrived twice).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime

from percorso.activation.model import journey_from_dict
from percorso.activation.outbox import dispatch
from percorso.activation.runner import run_journeys
from percorso.activation.service import tick

from .helpers import make_project

N = 60
JOURNEY = {"name": "j", "enabled": True, "holdout": 0.0, "trigger": {"kind": "event", "event_type": "add_to_cart"},
           "steps": [{"kind": "act", "action": {"kind": "email", "template": "cart", "purpose": "service"}}]}
NOW = datetime(2024, 3, 2, 12, 0)


def _project(tmp_path):  # noqa: ANN001, ANN202
    people = {f"C{i:03d}": [("add_to_cart", "2024-03-01 09:00")] for i in range(N)}
    profiles = {c: {"email": f"{c.lower()}@example.it"} for c in people}
    project = make_project(tmp_path, people, profiles, "caps = []\nquiet_start = 0\nquiet_end = 0\nbatch_size = 5")
    run_journeys(project.engine, project.secret, [journey_from_dict(JOURNEY)], now=NOW,
                 zone=project.settings.project.time_zone)
    return project


def test_two_dispatchers_at_once_send_each_message_once(tmp_path) -> None:
    project = _project(tmp_path)
    got: Counter[str] = Counter()
    lock = threading.Lock()

    def slow(msg, person):  # noqa: ANN001, ANN202 - a receiver that takes its time, as SMTP does
        time.sleep(0.003)
        with lock:
            got[msg["message_key"]] += 1
        return "sent", None

    engines = [project.engine.fork() for _ in range(2)]
    threads = [threading.Thread(target=dispatch, args=(e, project.settings, {"email": slow}),
                                kwargs={"now": lambda: NOW}) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for e in engines:
        e.close()
    assert len(got) == N and max(got.values()) == 1
    o = project.engine.execute(project.engine.table("activation_outbox"))
    assert (o["status"] == "sent").sum() == N


def test_a_beat_that_finds_another_running_does_nothing(tmp_path) -> None:
    project = _project(tmp_path)
    from percorso.activation.outbox import dispatch_lock

    held = dispatch_lock(project.engine)
    entered = threading.Event()
    release = threading.Event()

    def hook() -> None:  # the collector's hook, holding the lock on its own thread
        with held:
            entered.set()
            release.wait(30)

    t = threading.Thread(target=hook)
    t.start()
    entered.wait(30)
    try:
        report, sent = tick(project, now=NOW, wait=False, senders={"email": lambda m, p: ("sent", None)})
        assert report.counts == {} and sent is None  # skipped, not queued behind the hook
    finally:
        release.set()
        t.join(30)
    report, sent = tick(project, now=NOW, senders={"email": lambda m, p: ("sent", None)})
    assert sent.counts == {"sent": N}
