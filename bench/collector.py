"""Collector load on loopback: events/s, acknowledgement latency, the fsync floor, freshness (issue 17).

Usage: python bench/collector.py [--project DIR | --customers N] [--clients 4] [--seconds 20]
                                 [--max-batches 100000] [--kills 0 [--kills-only]] [--door intake|server]

Starts ``percorso serve`` on a built project (a copy of ``--project``, else a new demo) and
``--clients`` load-generator processes, each sending batches of 100 Segment calls to
``/v1/batch`` for ``--seconds`` (or ``--max-batches`` in all), each call from its visitor's
device (an address and a browser fixed per visitor, ~1.2 visitors an address; ``--ip-per-event``:
a random address per call, one browser for all, the adversarial case), on the intake workers' port
(``--door intake``, the default; ADR 0030) or the server's own (``--door server``). While it
runs, the spool's backlog (events sealed or written, not yet consumed) is sampled every 2 s.
Then, with the same clients, the
**floor**: a bare endpoint (same uvicorn, same loopback) that only appends the body to a file
and fsyncs it, so the ratio says what the checks, the spool and the consumer cost. While the
collector is loaded, a probe sends one order a second for a new customer and polls
``GET /v1/customers/{id}`` until it shows: the **freshness** from the 200 to the profile.
``--kills N`` (the must-show's 200 kills) kills the server N times under load and checks
that every acknowledged event is stored exactly once. Prints one JSON object with ``uptime``'s
load average before and after; targets: >= 10,000 events/s, p99 ack <= 200 ms, freshness
p95 <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
BATCH = 100
POLL = 0.5  # seconds between a freshness probe's profile reads (its resolution)
GETS: list[float] = []  # how long each of the probes' profile reads took (the API's own share)


def pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    a = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1),
            "p99_ms": round(float(np.percentile(a, 99)), 1), "max_ms": round(float(a.max()), 1), "n": len(values)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# -- the floor: append + fsync, nothing else --------------------------------------------------
def floor_server(path: str, port: int) -> None:
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lock = threading.Lock()

    def append(data: bytes) -> None:
        with lock:
            os.write(fd, data + b"\n")
            os.fdatasync(fd)

    async def floor(request):  # noqa: ANN001, ANN202
        await asyncio.get_running_loop().run_in_executor(None, append, await request.body())
        return JSONResponse({"success": True})

    app = Starlette(routes=[Route("/v1/batch", floor, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- load --------------------------------------------------------------------------------------
#: Browsers of the simulated visitors (a device is an address and one of these).
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
)
#: ``--ip-per-event``: every call from a random one of 65,536 addresses with one user agent (the
#: bench's traffic before 5 December 2026: no visitor keeps a device, every address is shared by
#: hundreds of them, so the device link weighs and churns on every event).
IP_PER_EVENT = "PERCORSO_BENCH_IP_PER_EVENT"


def device(user: int) -> tuple[str, str]:
    """The visitor's device: an address and a browser fixed by its number, ~1.2 visitors an
    address (households and offices behind one router) over 16,384 addresses, six browsers."""
    h = (user * 2654435761) % 2**32  # Knuth's multiplicative hash: neighbours land far apart
    addr = h % 16384
    return f"10.0.{addr >> 8}.{addr & 255}", USER_AGENTS[(h >> 16) % len(USER_AGENTS)]


def batch_body(client: int, n: int, rng: random.Random) -> bytes:
    calls = []
    per_event = os.environ.get(IP_PER_EVENT) == "1"
    for i in range(BATCH):
        number = rng.randrange(20000)
        user = f"load-u{number}"
        kind = rng.random()
        ip, agent = device(number)
        if per_event:
            ip, agent = f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", "bench/1.0"
        call = {"messageId": f"c{client}-b{n}-e{i}", "anonymousId": f"anon-{user}",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "context": {"page": {"url": "https://www.dormirebene.it/materassi?utm_source=google&utm_medium=cpc",
                                     "referrer": "https://www.google.it/"}, "userAgent": agent, "ip": ip}}
        if kind < 0.6:
            call.update(type="page", name="Materassi")
        elif kind < 0.9:
            call.update(type="track", event="Product Viewed", properties={"product_id": "MAT-001", "price": 499.0})
        else:
            call.update(type="track", event="Order Completed", userId=user,
                        properties={"revenue": 499.0, "order_id": f"o-{client}-{n}-{i}", "currency": "EUR"})
        calls.append(call)
    return json.dumps({"batch": calls}).encode()


def client_worker(args: tuple[int, str, str, float, int, str, float]) -> dict:
    """One client process: batches until the deadline or its share of the batch cap.

    ``every``: seconds between the starts of two batches (0: as fast as answered), so that the
    clients together send ``--rate`` events a second; a late batch is sent at once, never in a
    burst to catch up.
    """
    client, url, key, seconds, max_batches, run, every = args
    rng = random.Random(client)
    lat, codes, acked = [], {}, []
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, auth=(key, ""), timeout=30) as http:
        n = 0
        due = time.monotonic()
        while time.monotonic() < deadline and n < max_batches:
            if every:
                due = max(due + every, time.monotonic() - every)
                time.sleep(max(0.0, due - time.monotonic()))
            body = batch_body(client, n, rng)
            t = time.perf_counter()
            try:
                r = http.post("/v1/batch", content=body, headers={"Content-Type": "application/json"})
                code = r.status_code
            except httpx.HTTPError:
                code = 0
            lat.append(time.perf_counter() - t)
            codes[code] = codes.get(code, 0) + 1
            if code == 200:
                acked.append(n)
            else:
                time.sleep(0.05)
            n += 1
    return {"lat": lat, "codes": codes, "acked_batches": acked, "cpu_s": time.process_time() - cpu0}


def load(url: str, key: str, clients: int, seconds: float, max_batches: int, run: str, rate: float = 0.0) -> dict:
    """``clients`` processes sending batches for ``seconds``; ``rate``: events a second in all (0: unbounded)."""
    t0 = time.perf_counter()
    every = clients * BATCH / rate if rate else 0.0
    with ProcessPoolExecutor(clients) as pool:
        parts = list(pool.map(client_worker, [(c, url, key, seconds, max(1, max_batches // clients), run, every)
                                              for c in range(clients)]))
    wall = time.perf_counter() - t0
    lat = [x for p in parts for x in p["lat"]]
    codes: dict[str, int] = {}
    for p in parts:
        for c, n in p["codes"].items():
            codes[str(c)] = codes.get(str(c), 0) + n
    events = BATCH * codes.get("200", 0)
    return {"events_acked": events, "seconds": round(wall, 2), "events_per_s": round(events / wall, 1),
            "clients_cpu_s": round(sum(p["cpu_s"] for p in parts), 2),
            "requests": len(lat), "status": codes, "ack_latency": pct(lat),
            "acked": {c: p["acked_batches"] for c, p in enumerate(parts)}}


# -- freshness probe -----------------------------------------------------------------------------
def probe(url: str, door: str, key: str, token: str, stop: threading.Event, out: list[float],
          missed: list[str], acks: list[tuple[float, float]] | None = None) -> None:
    """One new customer's order a second through ``door``; the time from its 200 to its profile at ``url``.

    ``acks`` gets (the 200's wall-clock time, seconds until visible) of each probe seen, to set
    against the consumer's micro-batches (:func:`where_time_went`).
    """
    threads = []

    def one(i: int) -> None:
        uid = f"fresh-{i}-{os.getpid()}"
        with httpx.Client(base_url=url, timeout=30) as http:
            r = http.post(door + "/v1/track", auth=(key, ""), json={"userId": uid, "event": "Order Completed",
                                                                    "messageId": uid, "properties": {"revenue": 10.0}})
            if r.status_code != 200:
                missed.append(f"{uid}: {r.status_code}")
                return
            acked, acked_wall = time.perf_counter(), time.time()
            while time.perf_counter() - acked < 60:
                g = time.perf_counter()
                v = http.get(f"/v1/customers/{uid}", headers={"Authorization": f"Bearer {token}"})
                GETS.append(time.perf_counter() - g)
                if v.status_code == 200:
                    out.append(time.perf_counter() - acked)
                    if acks is not None:
                        acks.append((acked_wall, out[-1]))
                    return
                # 0.5 s: up to 60 probes wait at once under load, and a profile read that finds
                # nobody tries every kind of identifier (~0.1-0.3 s at 1M, one database worker):
                # polling each every 0.05 s made the API, not the collector, the measure
                time.sleep(POLL)
            missed.append(f"{uid}: not visible after 60 s")

    i = 0
    while not stop.is_set():
        t = threading.Thread(target=one, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        i += 1
        stop.wait(1.0)
    for t in threads:
        t.join(timeout=90)


def warm_up(url: str, door: str, key: str, token: str, timeout: float = 300) -> float:
    """One event of a new customer through ``door``, then wait until its profile shows: seconds.

    Why: a server's first micro-batch pays what a running server paid long ago (imports, the
    build's compiled plan, the database's cold pages): 21 s for 2,402 events at 1M, identity
    8.7 s of it. Measured under load it made the whole run's freshness; a collector runs for
    days, so the load starts after this first build.
    """
    uid = f"warm-{os.getpid()}-{time.time_ns()}"
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post(door + "/v1/track", auth=(key, ""), json={"userId": uid, "event": "Order Completed",
                                                                "messageId": uid, "properties": {"revenue": 1.0}})
        r.raise_for_status()
        while time.perf_counter() - t0 < timeout:
            if http.get(f"/v1/customers/{uid}", headers={"Authorization": f"Bearer {token}"}).status_code == 200:
                return round(time.perf_counter() - t0, 2)
            time.sleep(POLL)
    return -1.0


def serve_collector(root: Path) -> tuple[subprocess.Popen, str, str, str]:
    """``percorso serve`` on ``root``: (process, API url, admin token, the intake workers' url)."""
    from api import serve

    from percorso.server import runfile

    proc, url, token = serve(root)
    intake = runfile.read(root).get("collector_url") or url
    for _ in range(300):  # the workers start a moment after the server
        try:
            httpx.get(intake + "/healthz", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url, token, intake


def backlog(root: Path, stop: threading.Event, out: list[dict]) -> None:
    """Every 2 s: what waits in the spool (events not yet in ``events``) and the oldest one's age."""
    from percorso.collector.service import spool_folder
    from percorso.collector.spool import spool_figures

    t0 = time.perf_counter()
    while not stop.wait(2.0):
        f = spool_figures(spool_folder(root))
        out.append({"t": round(time.perf_counter() - t0, 1), "events": f["spool_events"], "lag_s": f["lag_seconds"]})


def _censored_p95(seen: list[float], unseen: int) -> float | str | None:
    """p95 of the freshness over every probe; ">60" when it falls among those never seen in 60 s."""
    if not seen and not unseen:
        return None
    p = float(np.percentile(seen + [1e9] * unseen, 95))
    return ">60" if p >= 60 else round(p, 2)


def where_time_went(acks: list[tuple[float, float]], batches: list[dict]) -> dict:
    """Per seen probe, its seconds split by the micro-batch that made it visible (the last one
    committed before the probe saw it): waiting in the spool (its file sealed, then the cycle
    before it finishing), the cycle's ingest, its build (identity, touchpoints, customers,
    segments, activation), and the API poll that saw it. Medians and p95 over the probes;
    also the micro-batches of the run (events, seconds, CPU seconds)."""
    built = sorted((b["at"]["built"], b) for b in batches if "built" in b.get("at", {}))
    parts: dict[str, list[float]] = {"spool_wait": [], "ingest": [], "build": [], "api_poll": []}
    for acked, fresh in acks:
        seen = acked + fresh
        cands = [b for t, b in built if acked < t <= seen + 0.05]
        if not cands:
            continue
        at = cands[-1]["at"]
        parts["spool_wait"].append(max(at["start"] - acked, 0.0))
        parts["ingest"].append(at["ingested"] - at["start"])
        parts["build"].append(at["built"] - at["ingested"])
        parts["api_poll"].append(max(seen - at["built"], 0.0))
    out = {k: {"p50_s": round(float(np.percentile(v, 50)), 2), "p95_s": round(float(np.percentile(v, 95)), 2)}
           for k, v in parts.items() if v}
    out["probes_matched"] = len(parts["ingest"])
    out["micro_batches"] = [{"events": b["events"], "seconds": b["seconds"], "cpu": b.get("cpu"),
                             "customers_rebuilt": b.get("customers_rebuilt"),
                             "build_steps": {k: v for k, v in b.get("build_steps", {}).items() if v},
                             "identity_phases": b.get("identity_phases", {})}
                            for b in batches]
    return out


def stats(root: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "percorso", "collector", "stats", "-p", str(root), "--format", "json"],
                       capture_output=True, text=True, env=ENV)
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-300:]}


