"""Dashboard page times, cold and warm, against the same pages' queries run in-process (issue 18).

Usage: python bench/dashboard.py --project DIR [--runs 10] [--pages / mappa ...]

Works on a copy of the built project (the original is untouched). The app runs in this process
behind Starlette's test client (server time: routing, authentication, queries on the database
worker, figures, templates; no network). Per page and run:

- **cold**: the page with a date filter (``to`` = last event day minus the run number) that no
  earlier request used, so every one of its queries is computed;
- **warm**: the same address again (its queries and its view cached);
- **in-process**: the queries that cold request ran (recorded from
  ``server.routes.analyses.answer``), run here with ``percorso.analysis.run`` on the same
  engine, the baseline: after the request on even runs, before it on odd ones (with the
  previous run's queries and the page asked with the same range written ``from=2000-01-01``, so
  its queries are new to the cache yet equal in work): whichever runs second finds the data warmer.

Prints one JSON object: per page p50/p95 of each, ``cold_over_inprocess`` (p95 ratio), the load
average. Targets (issue 18): warm p95 ≤ 200 ms, cold p95 ≤ 1.5 × in-process p95.
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


def _inprocess(state, run, queries) -> float:  # type: ignore[no-untyped-def]
    """Seconds to run ``queries`` in this process on the server's engine (its database worker)."""
    t = time.perf_counter()
    for q in queries:
        state.run_sync(run, state.engine, q, state.project.settings)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--pages", nargs="*", default=None, help="page addresses (default: every page with a view)")
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    import percorso.server.routes.analyses as analyses
    from percorso.analysis import run
    from percorso.journeys.overview import OverviewQuery
    from percorso.project import open_project
    from percorso.server.app import create_app
    from percorso.server.tokens import create_token
    from percorso.web.pages import PAGES

    tmp = Path(tempfile.mkdtemp(prefix="percorso-bench-dashboard-"))
    try:
        root = tmp / "project"
        shutil.copytree(args.project, root, ignore=shutil.ignore_patterns(".percorso", "*.log", "backups"))
        with open_project(root) as p:
            token, _ = create_token(p.engine, "bench-dashboard", "analyst")
            last = run(p.engine, OverviewQuery()).freshness["last_event_at_local"].iloc[0]
        last_day = last.date() if hasattr(last, "date") else date.fromisoformat(str(last)[:10])
        seen: list = []
        original = analyses.answer

        async def recording(state, query, **kw):  # type: ignore[no-untyped-def]
            seen.append(query)
            return await original(state, query, **kw)

        analyses.answer = recording  # type: ignore[assignment]
        pages = [p for p in PAGES if p.view() is not None and (args.pages is None or p.path in args.pages)]
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
        out: dict = {"project": str(args.project), "runs": args.runs, "pages": {}}
        with TestClient(create_app(root)) as client:
            state = client.app.state.percorso
            client.get("/", headers=headers)  # start-up work (imports, the layout's caches) is not a page's
            for page in pages:
                cold, warm, inproc, n_queries = [], [], [], 0
                for i in range(args.runs):
                    params = {"to": (last_day - timedelta(days=i)).isoformat()}
                    if i % 2:  # odd runs: the baseline first (whichever runs second finds the data warmer)
                        inproc.append(_inprocess(state, run, queries))
                        params = {"to": (last_day - timedelta(days=i - 1)).isoformat(), "from": "2000-01-01"}
                    seen.clear()
                    t = time.perf_counter()
                    resp = client.get(page.path, params=params, headers=headers)
                    cold.append(time.perf_counter() - t)
                    assert resp.status_code == 200, (page.path, resp.status_code)
                    queries = list(seen)
                    n_queries = len(queries)
                    t = time.perf_counter()
                    client.get(page.path, params=params, headers=headers)
                    warm.append(time.perf_counter() - t)
                    if not i % 2:
                        inproc.append(_inprocess(state, run, queries))
                row = {"queries": n_queries, "cold_ms": _ms(cold), "warm_ms": _ms(warm), "inprocess_ms": _ms(inproc)}
                row["cold_over_inprocess"] = round(row["cold_ms"]["p95"] / max(row["inprocess_ms"]["p95"], 1e-3), 2)
                row["warm_ok"] = row["warm_ms"]["p95"] <= 200
                row["cold_ok"] = row["cold_over_inprocess"] <= 1.5
                out["pages"][page.path] = row
                print(f"{page.path}: {row}", file=sys.stderr)
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
