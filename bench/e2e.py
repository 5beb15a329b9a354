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
work competed for them), ``load_avg_start`` at the start.

``--rounds N`` (default 1): the whole comparison N times, percorso first in odd rounds and the
peers first in even ones, so a drift of the machine's speed within the run (seconds of it on a
shared 2-core box) falls on both sides; every figure is then the median over the rounds
(``total_s`` the median of the rounds' totals, ``ratio_to_fastest_peer`` the median of the
rounds' ratios) and ``rounds`` holds each round's own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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


def _percorso(cli: list[str], path: Path, env: dict[str, str]) -> dict[str, float]:
    """The five commands, each its own process, in a fresh project: seconds per step."""
    work = Path(tempfile.mkdtemp(prefix="percorso-e2e-"))
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
        return {name: _run([*cli, *args], proj, env) for name, args in steps.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _peers(python: str | None, path: Path) -> tuple[dict[str, float], list[str]]:
    """Each installed peer's whole-process seconds on the file, and a note for each one missing."""
    if not python:
        return {}, ["peers skipped: make their environment as bench/peers-requirements.txt says and pass "
                    "--peers-python"]
    peers: dict[str, float] = {}
    notes: list[str] = []
    for name, code, module in (("pm4py", PM4PY, "pm4py"), ("retentioneering", RETE, "retentioneering")):
        took, note = _peer(python, code, module, path)
        if took is not None:
            peers[name] = took
        if note:
            notes.append(note)
    return peers, notes


def _round(cli: list[str], path: Path, env: dict[str, str], python: str | None, peers_first: bool) -> dict:
    """One comparison: percorso's steps and the peers', in the order asked."""
    if peers_first:
        peers, notes = _peers(python, path)
        steps = _percorso(cli, path, env)
    else:
        steps = _percorso(cli, path, env)
        peers, notes = _peers(python, path)
    total = round(sum(steps.values()), 2)
    ratio = round(total / min(peers.values()), 2) if peers else None
    return {"steps_s": steps, "total_s": total, "peers_s": peers, "ratio_to_fastest_peer": ratio, "notes": notes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--file", type=Path, default=None, help="an existing clickstream Parquet file")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "percorso-bench-data")
    ap.add_argument("--peers-python", default=None, help="interpreter of the peers' environment")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the comparison, alternating who goes first")
    a = ap.parse_args()
    path = a.file or clickstream_file(a.events, a.data)
    env = installed_env(NO_COLOR="1")   # byte-compiled, as an install is (bench/installed_env.py)
    cli = [sys.executable, "-m", "percorso"]
    start = [round(x, 2) for x in os.getloadavg()]
    rounds = [_round(cli, path, env, a.peers_python, peers_first=i % 2 == 1) for i in range(max(1, a.rounds))]
    last = rounds[-1]
    out: dict = {"events": a.events if a.file is None else None, "file": str(path)}
    if len(rounds) == 1:
        out.update({k: last[k] for k in ("steps_s", "total_s", "peers_s", "ratio_to_fastest_peer")})
    else:
        out["steps_s"] = {k: _median([r["steps_s"][k] for r in rounds]) for k in last["steps_s"]}
        out["total_s"] = _median([r["total_s"] for r in rounds])
        out["peers_s"] = {k: _median([r["peers_s"][k] for r in rounds]) for k in last["peers_s"]}
        ratios = [r["ratio_to_fastest_peer"] for r in rounds]
        out["ratio_to_fastest_peer"] = _median(ratios) if None not in ratios else None
        out["rounds"] = [{k: r[k] for k in ("total_s", "peers_s", "ratio_to_fastest_peer")} for r in rounds]
    out["notes"] = last["notes"]
    out["load_avg_start"] = start
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


if __name__ == "__main__":
    main()
