"""The demo: generate a realistic retailer, import every file, build, and check against the truth.

Why: a new user must see, with one command, what percorso does with their kind of data, and
the team must see, on every run, that nothing was lost (every malformed generated row is in
quarantine with a reason) and that identity stitching is right (pairwise precision and recall
against the generator's ground truth). The demo is therefore also an end-to-end check.

Re-running on the same folder is idempotent: the files are regenerated only when the
parameters change (they are deterministic for a seed), re-importing adds nothing, and the
build is incremental.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from percorso.errors import InputError

PARAMS_FILE = "demo.json"
Progress = Callable[[str], None]


@dataclass
class DemoReport:
    """What the demo did and found; everything the summary prints, as data."""

    folder: str
    customers_simulated: int
    seed: int
    generated: bool
    seconds: dict[str, float] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    build: dict[str, Any] = field(default_factory=dict)
    customers: dict[str, Any] = field(default_factory=dict)
    channels: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    example_customer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prepare_folder(folder: Path, customers: int, seed: int, fresh: bool) -> bool:
    """Decide whether the source files must be (re)generated; wipe the folder on ``fresh``."""
    params = {"customers": customers, "seed": seed}
    marker = folder / PARAMS_FILE
    if fresh and folder.exists():
        if folder.is_dir() and (marker.exists() or not any(folder.iterdir())):
            shutil.rmtree(folder)
        else:
            raise InputError(f"{folder} is not a percorso demo folder; refusing to delete it with --fresh")
    if marker.exists():
        old = json.loads(marker.read_text(encoding="utf-8"))
        if old == params and (folder / "sources").is_dir():
            return False
        if (folder / "percorso.duckdb").exists() or any(folder.glob("*.duckdb")):
            raise InputError(
                f"{folder} holds a demo built with customers={old.get('customers')} seed={old.get('seed')}; "
                f"add --fresh to rebuild it with customers={customers} seed={seed}, or choose another --dir"
            )
    elif folder.exists() and any(p.name != ".gitkeep" for p in folder.iterdir()):
        raise InputError(f"{folder} exists and is not a percorso demo folder; choose another --dir")
    return True


def run_demo(
    folder: str | Path = "demo",
    *,
    customers: int = 20_000,
    seed: int = 42,
    fresh: bool = False,
    progress: Progress | None = None,
) -> DemoReport:
    """Generate, import, build and evaluate the demo in ``folder`` (a percorso project)."""
    from percorso.build import run_build
    from percorso.generate import generate
    from percorso.ingest.demo_files import ingest_demo_folder
    from percorso.project import CONFIG_FILE, init_project, open_project

    say = progress or (lambda _msg: None)
    if customers < 10:
        raise InputError(f"--customers {customers}: the demo needs at least 10 customers")
    folder = Path(folder)
    must_generate = _prepare_folder(folder, customers, seed, fresh)
    report = DemoReport(folder=str(folder), customers_simulated=customers, seed=seed, generated=must_generate)
    clock = time.perf_counter()
    if must_generate:
        say("generazione dati demo / generating demo data")
        generate(folder, customers, seed, progress=lambda s: say(f"generazione: {s}"))
        (folder / PARAMS_FILE).write_text(json.dumps({"customers": customers, "seed": seed}), encoding="utf-8")
    report.seconds["generate"] = time.perf_counter() - clock
    if not (folder / CONFIG_FILE).exists():
        init_project(folder, name="demo")
    with open_project(folder) as project:
        clock = time.perf_counter()
        ingested = ingest_demo_folder(project, folder / "sources", progress=say)
        report.seconds["ingest"] = time.perf_counter() - clock
        report.sources = [_ingest_row(r) for r in ingested]
        clock = time.perf_counter()
        build = run_build(project, progress=say)
        report.seconds["build"] = time.perf_counter() - clock
        report.build = build.to_dict()
        say("verifica / checking against the ground truth")
        from percorso.demo.summary import fill_summary

        fill_summary(project.engine, folder / "ground_truth", report)
    return report


def _ingest_row(r: Any) -> dict[str, Any]:
    return {
        "source": r.source_name, "file": Path(r.source_file).name, "rows_read": r.rows_read,
        "accepted": r.accepted, "quarantined": r.quarantined, "duplicates": r.duplicates,
        "seconds": round(r.seconds, 2),
    }
