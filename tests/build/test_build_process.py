"""``percorso build`` as a user runs it: a fresh process (issue 15, ADR 0032).

An incremental build runs engine SQL compiled once, so its process needs DuckDB and numpy (the
identity solver), not pydantic (the settings are checked without it, ADR 0065, and the command
line's plain values converted without it, ADR 0068), pyarrow, Ibis or pandas; nor phonenumbers and
stdnum (the blocklist's hashes are kept), nor the journeys' model (no journey): each of those
imported at a module's top again would add 0.02-0.5 s to every build (and nothing would fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from build_helpers import ingest, two_web_batches

import percorso
from percorso.build import run_build
from percorso.project import init_project, open_project

_RUN = """
import json, os, runpy, sys
import percorso.cli
percorso.cli._end_now = sys.exit   # the process would end at once (ADR 0068): report first
sys.argv = ["percorso", "build", "--project", sys.argv[1], "--format", "json"]
try:
    runpy.run_module("percorso", run_name="__main__")
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("pyarrow", "ibis", "pandas", "sqlglot", "scipy", "rich", "phonenumbers", "stdnum",
                           "pydantic", "percorso.activation.model") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""


def _built_with_two_new_events(tmp_path: Path) -> Path:
    init_project(tmp_path / "p", name="t")
    p = open_project(tmp_path / "p")
    try:
        first, second = two_web_batches(tmp_path)
        ingest(p, "web", first)
        assert run_build(p).mode == "full"   # it also compiles and keeps the incremental plan
        ingest(p, "web", second)
    finally:
        p.close()
    return tmp_path / "p"


def test_an_incremental_build_process_loads_no_arrow_ibis_or_pandas(tmp_path: Path):
    _built_with_two_new_events(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(Path(percorso.__file__).resolve().parents[1]), PERCORSO_PROGRESS="0")
    env.pop("OPENBLAS_NUM_THREADS", None)
    done = subprocess.run([sys.executable, "-c", _RUN, str(tmp_path / "p")], capture_output=True, text=True,
                          env=env, check=True, timeout=120)
    *report, last = done.stdout.strip().splitlines()
    # numpy gets integer arrays, never BLAS: OpenBLAS starts no thread pool (cli.build)
    assert json.loads(last) == {"code": 0, "heavy": [], "blas_threads": "1"}, done.stderr
    built = json.loads("\n".join(report))
    assert built["mode"] == "incremental" and built["new_events"] == 2



def test_opening_a_project_and_building_need_no_pydantic(tmp_path: Path):
    """The settings are dataclasses checked by hand (ADR 0065): a process that opens a project
    and builds (a notebook, a script) imports no pydantic."""
    root = _built_with_two_new_events(tmp_path)
    code = ("import sys\nfrom percorso import open_project\nfrom percorso.build import run_build\n"
            f"p = open_project({str(root)!r})\nmode = run_build(p).mode\np.close()\n"
            "print(mode, sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))\n")
    env = dict(os.environ, PYTHONPATH=str(Path(percorso.__file__).resolve().parents[1]), PERCORSO_PROGRESS="0")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "incremental []", done.stderr