def drain(root: Path, timeout: float = 300) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        s = stats(root)
        if s.get("spool_events", 1) == 0:
            return round(time.perf_counter() - t0, 2)
        time.sleep(0.5)
    return -1.0


def kills(root: Path, key: str, n: int, clients: int, minutes: float = 1e9, rate: float = 0.0) -> dict:
    """Kill the server ``n`` times under load; every acknowledged event must be stored once.

    Half the clients post to the intake workers (killed with the server), half to the server's own routes.
    ``rate``: batches a second per client (0: as fast as answered). The check is durability,
    not throughput: a bounded load keeps the cores for the restarts, so 200 kills fit in a
    bounded time on a shared machine (each restart is ~3 CPU s: the server, two intake workers).
    """
    proc, url, _, intake = serve_collector(root)
    box = {"url": url, "intake": intake}
    stop = threading.Event()
    acked: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        rng = random.Random(1000 + c)
        b = 0
        with httpx.Client(timeout=10, auth=(key, "")) as http:
            while not stop.is_set():
                if rate:
                    time.sleep(1.0 / rate)
                body = batch_body(1000 + c, b, rng)
                while not stop.is_set():
                    try:
                        door = box["intake"] if c % 2 else box["url"]
                        if http.post(door + "/v1/batch", content=body).status_code == 200:
                            with lock:
                                acked.extend(f"c{1000 + c}-b{b}-e{i}" for i in range(BATCH))
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)
                b += 1

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    t0 = time.perf_counter()
    done = 0
    restarts: list[float] = []
    for k in range(n):
        if time.perf_counter() - t0 > minutes * 60:
            break  # the time budget: the kills so far are checked as any others
        done += 1
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if k % 10 == 9:
            print(f"kill {k + 1}/{n} at {time.perf_counter() - t0:.0f} s, {len(acked)} acknowledged", file=sys.stderr,
                  flush=True)
        r0 = time.perf_counter()
        proc, box["url"], _, box["intake"] = serve_collector(root)
        restarts.append(time.perf_counter() - r0)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    proc.terminate()
    proc.wait(timeout=300)
    from percorso.project import open_project

    with open_project(root, read_only=True) as p:
        ev = p.engine.table("events")
        mine = ev.filter(ev.source_key.startswith("c1"))
        got = p.engine.execute(mine.group_by("source_key").aggregate(n=mine.count()))
    stored = dict(zip(got.source_key, got.n))
    return {"kills": done, "kills_asked": n, "seconds": round(time.perf_counter() - t0, 1),
            "restart_s": pct(restarts), "batches_per_s_per_client": rate or "unbounded", "acked": len(acked),
            "missing": sum(1 for m in acked if m not in stored), "duplicated": int((got.n > 1).sum())}


