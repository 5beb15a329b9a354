"""Small ``events`` tables for identity tests (real DuckDB file, Arrow appends)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from percorso.events.schema import EVENT_COLUMNS
from percorso.project import Project, init_project, open_project

T0 = datetime(2025, 3, 1, 9, 0)


def new_project(tmp_path: Path, **identity: Any) -> Project:
    init_project(tmp_path / "proj", name="t")
    project = open_project(tmp_path / "proj")
    for k, v in identity.items():
        setattr(project.settings.identity, k, v)
    return project


def events_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows → Arrow ``events`` batch; missing columns are NULL, ids and times defaulted."""
    out = []
    for i, r in enumerate(rows):
        r = dict(r)
        r.setdefault("source_name", "crm")
        r.setdefault("source_kind", {"web": "web", "app": "app"}.get(r["source_name"], r["source_name"]))
        r.setdefault("source_key", f"k{i}-{sorted(r.items())}")
        r.setdefault("event_id", hashlib.sha256(f"{r['source_name']}|{r['source_key']}".encode()).hexdigest()[:32])
        r.setdefault("occurred_at", T0 + timedelta(minutes=i))
        r.setdefault("event_type", "identify")
        r.setdefault("source_file", f"{r['source_name']}.csv")
        r.setdefault("source_line", i + 1)
        out.append(r)
    return pa.table({c.name: pa.array([r.get(c.name) for r in out], c.arrow_type) for c in EVENT_COLUMNS})


def add_events(project: Project, rows: list[dict[str, Any]]) -> pa.Table:
    t = events_table(rows)
    project.engine.append_arrow("events", t)
    return t


def partition(project: Project) -> set[frozenset[tuple[str, str]]]:
    """identity_map as a set of customers, each a frozenset of (id_type, id_value)."""
    t = project.engine.query("SELECT id_type, id_value, customer_id FROM identity_map").to_pylist()
    groups: dict[str, set[tuple[str, str]]] = {}
    for r in t:
        groups.setdefault(r["customer_id"], set()).add((r["id_type"], r["id_value"]))
    return {frozenset(g) for g in groups.values()}


def customer_of(project: Project, id_type: str, id_value: str) -> str | None:
    t = project.engine.query("SELECT customer_id FROM identity_map WHERE id_type = ? AND id_value = ?",
                             [id_type, id_value]).to_pylist()
    return t[0]["customer_id"] if t else None
