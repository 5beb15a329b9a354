"""Dashboard page times, cold and warm, against the same pages' queries run in-process (issue 18).

Usage: python bench/dashboard.py --project DIR [--runs 2] [--fast-runs 20] [--budget 60] [--pages / /mappa ...] [--in-place]

Works on a copy of the built project (the original is untouched; ``--in-place`` uses the
project itself, for a 10M-event database too large to copy twice: the benchmark adds one admin
token and audit rows). The app runs in this process behind Starlette's test client (server
time: routing, authentication, queries on the database worker, figures, templates; no
network), logged in as an **admin**, so every page is measured (Impostazioni too). Pages that
need one get a subject: Cliente 360 the customer with the most touchpoints among the buyers,
Segmenti a draft rule (counted live) and the first saved segment's history (Cliente 360 a
different person per run: its reads are cached per person whatever the dates; an odd run's
baseline is the previous run's person, comparable work, not the same). The app warms up
when it is made (templates compiled, views imported, Plotly's trace types built:
``percorso.web.warmup``), as ``percorso serve`` does. Per page, first its **first opening** in
this process (a range no run asks; reported as ``first_ms``, not in the runs: it also pays the
database's first read of those tables, which the in-process baseline run after it would not),
then as many runs as ``--budget`` seconds allow judged by the first run, at least ``--runs``,
at most ``--fast-runs`` (with two runs p95 is the slower run, and one moment of the shared box
decides it; the first opening, on a range with less data, misjudged the page's cost). Per run:

- **cold**: the page with a date filter (``to`` = last event day minus the run number) that no
  earlier request used, so every one of its queries is computed;
- **warm**: the same address again (its queries and its view cached);
- **in-process**: the database work that cold request did, run here on the same engine, the
  baseline: every call the page made on the server's database worker is recorded; a typed query
  (``server.routes.analyses``) is run again with ``percorso.analysis.run``, any other read (a
  segment count, the imports, a customer's profile) is called again as it was; audit writes are
  left out. After the request on even runs, before it on odd ones (with the previous run's
  calls and the page asked with the same range written ``from=2000-01-01``, so its queries are
  new to the cache yet equal in work): whichever runs second finds the data warmer.

Each cold request also records the process's CPU time and the garbage collector's pauses in it
(``cold_cpu_ms``, ``cold_gc_ms_max``, ``slowest_cold``): a slow run whose CPU did not grow
waited for the shared box; one with a full collection in it paid the GC. The in-process replays'
CPU is recorded too (``inprocess_cpu_ms``; ``cpu_cold_over_inprocess``, p50 over p50: the page's
extra work, whatever the box's load did to the wall times). **Server time** (``cold_server_ms``,
``warm_server_ms``) is the app's own time, from its entry to its last byte (an ASGI wrapper): the
issue's measure, which the targets use. The test client's round trip (``cold_ms``, ``warm_ms``)
adds the client's own work and two thread hand-offs, ~1 ms that no server pays
(``noop_request_ms``: what ``/healthz`` costs through it at that load); its ratio is printed
beside (``cold_roundtrip_over_inprocess``). The app freezes its
start-up heap as ``percorso serve`` does (``app.state.freeze_heap``, ADR 0043).

Attribution and ROI read journeys stored once per data version (ADR 0038): the cold page and
its in-process queries both read them; ``stored_journeys`` reports the seconds each took when
it was computed (by the first answer that needed it, before or during this run).

Prints one JSON object: per page p50/p95 of each, ``cold_over_inprocess`` (server time p95 over
in-process p95), the load average. Targets (issue 18): server time warm p95 ≤ 200 ms, cold p95 ≤
1.5 × in-process p95.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _ms(values: list[float]) -> dict[str, float]:
    a = np.array(values) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1)}


#: Process CPU seconds of each in-process replay (beside its wall time: the cold request's CPU
#: against it tells the page's extra work from the shared box's waits).
INPROCESS_CPU: list[float] = []


def _inprocess(state, run, calls) -> float:  # type: ignore[no-untyped-def]
    """Seconds to redo ``calls`` (queries, or (function, args) reads) in this process on the
    server's engine (its database worker)."""
    cpu = time.process_time()
    t = time.perf_counter()
    for call in calls:
        if isinstance(call, tuple):
            state.run_sync(call[0], *call[1])
        else:
            state.run_sync(run, state.engine, call, state.project.settings)
    INPROCESS_CPU.append(time.process_time() - cpu)
    return time.perf_counter() - t


class _Pauses:
    """Garbage-collection time inside a request (``gc.callbacks``): a full pass stops every
    thread, so it lands in whichever request allocated when it came (ADR 0043)."""

    def __init__(self) -> None:
        import gc

        self.total, self.full, self._t = 0.0, 0, 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._t
            self.full += info["generation"] == 2

    def reset(self) -> None:
        self.total, self.full = 0.0, 0


