"""REST latency of the main analyses, against the same queries in-process (issue 16).

Usage: python bench/api.py [--project DIR | --customers N] [--requests 30]

Starts ``percorso serve`` on a free loopback port and measures, per endpoint, p50/p95/p99
of: the query run in this process (the baseline), the server recomputing it
(``Cache-Control: no-cache``) with 1 client, and cached answers with 1, 4 and 16 concurrent
clients. Prints one JSON object with the load average; targets: cached p95 ≤ 50 ms,
uncached p95 ≤ 1.2 × in-process + 20 ms at 1 client, no error under 16 clients.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUERIES = {
    "paths_top": {"top": 20},
    "paths_transitions": {},
    "funnel": {"steps": ["page_view", "add_to_cart", "purchase"], "window": "7d"},
    "journey_map": {},
    "omnichannel": {},
    "attribution": {"models": ["first", "last", "linear", "markov"]},
    "rfm": {},
}


def pct(values: list[float]) -> dict[str, float]:
    a = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "n": len(values)}


def in_process(root: Path, reps: int) -> dict[str, dict]:
    from percorso.analysis import run
    from percorso.analysis.wire import query_from_wire, result_to_wire
    from percorso.project import open_project

    out = {}
    with open_project(root, read_only=True) as p:
        for kind, body in QUERIES.items():
            times = []
            for _ in range(reps):
                t = time.perf_counter()
                result_to_wire(run(p.engine, query_from_wire(kind, body), p.settings))
                times.append(time.perf_counter() - t)
            out[kind] = pct(times)
    return out


def serve(root: Path) -> tuple[subprocess.Popen, str, str]:
    from percorso.server import runfile

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "percorso", "serve", "-p", str(root), "--port", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = runfile.read(root)
        if info and info.get("pid") == proc.pid:
            try:
                if httpx.get(info["url"] + "/readyz", timeout=5).status_code == 200:
                    return proc, info["url"], info["token"]
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def timed_requests(url: str, token: str, kind: str, n: int, clients: int, fresh: bool) -> tuple[list[float], int]:
    headers = {"Authorization": f"Bearer {token}"}
    if fresh:
        headers["Cache-Control"] = "no-cache"

    per = max(1, n // clients)
    if clients == 1:
        parts = [_worker((url, headers, kind, per))]
    else:  # one process per client: the load generator's own GIL must not be what is measured
        with ProcessPoolExecutor(clients) as pool:
            parts = list(pool.map(_worker, [(url, headers, kind, per)] * clients))
    return [t for p, _ in parts for t in p], sum(e for _, e in parts)


def _worker(args: tuple[str, dict, str, int]) -> tuple[list[float], int]:
    url, headers, kind, count = args
    times, errors = [], 0
    with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
        http.get("/healthz")  # connect first: the connection is not what is measured
        for _ in range(count):
            t = time.perf_counter()
            r = http.post(f"/v1/analyses/{kind}", json=QUERIES[kind])
            times.append(time.perf_counter() - t)
            errors += r.status_code != 200
    return times, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="percorso-bench-api-"))
    try:
        if args.project:
            root = work / "project"
            shutil.copytree(args.project, root, ignore=shutil.ignore_patterns(".percorso"))
            # a project built by an older version is rebuilt first (a no-op when it is current)
            subprocess.run([sys.executable, "-m", "percorso", "build", "-p", str(root)], check=True,
                           capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        else:
            root = work / "demo"
            subprocess.run([sys.executable, "-m", "percorso", "demo", "--customers", str(args.customers), "--dir",
                            str(root)], check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        from percorso.project import open_project

        with open_project(root, read_only=True) as p:
            events = p.engine.count("events")
        baseline = in_process(root, reps=5)
        proc, url, token = serve(root)
        try:
            endpoints = {}
            for kind in QUERIES:
                cold, _ = timed_requests(url, token, kind, 1, 1, fresh=True)
                uncached, err0 = timed_requests(url, token, kind, 5, 1, fresh=True)
                row = {"in_process": baseline[kind], "cold_ms": round(cold[0] * 1000, 2),
                       "uncached_1": pct(uncached)}
                errors = err0
                for clients in (1, 4, 16):
                    times, err = timed_requests(url, token, kind, args.requests * max(1, clients // 4), clients, False)
                    row[f"cached_{clients}"] = pct(times)
                    errors += err
                row["errors"] = errors
                limit = 1.2 * baseline[kind]["p95_ms"] + 20
                row["uncached_target_ms"] = round(limit, 2)
                row["uncached_ok"] = row["uncached_1"]["p95_ms"] <= limit
                row["cached_ok"] = all(row[f"cached_{c}"]["p95_ms"] <= 50 for c in (1, 4, 16))
                endpoints[kind] = row
        finally:
            proc.terminate()
            proc.wait(timeout=120)
        print(json.dumps({"bench": "api", "events": events, "endpoints": endpoints,
                          "all_cached_ok": all(e["cached_ok"] for e in endpoints.values()),
                          "all_uncached_ok": all(e["uncached_ok"] for e in endpoints.values()),
                          "errors": sum(e["errors"] for e in endpoints.values()),
                          "loadavg_before": load_before, "loadavg_after": os.getloadavg()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
