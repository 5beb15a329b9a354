"""A ``percorso`` command run as a user runs it, in a fresh process, that says which thread
imported some packages first (issue 15: what a command imports, and where)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_PROCESS = """
import json, os, runpy, sys, threading
watched, first = set(json.loads(sys.argv[1])), {}


class Who:   # which thread imports a watched package first
    def find_spec(self, name, path=None, target=None):
        if name in watched:
            first.setdefault(name, threading.current_thread().name)


sys.meta_path.insert(0, Who())
import percorso.cli
percorso.cli._end_now = sys.exit   # the process would end at once (ADR 0068): report first
sys.argv = ["percorso", *sys.argv[2:]]
try:
    runpy.run_module("percorso", run_name="__main__")
except SystemExit as exc:
    code = exc.code
dialects = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("ibis.backends.sql.compilers.")
                  and not m.rsplit(".", 1)[1].startswith("_") and m.rsplit(".", 1)[1] != "base")
print(json.dumps({"code": code, "first": first, "dialects": dialects,
                  "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""


def command_process(argv: list[str], watched: tuple[str, ...], env: dict[str, str]) -> tuple[dict, list[str], str]:
    """Run ``percorso *argv`` with this checkout's code: its report (exit code, the thread that
    first imported each of ``watched`` it imported, Ibis's dialect compilers loaded, OpenBLAS's
    thread setting), the lines it printed before the report, and its stderr."""
    src = Path(__file__).resolve().parents[1] / "src"
    done = subprocess.run([sys.executable, "-c", _PROCESS, json.dumps(watched), *argv], capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(src)}, timeout=120)
    *printed, last = done.stdout.strip().splitlines()
    return json.loads(last), printed, done.stderr
