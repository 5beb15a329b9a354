"""Trigger-to-send under the collector's benchmark load: from the 200 of an event to the SMTP server.

Usage (a timing bench: run it under the shared lock)::

    flock /tmp/percorso-bench.lock nice -n 5 python bench/activation.py --latency [--customers 2000]
        [--clients 4] [--seconds 60] [--trigger purchase|add_to_cart]

Starts ``percorso serve`` on a demo project with one enabled journey, ``latency_probe``: the
trigger event (``purchase`` by default, so the load generator's own orders enrol too and the
activation path carries the load's enrolments, not only the probe's), no wait, one e-mail
(purpose ``service``, no holdout, quiet hours and caps off: the bench measures the path, not
the guards' refusals). A local SMTP server (aiosmtpd, in this process) records when each
message arrives. While ``bench/collector.py``'s load generator sends its batches for
``--seconds``, a probe sends one triggering event a second for a new customer with an e-mail
address and notes the moment of its 200; the latency is the SMTP server's ``DATA`` of that
customer's message minus that moment (one clock: both in this process). The issue's target:
p95 <= 10 s. Prints one JSON object with ``uptime`` before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

#: The probe's Segment event for each trigger (the collector maps it to the event type).
EVENTS = {"purchase": "Order Completed", "add_to_cart": "Product Added"}


class Arrivals:
    """aiosmtpd handler: the arrival time (``perf_counter``) of each recipient's first message."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.times: dict[str, int] = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            for rcpt in envelope.rcpt_tos:
                self.at.setdefault(rcpt.lower(), now)
                self.times[rcpt.lower()] = self.times.get(rcpt.lower(), 0) + 1
        return "250 OK"


def configure(root: Path, trigger: str, smtp_port: int) -> None:
    """The probe journey (enabled) and an ``[activation]`` table pointing at the local SMTP server."""
    folder = root / "activation"
    folder.mkdir(exist_ok=True)
    (folder / "latency_probe.json").write_text(json.dumps({
        "name": "latency_probe", "description": "bench: trigger-to-send", "enabled": True, "holdout": 0.0,
        "trigger": {"kind": "event", "event_type": trigger},
        "steps": [{"kind": "act", "name": "probe_email", "action": {"kind": "email", "template": "cart",
                                                                    "purpose": "service"}}],
        "goal": {"event_type": "purchase", "window": "1d"}}), encoding="utf-8")
    toml = root / "percorso.toml"
    text = toml.read_text(encoding="utf-8")
    if "[activation]" not in text:
        toml.write_text(text + f"""
[activation]
quiet_start = 0
quiet_end = 0
caps = []
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
""", encoding="utf-8")


def probe(url: str, key: str, trigger: str, stop: threading.Event, acked: dict[str, float],
          refused: list[str]) -> None:
    """One triggering event a second, each for a new customer with an e-mail address."""
    i = 0
    with httpx.Client(base_url=url, auth=(key, ""), timeout=30) as http:
        while not stop.is_set():
            uid = f"latency-{os.getpid()}-{i}"
            email = f"{uid}@example.it"
            body = {"userId": uid, "event": EVENTS[trigger], "messageId": uid,
                    "context": {"traits": {"email": email}},
                    "properties": {"revenue": 10.0, "order_id": f"o-{uid}", "currency": "EUR", "product_id": "MAT-001"}}
            try:
                r = http.post("/v1/track", json=body)
                if r.status_code == 200:
                    acked[email] = time.perf_counter()
                else:
                    refused.append(f"{uid}: {r.status_code}")
            except httpx.HTTPError as exc:
                refused.append(f"{uid}: {type(exc).__name__}")
            i += 1
            stop.wait(1.0)