class _ServerTime:
    """ASGI wrapper: the seconds from the app's entry to its last byte sent, per request (the
    test client's thread hand-offs around it are not in it; reported beside, never instead)."""

    last = 0.0

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            _ServerTime.last = time.perf_counter() - t


def _stored(engine) -> list[dict]:  # type: ignore[no-untyped-def]
    """The journeys attribution stored for this data version: rows and the seconds each took,
    paid once per data version, by the first answer that needed them (ADR 0038)."""
    from percorso.attribution.stored import INDEX

    if not engine.has_table(INDEX):
        return []
    f = engine.execute(engine.table(INDEX).select("key", "rows", "seconds", "computed_at"))
    return [{**r, "computed_at": str(r["computed_at"])} for r in f.to_dict("records")]


#: Cliente 360 opens a different person on each run (the buyers with the most touchpoints): its
#: reads are cached per person, whatever the dates, so the same person twice would be warm.
PEOPLE = 40


def _subjects(p) -> dict:  # type: ignore[no-untyped-def]
    """Per-page parameters: the customers Cliente 360 opens, the segment draft and saved segment."""
    import ibis

    c = p.engine.table("customers")
    top = p.engine.execute(c.filter(c.n_orders > 0).order_by([ibis.desc("n_touchpoints"), "customer_id"])
                           .select("customer_id").limit(PEOPLE))
    seg = {"f1": "n_orders", "op1": "ge", "v1": "2", "a1": "bought_online", "d1": "365"}
    if p.engine.has_table("segments"):
        s = p.engine.table("segments")
        names = p.engine.execute(s.select("name").order_by("name").limit(1))
        if len(names):
            seg["seg"] = str(names["name"].iloc[0])
    return {"/cliente": {"id": str(top["customer_id"].iloc[0])}, "/segmenti": seg,
            "people": [str(x) for x in top["customer_id"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=2, help="fewest runs for a page (a page of minutes gets this many)")
    ap.add_argument("--fast-runs", type=int, default=20,
                    help="most runs for a page (cheap pages get this many: a p95 that means something)")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds a page's runs may take (cold, warm, in-process), judged by its first run: "
                         "between --runs and --fast-runs runs")
    ap.add_argument("--pages", nargs="*", default=None, help="page addresses (default: every page with a view)")
    ap.add_argument("--no-first", action="store_true",
                    help="skip the first opening (for pages whose queries take minutes, where it is noise)")
    ap.add_argument("--in-place", action="store_true", help="measure the project itself, not a copy")
    args = ap.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]

    from fastapi.testclient import TestClient

    import percorso.server.routes.analyses as analyses
    from percorso.analysis import run
    from percorso.journeys.overview import OverviewQuery
    from percorso.project import open_project
    from percorso.server.app import create_app
    from percorso.server.tokens import create_token, revoke_token
    from percorso.web.pages import PAGES

    tmp = Path(tempfile.mkdtemp(prefix="percorso-bench-dashboard-"))
    try:
        root = tmp / "project"
        if args.in_place:
            root = args.project
        else:
            shutil.copytree(args.project, root, ignore=shutil.ignore_patterns(".percorso", "*.log", "backups"))
        with open_project(root) as p:
            token, made = create_token(p.engine, "bench-dashboard", "admin")
            token_id = made["token_id"]
            last = run(p.engine, OverviewQuery()).freshness["last_event_at_local"].iloc[0]
            subjects = _subjects(p)
            events = p.engine.count("events")
        last_day = last.date() if hasattr(last, "date") else date.fromisoformat(str(last)[:10])
        seen: list = []
        from percorso.server.audit import write as audit_write
        from percorso.server.state import ServerState

        original_db = ServerState.db

        async def recording(self, fn, *a):  # type: ignore[no-untyped-def]
            if fn is analyses._compute:
                seen.append(analyses.query_from_wire(a[1], a[2]))
            elif fn is not audit_write:
                seen.append((fn, a))
            return await original_db(self, fn, *a)

        ServerState.db = recording  # type: ignore[method-assign]
        pages = [p for p in PAGES if p.view() is not None and (args.pages is None or p.path in args.pages)]
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
        out: dict = {"project": str(args.project), "events": events, "runs": args.runs, "role": "admin",
                     "subjects": subjects, "pages": {}}
        app = create_app(root)
        app.state.freeze_heap = True  # as ``percorso serve`` does: start-up's objects out of the GC's walks
        app.add_middleware(_ServerTime)
        with TestClient(app) as client:
            state = client.app.state.percorso
            client.get("/", headers=headers)  # start-up work (imports, the layout's caches) is not a page's
            pauses = _Pauses()
            # what a request that does nothing costs through the test client at this load (context)
            noop = []
            for _ in range(20):
                t = time.perf_counter()
                client.get("/healthz")
                noop.append(time.perf_counter() - t)
            out["noop_request_ms"] = _ms(noop)
            for page in pages:
                cold, warm, warm_server, inproc, n_queries, n_reads = [], [], [], [], 0, 0
                cold_runs: list[dict] = []  # per cold request: wall, process CPU, GC pauses (why a run was slow)
                extra = subjects.get(page.path, {})
                # the first opening in this process, on a range no run asks (reported, not in the runs):
                # it also pays what any first touch pays (the database reading those tables into its
                # buffer) while the in-process baseline, run after it, would not
                first = None
                if not args.no_first:
                    t = time.perf_counter()
                    resp = client.get(page.path, params={**extra, "to": (last_day - timedelta(days=400)).isoformat()},
                                      headers=headers)
                    first = time.perf_counter() - t
                    assert resp.status_code == 200, (page.path, resp.status_code)
                runs = args.runs  # then the first run decides how many (--budget)
                i = -1
                while i + 1 < runs:
                    i += 1
                    run_start = time.perf_counter()
                    if page.path == "/cliente":  # a person not opened yet (the first opening had the first)
                        extra = {"id": subjects["people"][(i + 1) % len(subjects["people"])]}
                    params = {**extra, "to": (last_day - timedelta(days=i)).isoformat()}
                    if i % 2:  # odd runs: the baseline first (whichever runs second finds the data warmer)
                        inproc.append(_inprocess(state, run, calls))
                        params = {**extra, "to": (last_day - timedelta(days=i - 1)).isoformat(), "from": "2000-01-01"}
                    seen.clear()
                    pauses.reset()
                    cpu = time.process_time()
                    t = time.perf_counter()
                    resp = client.get(page.path, params=params, headers=headers)
                    cold.append(time.perf_counter() - t)
                    cold_runs.append({"ms": round(cold[-1] * 1000, 1), "server_ms": round(_ServerTime.last * 1000, 1),
                                      "cpu_ms": round((time.process_time() - cpu) * 1000, 1),
                                      "gc_ms": round(pauses.total * 1000, 1), "full_gc": pauses.full})
                    assert resp.status_code == 200, (page.path, resp.status_code)
                    calls = list(seen)
                    n_queries = sum(not isinstance(c, tuple) for c in calls)
                    n_reads = len(calls) - n_queries
                    t = time.perf_counter()
                    client.get(page.path, params=params, headers=headers)
                    warm.append(time.perf_counter() - t)
                    warm_server.append(_ServerTime.last)
                    if not i % 2:
                        inproc.append(_inprocess(state, run, calls))
                    if i == 0:  # as many runs as --budget allows, between --runs and --fast-runs
                        runs = max(args.runs, min(args.fast_runs, int(args.budget / (time.perf_counter() - run_start))))
                row = {"queries": n_queries, "other_reads": n_reads, "runs": runs, "first_ms": None if first is None else round(first * 1000, 1),
                       "cold_ms": _ms(cold), "warm_ms": _ms(warm), "inprocess_ms": _ms(inproc)}
                row["cold_server_ms"] = _ms([r["server_ms"] / 1000 for r in cold_runs])
                row["warm_server_ms"] = _ms(warm_server)
                row["cold_cpu_ms"] = _ms([r["cpu_ms"] / 1000 for r in cold_runs])
                row["inprocess_cpu_ms"] = _ms(INPROCESS_CPU[-len(inproc):])
                row["cpu_cold_over_inprocess"] = round(row["cold_cpu_ms"]["p50"] / max(row["inprocess_cpu_ms"]["p50"], 1e-3), 2)
                row["cold_gc_ms_max"] = max(r["gc_ms"] for r in cold_runs)
                row["slowest_cold"] = max(cold_runs, key=lambda r: r["ms"])
                row["cold_over_inprocess"] = round(row["cold_server_ms"]["p95"] / max(row["inprocess_ms"]["p95"], 1e-3), 2)
                row["cold_roundtrip_over_inprocess"] = round(row["cold_ms"]["p95"] / max(row["inprocess_ms"]["p95"], 1e-3), 2)
                row["warm_ok"] = row["warm_server_ms"]["p95"] <= 200
                row["cold_ok"] = row["cold_over_inprocess"] <= 1.5
                out["pages"][page.path] = row
                print(f"{page.path}: {row}", file=sys.stderr)
            out["stored_journeys"] = state.run_sync(_stored, state.engine)
        with open_project(root) as p:  # the measured project keeps no admin token of the bench's
            revoke_token(p.engine, token_id)
        out["load_before"] = load_before
        out["load_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # with --in-place only the empty temporary folder


if __name__ == "__main__":
    main()
