"""The collector's micro-batch without HTTP: ingest + incremental build of the bench's events, per step.

Usage: python bench/microbatch.py --project DIR [--batches 4] [--events 50000] [--users 20000]
                                  [--sql 25] [--seed 1]

Why: ``bench/collector.py`` measures freshness end to end (HTTP, spool, consumer, API) and
needs the shared timing lock for a minute; what is left of its freshness is the consumer's
cycle (ingest + build) at steady state, which this script reproduces alone, in one process:
``--batches`` micro-batches of ``--events`` calls shaped as ``bench/collector.py``'s load
(``--users`` anonymous users, 60 % pages, 30 % product views, 10 % orders with a user id),
each checked and stamped by the intake (:func:`percorso.collector.intake.process`), spooled,
then consumed by :class:`percorso.collector.consumer.Consumer` exactly as the server does.
``--sql N`` times every SQL statement on the engine's connection and prints the N costliest
(wall and process CPU seconds), summed over the batches after the first (the first pays the
imports and the compiled plan). **Works in place on ``--project``: pass a copy.**
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector import batch_body  # noqa: E402  (the load generator's own calls)


class Timed:
    """A DuckDB connection whose ``execute`` is timed per statement (wall, process CPU)."""

    def __init__(self, con: object, book: dict) -> None:
        self._con, self._book = con, book

    def execute(self, sql: str, *args: object, **kw: object) -> object:
        t, c = time.perf_counter(), time.process_time()
        try:
            return self._con.execute(sql, *args, **kw)
        finally:
            key = re.sub(r"\s+", " ", sql).strip()[:140]
            b = self._book[key]
            b[0] += time.perf_counter() - t
            b[1] += time.process_time() - c
            b[2] += 1

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)


def spool_batch(spool: object, settings: object, n_events: int, rng: random.Random, seq: int, users: int) -> None:
    """``n_events`` calls (batches of 100) checked, stamped and synced to ``spool``, then sealed."""
    import collector as C
    from percorso.collector import intake as I
    from percorso.collector.service import event_names, intake_for

    names = event_names(settings, "web")
    futs = []
    for b in range(n_events // C.BATCH):
        body = _body(seq, b, rng, users)
        out = I.process(body, "batch", intake_for(settings, names, "127.0.0.1", "bench", historical=False), "bench")
        futs.append(spool.submit("web", b"".join(out.events), b"".join(out.rejects), out.accepted))
    for f in futs:
        f.result()
    spool.seal()


def _body(seq: int, b: int, rng: random.Random, users: int) -> bytes:
    """The bench's batch (``collector.batch_body``) over ``users`` users."""
    body = json.loads(batch_body(seq, b, rng))
    if users != 20000:
        for call in body["batch"]:
            u = f"load-u{rng.randrange(users)}"
            call["anonymousId"] = f"anon-{u}"
            if "userId" in call:
                call["userId"] = u
    return json.dumps(body).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--sql", type=int, default=0, help="print the N costliest SQL statements")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-build", action="store_true", help="ingest only (the spool into events), no build")
    ap.add_argument("--profile", type=int, default=0, help="print the N costliest Python functions (cProfile, cumulative) of the cycles after the first")
    ap.add_argument("--checkpoint-margin", type=float, default=None,
                    help="checkpoint between micro-batches when the next one, writing this many times the last "
                         "one's log, would pass 256 MB (0: only DuckDB's own checkpoint, inside a commit)")
    ap.add_argument("--threads", type=int, default=0, help="engine threads during a micro-batch (0: the engine's; the server's default is 1)")
    args = ap.parse_args()

    from percorso.collector import consumer as consumer_module
    from percorso.collector.consumer import Consumer
    from percorso.collector.service import spool_folder, writer_spool
    from percorso.project import open_project

    if args.checkpoint_margin is not None:
        consumer_module.BUSY_CHECKPOINT_MARGIN = args.checkpoint_margin
    up0 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rng = random.Random(args.seed)
    run = time.time_ns() // 1_000_000 % 10**9  # message ids unique across runs on one project
    import percorso.build.runner as runner

    last: dict = {}
    real_run_build = runner.run_build

    def run_build(*a: object, **kw: object) -> object:  # keeps identity's phases for the output
        rep = real_run_build(*a, **kw)
        last["identity"] = rep.identity.get("phases", {})
        return rep

    runner.run_build = run_build
    book: dict = defaultdict(lambda: [0.0, 0.0, 0])
    cycles = []
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
    with open_project(args.project) as project:
        engine = project.engine
        engine.ibis  # noqa: B018 - Ibis keeps the real connection; the timed one is the build's
        if args.sql:
            engine._con = Timed(engine.con, book)
        spool = writer_spool(project.root, project.settings, "h")
        wal = Path(f"{engine.path}.wal")
        consumer = Consumer(spool_folder(project.root), own=None, lock=threading.Lock(), project=lambda: project,
                            changed=lambda: None, batch_seconds=1.0, build=True,
                            **({"threads": args.threads} if args.threads else {}))
        try:
            for i in range(args.batches):
                spool_batch(spool, project.settings, args.events, rng, run * 1000 + i, args.users)
                if i == 1:
                    book.clear()  # the first batch pays imports and the plan
                if prof is not None and i >= 1:
                    prof.enable()
                rep = consumer.cycle(build=not args.no_build, seal=False)
                if prof is not None:
                    prof.disable()
                b = rep.build
                cycles.append({"events": rep.events_read, "accepted": rep.accepted, "seconds": rep.seconds,
                               "cpu": rep.cpu, "customers_rebuilt": b.get("customers_rebuilt"),
                               "customers_from_tail": b.get("customers_from_tail"),
                               "customers_from_state": b.get("customers_from_state"),
                               "steps": {k: v for k, v in b.get("steps", {}).items() if v},
                               "identity_phases": {k: v for k, v in last.get("identity", {}).items() if v >= 0.01},
                               "wal_mb": round(wal.stat().st_size / 2**20, 1) if wal.exists() else 0.0})
                print(json.dumps(cycles[-1]), file=sys.stderr, flush=True)
        finally:
            spool.close()
    if prof is not None:
        import io
        import pstats

        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(args.profile)
        print(buf.getvalue(), file=sys.stderr)
    top = sorted(book.items(), key=lambda kv: -kv[1][0])[: args.sql]
    print(json.dumps({"bench": "microbatch", "events_per_batch": args.events, "users": args.users,
                      "cycles": cycles,
                      "sql_after_first": [{"sql": k, "wall_s": round(v[0], 3), "cpu_s": round(v[1], 3), "n": v[2]}
                                          for k, v in top],
                      "uptime_before": up0,
                      "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}))


if __name__ == "__main__":
    main()