def stages(root: Path) -> dict:
    """Where the time went, from the stored rows of the probes' messages: the event's
    ``received_at`` (its acknowledgement) → the outbox row's ``created_at`` (the micro-batch was
    ingested and built and the journey enrolled it) → ``sent_at`` (the dispatcher's send)."""
    import numpy as np
    from percorso.project import open_project

    with open_project(root, read_only=True) as p:
        e = p.engine
        o = e.table("activation_outbox")
        ev = e.table("events")
        ev = ev.filter(ev.source_key.startswith("latency-"))
        t = e.table("touchpoints")
        first = e.execute(t.semi_join(ev, "event_id").select("customer_id", "event_id"))
        got = e.execute(ev.select("event_id", "received_at"))
        rows = e.execute(o.filter(o.journey == "latency_probe").select("customer_id", "created_at", "sent_at", "status"))
    m = first.merge(got, on="event_id").merge(rows, on="customer_id")
    if m.empty:
        return {"n": 0}
    queued = (m["created_at"] - m["received_at"]).dt.total_seconds().to_numpy()
    sent = (m["sent_at"] - m["created_at"]).dt.total_seconds().dropna().to_numpy()

    def q(a):  # noqa: ANN001, ANN202
        return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2)} \
            if len(a) else {}
    return {"n": len(m), "statuses": m["status"].value_counts().to_dict(), "received_to_queued_s": q(queued),
            "queued_to_sent_s": q(sent)}


def main(argv: list[str] | None = None) -> None:
    import argparse

    import numpy as np
    from aiosmtpd.controller import Controller
    from collector import bench_project, free_port, load, serve_collector, stats, uptime, warm_up

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--project", type=Path, help="a built project to copy (default: a new demo)")
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-batches", type=int, default=100_000)
    ap.add_argument("--trigger", choices=sorted(EVENTS), default="purchase")
    ap.add_argument("--door", choices=["intake", "server"], default="intake",
                    help="where load and probes go: the collector's intake workers (default) or the server's port")
    ap.add_argument("--rate", type=float, default=0.0, help="events a second of load in all (0: unbounded)")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds to wait for the last probes' messages")
    args = ap.parse_args(argv)
    load_before = uptime()
    work = Path(tempfile.mkdtemp(prefix="percorso-bench-activation-latency-"))
    arrivals = Arrivals()
    smtp_port = free_port()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        root = bench_project(work, args.project, args.customers)
        configure(root, args.trigger, smtp_port)
        key = subprocess.run([sys.executable, "-m", "percorso", "source", "key", "create", "web", "-p", str(root)],
                             check=True, capture_output=True, text=True, env=ENV).stdout.strip()
        proc, url, _token, intake = serve_collector(root)
        door = intake if args.door == "intake" else url
        warm = warm_up(url, door, key, _token)  # the server's first build, before the load (bench/collector.py)
        acked: dict[str, float] = {}
        refused: list[str] = []
        try:
            stop = threading.Event()
            prober = threading.Thread(target=probe, args=(door, key, args.trigger, stop, acked, refused), daemon=True)
            prober.start()
            collector = load(door, key, args.clients, args.seconds, args.max_batches, "activation-latency", args.rate)
            stop.set()
            prober.join(timeout=60)
            deadline = time.perf_counter() + args.settle
            while time.perf_counter() < deadline and any(e not in arrivals.at for e in acked):
                time.sleep(0.2)
            consumer = stats(root)
        finally:
            proc.terminate()
            proc.wait(timeout=300)
        got = [arrivals.at[e] - t for e, t in acked.items() if e in arrivals.at]
        lat = np.array(got) if got else np.array([np.nan])
        collector.pop("acked")
        out = {
            "bench": "activation_latency", "trigger": args.trigger, "clients": args.clients, "door": args.door,
            "warm_up_s": warm, "rate": args.rate,
            "load": {k: collector[k] for k in ("events_acked", "seconds", "events_per_s", "ack_latency", "status")},
            "probes_acked": len(acked), "probes_received": len(got), "probes_refused": refused[:5],
            "messages_received": arrivals.count,
            "probes_received_twice": sum(1 for e in acked if arrivals.times.get(e, 0) > 1),
            "stages": stages(root),
            "consumer": {k: consumer.get(k) for k in ("micro_batches", "last_batch_seconds", "accepted")},
            "trigger_to_send_s": {"p50": round(float(np.percentile(lat, 50)), 2),
                                  "p95": round(float(np.percentile(lat, 95)), 2), "max": round(float(lat.max()), 2)},
            "target_p95_le_10s": bool(len(got) == len(acked) and np.percentile(lat, 95) <= 10.0),
            "uptime_before": load_before, "uptime_after": uptime(),
        }
        print(json.dumps(out))
    finally:
        smtp.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
