"""From raw file to three answers, as a user meets percorso (issue 15): prints ONE JSON object.

    .venv/bin/python bench/e2e.py --events 1000000
    .venv/bin/python bench/e2e.py --events 10000000 --peers-python .venv-peers/bin/python

A clickstream Parquet file of N events (``customer_id, ts, event_type, channel, campaign,
revenue``; ``bench/clickstream_file.py``, or ``--file``) goes through the five commands a user
runs, each its own process in a fresh project: ``percorso ingest clickstream FILE``,
``percorso build``, ``paths transitions``, ``paths top`` and a three-step ``funnel``. Seconds per
step (whole process: interpreter start, imports, work) and ``total_s``.

Peers: when ``--peers-python`` points at an interpreter with pm4py and/or retentioneering
(``bench/peers-requirements.txt`` says how to make that environment; never percorso's own),
each runs as a whole process on the same file computing its equivalent (pm4py: directly-follows
graph and variants; retentioneering: event stream, transition graph, step matrix, funnel), and
``ratio_to_fastest_peer`` = percorso's total over the fastest peer's. Absent peers are skipped
with a note. ``load_avg`` is the machine's 1/5/15-minute load at the end (2 cores: above 2, other
work competed for them).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clickstream_file import clickstream_file  # noqa: E402
from installed_env import installed_env  # noqa: E402

FUNNEL = ("product_view", "cart", "purchase")

PM4PY = """
import sys, pandas as pd, pm4py
df = pd.read_parquet(sys.argv[1], columns=["customer_id", "ts", "event_type"])
log = pm4py.format_dataframe(df, case_id="customer_id", activity_key="event_type", timestamp_key="ts")
dfg, start, end = pm4py.discover_dfg(log)
variants = pm4py.get_variants(log)
print(len(dfg), len(variants))
"""

RETE = """
import sys, pandas as pd
from retentioneering import Eventstream
df = pd.read_parquet(sys.argv[1], columns=["customer_id", "ts", "event_type"])
df = df.rename(columns={"customer_id": "user_id", "ts": "timestamp", "event_type": "event"})
es = Eventstream(df)
graph_p = es.transition_graph_data(edge_weight="proba_out")
graph_n = es.transition_graph_data(edge_weight="unique_paths")
steps = es.step_matrix_data(max_steps=10)
fun = es.funnel_data(steps=%r)
print(graph_p.shape, graph_n.shape)
""" % (list(FUNNEL),)


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return round(took, 2)


def _peer(python: str, code: str, module: str, path: Path) -> tuple[float | None, str | None]:
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"{module} not installed in {python}"
    t0 = time.perf_counter()
    # retentioneering reports usage to a server unless told not to
    env = {**os.environ, "RETENTIONEERING_NO_TRACK": "1"}
    r = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, f"{module} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
    return round(time.perf_counter() - t0, 2), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--file", type=Path, default=None, help="an existing clickstream Parquet file")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "percorso-bench-data")
    ap.add_argument("--peers-python", default=None, help="interpreter of the peers' environment")
    a = ap.parse_args()
    path = a.file or clickstream_file(a.events, a.data)
    env = installed_env(NO_COLOR="1")   # byte-compiled, as an install is (bench/installed_env.py)
    cli = [sys.executable, "-m", "percorso"]
    work = Path(tempfile.mkdtemp(prefix="percorso-e2e-"))
    out: dict = {"events": a.events if a.file is None else None, "file": str(path), "steps_s": {}}
    try:
        proj = work / "p"
        subprocess.run([*cli, "init", str(proj)], env=env, capture_output=True, check=True)
        steps = {
            "ingest": ["ingest", "clickstream", str(path)],
            "build": ["build"],
            "paths_transitions": ["paths", "transitions", "--format", "json"],
            "paths_top": ["paths", "top", "--format", "json"],
            "funnel": ["funnel", *FUNNEL, "--format", "json"],
        }
        for name, args in steps.items():
            out["steps_s"][name] = _run([*cli, *args], proj, env)
        out["total_s"] = round(sum(out["steps_s"].values()), 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peers: dict = {}
    notes = []
    if a.peers_python:
        for name, code, module in (("pm4py", PM4PY, "pm4py"), ("retentioneering", RETE, "retentioneering")):
            took, note = _peer(a.peers_python, code, module, path)
            if took is not None:
                peers[name] = took
            if note:
                notes.append(note)
    else:
        notes.append("peers skipped: make their environment as bench/peers-requirements.txt says and pass "
                     "--peers-python")
    out["peers_s"] = peers
    out["ratio_to_fastest_peer"] = round(out["total_s"] / min(peers.values()), 2) if peers else None
    out["notes"] = notes
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
