"""The demo generator's files and the sources they are imported as.

Why: ``percorso demo``, the tests and the benchmarks import the same folder the same way;
one mapping keeps them in agreement with ``docs/architecture.md`` (demo source files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from percorso.errors import NotFound
from percorso.ingest.pipeline import IngestReport, ingest_files

#: File name → source name in the default ``percorso.toml``, in import order (identifying
#: sources first so the log reads like a story; the order does not change any result).
DEMO_SOURCES: dict[str, str] = {
    "crm_contacts.csv": "crm",
    "loyalty_cards.xlsx": "loyalty",
    "ecommerce_orders.csv": "ecommerce",
    "pos_receipts.csv": "pos",
    "web_events.jsonl": "web",
    "app_events.jsonl": "app",
    "email_events.csv": "email",
    "ad_clicks.parquet": "ads",
    "call_center.csv": "call_center",
    "offline_touchpoints.csv": "events",
    "campaign_costs.csv": "costs",
}


def ingest_demo_folder(
    project: Any, sources_dir: str | Path, progress: Callable[[str], None] | None = None
) -> list[IngestReport]:
    """Import every demo file found in ``sources_dir``; one report per file.

    A missing file is an error (the folder is not a demo folder), not a silent skip.
    """
    folder = Path(sources_dir)
    missing = [name for name in DEMO_SOURCES if not (folder / name).exists()]
    if missing:
        raise NotFound(f"{folder}: demo files missing: {', '.join(missing)} (run `percorso generate` first)")
    reports: list[IngestReport] = []
    for i, (name, source) in enumerate(DEMO_SOURCES.items(), start=1):
        if progress:
            progress(f"import {i}/{len(DEMO_SOURCES)}: {name} → {source}")
        reports.extend(ingest_files(project, source, [folder / name]))
    return reports