def bench_project(work: Path, project: Path | None, customers: int) -> Path:
    """A copy of ``project`` in ``work``, else a new demo of ``customers`` people there."""
    if project:
        root = work / "project"
        shutil.copytree(project, root, ignore=shutil.ignore_patterns(".percorso"))
    else:
        root = work / "demo"
        subprocess.run([sys.executable, "-m", "percorso", "demo", "--customers", str(customers), "--dir", str(root)],
                       check=True, capture_output=True, env=ENV)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-batches", type=int, default=100_000, help="cap on the batches sent (all clients)")
    ap.add_argument("--kills", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="events a second the clients send in all (0: as fast as answered); the issue's load is 10,000")
    ap.add_argument("--door", choices=["intake", "server"], default="intake")
    ap.add_argument("--ip-per-event", action="store_true",
                    help="each call from a random address, one user agent for all (no visitor keeps a device)")
    ap.add_argument("--kills-only", action="store_true", help="only the --kills crash run (no load, no floor)")
    ap.add_argument("--no-build", action="store_true", help="[collector] build = false (the crash run: events only)")
    ap.add_argument("--kills-minutes", type=float, default=1e9, help="stop killing after this many minutes")
    ap.add_argument("--kills-rate", type=float, default=0.0,
                    help="batches a second per client in the crash run (0: unbounded)")
    ap.add_argument("--floor", nargs=2, metavar=("FILE", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ip_per_event:
        os.environ[IP_PER_EVENT] = "1"  # the client processes inherit it
    if args.floor:
        floor_server(args.floor[0], int(args.floor[1]))
        return
    load_before = uptime()
    work = Path(tempfile.mkdtemp(prefix="percorso-bench-collector-"))
    try:
        root = bench_project(work, args.project, args.customers)
        key = subprocess.run([sys.executable, "-m", "percorso", "source", "key", "create", "web", "-p", str(root)],
                             check=True, capture_output=True, text=True, env=ENV).stdout.strip()
        if args.no_build:  # restarts without the first build: more kills per minute on a loaded machine
            with open(root / "percorso.toml", "a", encoding="utf-8") as fh:
                fh.write("\n[collector]\nbuild = false\nbatch_seconds = 0.3\n")
        if args.kills_only:  # the crash bench alone (not a timing run)
            print(json.dumps({"bench": "collector-kills", "build": not args.no_build,
                              "crash": kills(root, key, args.kills, args.clients, args.kills_minutes, args.kills_rate),
                              "uptime_before": load_before, "uptime_after": uptime()}))
            return
        proc, url, token, intake = serve_collector(root)
        door = intake if args.door == "intake" else url
        warm = warm_up(url, door, key, token)
        fresh: list[float] = []
        acks: list[tuple[float, float]] = []
        missed: list[str] = []
        waiting: list[dict] = []
        try:
            stop = threading.Event()
            prober = threading.Thread(target=probe, args=(url, door, key, token, stop, fresh, missed, acks), daemon=True)
            prober.start()
            sampler = threading.Thread(target=backlog, args=(root, stop, waiting), daemon=True)
            sampler.start()
            workers = children(proc.pid)
            before = {p: cpu_seconds(p) for p in [proc.pid, *workers]}
            collector = load(door, key, args.clients, args.seconds, args.max_batches, "collector", args.rate)
            cpu = {p: round(cpu_seconds(p) - t, 2) for p, t in before.items()}
            stop.set()
            prober.join(timeout=120)
            drained = drain(root)
            for _ in range(600):  # the last micro-batch's build runs after its files are gone: until idle
                c1 = cpu_seconds(proc.pid)
                time.sleep(1.0)
                if cpu_seconds(proc.pid) - c1 < 0.1:
                    break
            cpu[proc.pid] = round(cpu_seconds(proc.pid) - before[proc.pid], 2)  # the consumer's whole share
            consumer = consumer_all = stats(root)
        finally:
            proc.terminate()
            proc.wait(timeout=300)
        port = free_port()
        fproc = subprocess.Popen([sys.executable, __file__, "--floor", str(work / "floor.jsonl"), str(port)], env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            floor_url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.post(floor_url + "/v1/batch", content=b"{}", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            floor = load(floor_url, key, args.clients, args.seconds, args.max_batches, "floor")
        finally:
            fproc.terminate()
            fproc.wait(timeout=60)
        crash = kills(root, key, args.kills, args.clients) if args.kills else None
        # where the cores went (the server: until every acknowledged event was consumed and built;
        # the workers and clients: during the load): per 1,000 acknowledged events, and what a machine
        # with only this on its 2 cores could sustain (2 CPU-seconds a second over the sum)
        per_k = 1000 / max(collector["events_acked"], 1)
        split = {"server_consumer_build_api": cpu[proc.pid], "intake_workers": sum(v for p, v in cpu.items() if p != proc.pid),
                 "load_clients": collector["clients_cpu_s"]}
        cpu_out = {"cpu_s": split, "cpu_ms_per_1000_events": {k: round(v * per_k * 1000, 1) for k, v in split.items()},
                   "events_per_s_if_alone_on_2_cores": {
                       "intake_and_clients": round(2 / max((split["intake_workers"] + split["load_clients"]) * per_k / 1000, 1e-9)),
                       "everything": round(2 / max(sum(split.values()) * per_k / 1000, 1e-9))}}
        collector.pop("acked")
        floor.pop("acked")
        f = pct(fresh)
        out = {"bench": "collector", "door": args.door, "clients": args.clients, "batch": BATCH, "rate": args.rate,
               "warm_up_s": warm,
               "collector": collector,
               "floor": floor, "ratio_events_per_s": round(collector["events_per_s"] / max(floor["events_per_s"], 1e-9), 3),
               "ratio_p99": round(collector["ack_latency"].get("p99_ms", 0) / max(floor["ack_latency"].get("p99_ms", 1), 1e-9), 2),
               "freshness": {k.replace("_ms", "_s"): (round(v / 1000, 2) if k.endswith("_ms") else v) for k, v in f.items()},
               # a probe not visible within 60 s counts as slower than every seen one: the p95 over all probes
               "freshness_p95_all_probes_s": _censored_p95(fresh, len(missed)),
               "freshness_probes": {"seen": len(fresh), "not_seen_in_60_s": len(missed), "poll_s": POLL,
                                    "profile_read": pct(GETS)},
               "freshness_missed": missed[:5], "drain_seconds_after_load": drained,
               "where_time_went": where_time_went(acks, consumer_all.get("recent_batches") or []),
               "spool_backlog_every_2s": waiting,
               "consumer": {k: consumer.get(k) for k in ("accepted", "deduplicated", "quarantined_total", "micro_batches",
                                                          "last_batch_events", "last_batch_seconds", "busy_503")},
               "crash": crash, "cpu": cpu_out,
               "targets": {"events_per_s": collector["events_per_s"] >= 10000,
                           "p99_ack_ms": collector["ack_latency"].get("p99_ms", 1e9) <= 200,
                           "freshness_p95_s": bool(fresh) and float(np.percentile(fresh + [1e9] * len(missed), 95)) <= 5},
               "uptime_before": load_before, "uptime_after": uptime()}
        print(json.dumps(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
