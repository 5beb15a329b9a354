"""One machine, N events (issue 15): ingest, full build, transitions, funnel; prints ONE JSON object.

    .venv/bin/python bench/scale.py --events 10000000
    .venv/bin/python bench/scale.py --events 100000000 --memory-limit 10GB   # the issue's size

The clickstream Parquet file of ``bench/clickstream_file.py`` (N events, ~9.4 per person;
written in 10M-event parts above 10M, so generating 100M stays within a few GB) goes
through the commands a user runs, each its own process in a fresh project whose
``percorso.toml`` sets ``[engine] memory_limit`` (spilling to the project's temporary
folder past it): ``percorso ingest clickstream FILE``, ``percorso build``, ``paths
transitions`` and a three-step ``funnel``. Per step: wall seconds, CPU seconds (user +
system, the engine's threads included) and the process's peak resident memory
(``os.wait4``: that process alone, DuckDB's memory included), the peak size of the spill
folder while it ran, and for the build its own seconds per stage; then ``total_s``, the
peaks over the steps and whether
the issue's targets hold (30 minutes in all, 16 GB peak). ``load_avg`` at the start and end
(2 cores: above 2, other work competed for them); ``disk_mb`` is the database at the end.

``--progress`` lets every step draw its progress bars on this terminal (stderr); otherwise
each step's stderr is kept and its last lines printed only if it fails; a failed step stops the
run, and the JSON still comes out with the figures of every step up to it (``failed`` names it,
exit status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clickstream_file import clickstream_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FUNNEL = ("product_view", "cart", "purchase")
TARGET_S = 30 * 60
TARGET_RSS_MB = 16 * 1024


def _tree_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` now (0 when it does not exist)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:          # removed while walking: the engine drops its spill files
                pass
    return total


class StepFailed(Exception):
    """A step's command failed: its message and the figures it had when it stopped."""

    def __init__(self, message: str, row: dict) -> None:
        super().__init__(message)
        self.row = row


def _step(cmd: list[str], cwd: Path, env: dict[str, str], show: bool, spill: Path) -> dict:
    """Run one command as its own process; its wall and CPU seconds, peak RSS (DuckDB runs in
    that process: its buffers are in it) and the peak size of its spill folder ``spill``
    (sampled every half second). A JSON object on its stdout is kept as ``report``."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], _tree_bytes(spill))

    sampler = threading.Thread(target=sample, daemon=True)
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=None if show else err)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - t0
        done.set()
        sampler.join()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip()[-2000:]
            raise StepFailed(f"{' '.join(cmd[3:])} failed ({code}): {tail}", {
                "seconds": round(took, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                "peak_rss_mb": round(usage.ru_maxrss / 1024), "peak_spill_mb": round(peak[0] / 2**20)})
        out.seek(0)
        text = out.read().decode(errors="replace").strip()
    row = {"seconds": round(took, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
           "peak_rss_mb": round(usage.ru_maxrss / 1024),       # Linux: kilobytes
           "peak_spill_mb": round(peak[0] / 2**20)}
    if text.startswith("{"):
        try:
            report = json.loads(text)
        except ValueError:
            report = None
        if isinstance(report, dict) and "seconds" in report:      # the build's own timings
            row["stages_s"] = report["seconds"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--file", type=Path, default=None, help="an existing clickstream Parquet file")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "percorso-bench-data")
    ap.add_argument("--work", type=Path, default=None, help="folder for the project (default: a temporary one)")
    ap.add_argument("--memory-limit", default="10GB",
                    help="[engine] memory_limit of the project ('' keeps percorso's default: 60%% of the RAM)")
    ap.add_argument("--max-temp-size", default="",
                    help="[engine] max_temp_size of the project ('' keeps percorso's default: half the free disk)")
    ap.add_argument("--keep", action="store_true", help="keep the project afterwards")
    ap.add_argument("--progress", action="store_true", help="show each step's progress bars on stderr")
    a = ap.parse_args()
    out: dict = {"events": a.events if a.file is None else None, "memory_limit": a.memory_limit,
                 "max_temp_size": a.max_temp_size or None,
                 "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    t0 = time.perf_counter()
    path = a.file or clickstream_file(a.events, a.data)
    out["file"], out["file_s"] = str(path), round(time.perf_counter() - t0, 2)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1",
           "PERCORSO_PROGRESS": "1" if a.progress else "0"}
    cli = [sys.executable, "-m", "percorso"]
    if a.work is not None:
        a.work.mkdir(parents=True, exist_ok=True)      # a folder named on the command line may not exist yet
    work = Path(tempfile.mkdtemp(prefix="percorso-scale-", dir=a.work))
    proj = work / "p"
    try:
        subprocess.run([*cli, "init", str(proj)], env=env, capture_output=True, check=True)
        toml = proj / "percorso.toml"
        text = toml.read_text(encoding="utf-8")
        assert "\n[engine]\n" in text, "percorso init writes an [engine] section"
        engine = "".join(f'{key} = "{value}"\n' for key, value in
                         (("memory_limit", a.memory_limit), ("max_temp_size", a.max_temp_size)) if value)
        toml.write_text(text.replace("\n[engine]\n", f"\n[engine]\n{engine}", 1), encoding="utf-8")
        steps = {
            "ingest": ["ingest", "clickstream", str(path)],
            "build": ["build", "--format", "json"],
            "paths_transitions": ["paths", "transitions", "--format", "json"],
            "funnel": ["funnel", *FUNNEL, "--format", "json"],
        }
        spill = proj / "percorso.duckdb.tmp"          # the default [engine] temp_directory
        out["disk_free_gb_start"] = round(shutil.disk_usage(work).free / 2**30, 1)
        out["steps"] = {}
        for name, args in steps.items():
            try:
                out["steps"][name] = _step([*cli, *args], proj, env, a.progress, spill)
            except StepFailed as failed:
                # the steps that ran keep their figures: a 100M run that fails in its third step
                # took ten minutes to say how the first two went
                out["steps"][name] = {**failed.row, "failed": str(failed)}
                out["failed"] = name
                print(str(failed), file=sys.stderr)
                break
        out["disk_free_gb_end"] = round(shutil.disk_usage(work).free / 2**30, 1)
        out["disk_mb"] = round(sum(f.stat().st_size for f in proj.rglob("*") if f.is_file()) / 2**20)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            out["project"] = str(proj)
    out["total_s"] = round(sum(s["seconds"] for s in out["steps"].values()), 2)
    out["peak_rss_mb"] = max(s["peak_rss_mb"] for s in out["steps"].values())
    out["peak_spill_mb"] = max(s["peak_spill_mb"] for s in out["steps"].values())
    out["targets"] = {"total_s": TARGET_S, "peak_rss_mb": TARGET_RSS_MB}
    out["within_targets"] = "failed" not in out and out["total_s"] <= TARGET_S and out["peak_rss_mb"] <= TARGET_RSS_MB
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))
    if "failed" in out:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
