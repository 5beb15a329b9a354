"""The Parquet lake: the project's tables as hive-partitioned Parquet for Spark (issue 21).

Why a lake: a cluster does not read a DuckDB file; it reads Parquet datasets that many
workers can split. ``percorso lake export`` writes ``events``, ``touchpoints``, ``orders``,
``customers``, ``identity_map`` and ``campaign_costs`` under ``DIR/<table>/`` (and what the build
on Spark reads besides the events: the profile rows, the merges, the consent records:
:mod:`percorso.build.lake_build`); events and
touchpoints by ``source_name=…/month=YYYY-MM`` (the UTC month of ``occurred_at``), so a
cluster reads only the sources and months a question needs and a re-export rewrites only
what changed.

Safety: every changed partition is written into ``DIR/_staging`` first and moved into place
with ``os.replace`` (an atomic rename on one filesystem), file by file: a reader sees the old
file or the new one, never half of one. Partitions whose rows did not change (same count and
the same order-independent hash of every row) are not touched; partitions that no longer
exist are removed. ``DIR/_percorso_lake.json`` (the manifest, itself replaced atomically, last)
records each table's columns and each partition's fingerprint; names starting with ``_`` are
ignored by Spark and Hive readers.

Privacy: ``customers`` is exported without the names; e-mail and phone are in it only as keyed
hashes (as in ``identity_map``): the contacts themselves live only sealed in the PII vault,
where consent and erasure apply (DESIGN.md §5). An erasure brings every lake of the
project up to date before it returns (:func:`project_lakes`: the configured one and every
folder ``percorso lake export --out`` wrote), so the erased person leaves the lake with the
database, partition by partition through the same staging and renames; the identifiers an
erasure keeps flagged as shared (``identity_pins``, ADR 0028) are exported by type and value,
so the identity rules on Spark keep them flagged too (ADR 0044).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa

from percorso.engine import lake_sql
from percorso.errors import NotFound

if TYPE_CHECKING:
    from percorso.engine import Engine

MANIFEST = "_percorso_lake.json"
STAGING = "_staging"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LakeTable:
    """One exported table: its partition keys and the columns it leaves out."""

    name: str
    partition_by: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def by_month(self) -> bool:
        return lake_sql.MONTH in self.partition_by


#: What the lake holds, in export order.
TABLES = (
    LakeTable("events", ("source_name", lake_sql.MONTH)),
    LakeTable("touchpoints", ("source_name", lake_sql.MONTH)),
    LakeTable("orders"),
    LakeTable("customers", exclude=("first_name", "last_name", "birth_date")),
    LakeTable("identity_map"),
    LakeTable("campaign_costs"),
    # what the build on Spark reads besides the events (percorso.build.lake_build): the profile
    # rows (without names), the earlier merges, the consent records (analytics consent decides
    # which cookies are stitched) and the erasure pins (identifiers kept flagged, by type and value)
    LakeTable("contact_profiles", exclude=("first_name", "last_name", "birth_date")),
    LakeTable("identity_merges"),
    LakeTable("consent_history"),
    LakeTable("identity_pins"),
)


def _present(engine: Engine, table: LakeTable) -> bool:
    """Whether the database holds what ``table`` is exported from."""
    if table.name in lake_sql.DERIVED:
        return all(engine.has_table(t) for t in lake_sql.DERIVED[table.name][1])
    return engine.has_table(table.name)


@dataclass
class LakeReport:
    """What one export did, per table: partitions written, kept, removed and rows written."""

    out: Path
    written: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)

    def frame(self) -> Any:
        import pandas as pd

        names = list(self.written)
        return pd.DataFrame({
            "table": names,
            "partitions_written": [self.written[n] for n in names],
            "partitions_kept": [self.kept[n] for n in names],
            "partitions_removed": [self.removed[n] for n in names],
            "rows_written": [self.rows_written[n] for n in names],
        })


def escape_value(value: Any) -> str:
    """A partition value as a hive folder name: ASCII other than letters, digits, ``_.-`` as
    ``%XX`` (what Spark and Hive unescape); NULL as Hive's default partition."""
    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    return "".join(c if c.isalnum() or c in "_.-" or ord(c) > 127 else f"%{ord(c):02X}" for c in str(value))


def partition_dir(table: LakeTable, values: dict[str, Any]) -> str:
    """Relative folder of one partition, e.g. ``source_name=web/month=2024-03`` ('' unpartitioned)."""
    return "/".join(f"{k}={escape_value(values[k])}" for k in table.partition_by)


def read_manifest(out: Path) -> dict[str, Any]:
    """The lake's manifest (an empty one for a new folder)."""
    path = Path(out) / MANIFEST
    if not path.exists():
        return {"format": FORMAT_VERSION, "tables": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def export_lake(engine: Engine, out: str | Path) -> LakeReport:
    """Write (or bring up to date) the Parquet lake of this project in ``out``.

    Idempotent: a second run with no change in the database writes nothing.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    if manifest.get("format") != FORMAT_VERSION:
        manifest = {"format": FORMAT_VERSION, "tables": {}}
    staging = out / STAGING / uuid.uuid4().hex[:12]
    report = LakeReport(out=out)
    try:
        present = [t for t in TABLES if _present(engine, t)]
        if not any(t.name == "events" for t in present):
            raise NotFound("no events in this project yet: `percorso ingest SOURCE FILE…` first")
        for table in present:
            manifest["tables"][table.name] = _export_table(engine, table, out, staging / table.name,
                                                           manifest["tables"].get(table.name), report)
        for name in [n for n in manifest["tables"] if not any(t.name == n for t in present)]:
            shutil.rmtree(out / name, ignore_errors=True)
            del manifest["tables"][name]
        manifest["database"] = _database_of(engine)
        write_manifest(out, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if (out / STAGING).exists() and not any((out / STAGING).iterdir()):
            (out / STAGING).rmdir()
    return report


#: Where a project remembers the lakes it exported to (``percorso lake export --out``): an
#: erasure brings each of them up to date, so an erased person leaves every copy percorso made.
LAKES_FILE = ".percorso/lakes.json"


def remember_lake(root: str | Path, out: str | Path) -> None:
    """Add ``out`` to the project's list of lakes (idempotent; replaced atomically)."""
    path = Path(root) / LAKES_FILE
    known = _remembered(path)
    target = str(Path(out).resolve())
    if target in known:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(sorted({*known, target}), indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _remembered(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(x) for x in data] if isinstance(data, list) else []


def _database_of(engine: Any) -> str | None:
    """The database file a lake is exported from (its manifest records it)."""
    path = getattr(engine, "path", None)
    return None if path in (None, ":memory:") else str(Path(path).resolve())


def project_lakes(root: str | Path, configured: str | Path, database: str | Path) -> list[Path]:
    """The lakes of a project that exist: its ``[engine] lake`` and every folder it exported to,
    each only if its manifest names ``database`` as its source (a copied project folder keeps
    the list, and must not rewrite the original's lakes from the copy)."""
    seen: dict[str, Path] = {}
    db = str(Path(database).resolve())
    for cand in [Path(configured), *map(Path, _remembered(Path(root) / LAKES_FILE))]:
        if (cand / MANIFEST).exists() and read_manifest(cand).get("database") == db:
            seen.setdefault(str(cand.resolve()), cand)
    return list(seen.values())


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Replace the lake's manifest atomically (written next to it, then renamed)."""
    tmp = Path(out) / f"{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, Path(out) / MANIFEST)


def table_spec(name: str) -> LakeTable:
    """The lake's description of table ``name``."""
    return next(t for t in TABLES if t.name == name)


def install_staged(out: str | Path, name: str, staged: Path, columns: list[tuple[str, str]], tag: str) -> int:
    """Move a table written by another engine (the Spark build) from ``staged`` into the lake.

    ``staged`` holds Parquet files, in hive folders when the table is partitioned (the
    engine's own escaping; values are read back and the folders renamed the lake's way, so a
    later ``lake export`` finds them). Each partition is moved file by file with atomic
    renames, as an export does; partitions the new table lacks are removed; the manifest
    (written last) records the columns and, per partition, the rows and ``tag`` as the
    fingerprint (not the database's hash: a later export compares, sees a difference and
    rewrites from the database). Returns the rows installed.
    """
    import pyarrow.parquet as pq

    out = Path(out)
    table = table_spec(name)
    target = out / name
    manifest = read_manifest(out)
    before = manifest["tables"].get(name, {})
    same_layout = before.get("partition_by") == list(table.partition_by)
    if not same_layout:
        shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    parts: dict[str, Any] = {}
    leaves = _staged_partitions(staged, table) if table.partition_by else [{"dir": staged, "values": {}}]
    for leaf in leaves:
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in Path(leaf["dir"]).glob("*.parquet"))
        if rows == 0 and table.partition_by:
            continue
        rel = partition_dir(table, leaf["values"])
        _swap(leaf["dir"], target / rel if rel else target)
        parts[rel] = {"fingerprint": f"{tag}:{rows}", "rows": rows}
    for rel in [r for r in before.get("partitions", {}) if same_layout and r not in parts and r]:
        shutil.rmtree(target / rel, ignore_errors=True)
        _prune_empty(target / rel, target)
    manifest["tables"][name] = {"columns": [list(c) for c in columns], "partition_by": list(table.partition_by),
                                "partitions": parts}
    write_manifest(out, manifest)
    return sum(p["rows"] for p in parts.values())


def drop_tables(out: str | Path, names: tuple[str, ...]) -> None:
    """Remove tables from the lake (folders and manifest entries)."""
    out = Path(out)
    manifest = read_manifest(out)
    for name in names:
        shutil.rmtree(out / name, ignore_errors=True)
        manifest["tables"].pop(name, None)
    write_manifest(out, manifest)


def _rows_sql(engine: Engine, table: LakeTable) -> str | None:
    """The SQL of the rows a lake table holds when they are not the database table's own:
    ``touchpoints`` with the details of its events (page, region, properties, source name: not
    stored in the database's table, ADR 0061), so the lake keeps every column and its
    partitions by ``source_name`` for a cluster to read; None for the other tables."""
    if table.name != "touchpoints":
        return None
    from percorso.build.details import with_details

    t = engine.table("touchpoints")
    wide = with_details(engine, t)
    return None if wide.columns == t.columns else engine.compile(wide)


def _export_table(engine: Engine, table: LakeTable, out: Path, staging: Path, before: dict[str, Any] | None,
                  report: LakeReport) -> dict[str, Any]:
    """Export one table; returns its manifest entry."""
    rows_sql = _rows_sql(engine, table)
    columns = lake_sql.table_schema(engine, table.name, table.exclude, rows_sql)
    same_schema = before is not None and before.get("columns") == [list(c) for c in columns] \
        and before.get("partition_by") == list(table.partition_by)
    old_parts: dict[str, Any] = before["partitions"] if same_schema and before else {}
    prints = lake_sql.partition_fingerprints(engine, table.name, table.partition_by,
                                             exclude=table.exclude, month=table.by_month, rows=rows_sql).to_pylist()
    new_parts: dict[str, Any] = {}
    changed: list[dict[str, Any]] = []
    for row in prints:
        if row["n_rows"] == 0:
            continue   # an unpartitioned empty table: its schema file is written below
        values = {k: row[k] for k in table.partition_by}
        rel = partition_dir(table, values)
        fp = f"{row['n_rows']}:{row['row_hash']}"
        new_parts[rel] = {"fingerprint": fp, "rows": row["n_rows"]}
        if old_parts.get(rel, {}).get("fingerprint") != fp or not (out / table.name / rel).exists():
            changed.append(values)
    target = out / table.name
    if not same_schema:
        shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    rows = 0
    if not new_parts:   # no rows: one empty file keeps the columns readable
        if old_parts or not (target / "part-0.parquet").exists():
            changed.append({})
            lake_sql.copy_partitions(engine, table.name, staging, (), None, exclude=table.exclude, rows=rows_sql)
            _swap(staging, target)
    elif not table.partition_by:
        if changed:
            lake_sql.copy_partitions(engine, table.name, staging, (), None, exclude=table.exclude, rows=rows_sql)
            _swap(staging, target)
            rows = new_parts[""]["rows"]
    elif changed:
        wanted = pa.Table.from_pylist(changed, schema=pa.schema([(k, pa.string()) for k in table.partition_by]))
        lake_sql.copy_partitions(engine, table.name, staging, table.partition_by, wanted,
                                 exclude=table.exclude, month=table.by_month, rows=rows_sql)
        for part in _staged_partitions(staging, table):
            rel = partition_dir(table, part["values"])
            _swap(part["dir"], target / rel)
            rows += new_parts[rel]["rows"]
    if new_parts and table.partition_by:
        (target / "part-0.parquet").unlink(missing_ok=True)   # the empty table's file, if any
    removed = [rel for rel in old_parts if rel not in new_parts]
    for rel in removed:
        shutil.rmtree(target / rel, ignore_errors=True)
        _prune_empty(target / rel, target)
    report.written[table.name] = len(changed)
    report.kept[table.name] = max(0, len(new_parts) - len(changed))   # an empty table: nothing kept
    report.removed[table.name] = len(removed)
    report.rows_written[table.name] = rows
    return {"columns": [list(c) for c in columns], "partition_by": list(table.partition_by), "partitions": new_parts}


def _staged_partitions(staging: Path, table: LakeTable) -> list[dict[str, Any]]:
    """The leaf folders the engine wrote under ``staging``, with their unescaped key values."""
    found = []
    for leaf in sorted(p for p in staging.glob("/".join(["*"] * len(table.partition_by))) if p.is_dir()):
        parts = leaf.relative_to(staging).parts
        values = {}
        for key, part in zip(table.partition_by, parts, strict=True):
            name, _, raw = part.partition("=")
            assert name == key, f"unexpected staging folder {leaf}"
            values[key] = None if raw in ("NULL", "__HIVE_DEFAULT_PARTITION__") else unquote(raw)
        found.append({"dir": leaf, "values": values})
    return found


def _swap(src_dir: Path, dest_dir: Path) -> None:
    """Move the Parquet files of ``src_dir`` into ``dest_dir`` as ``part-<i>.parquet``, each
    by an atomic rename, then remove the destination's older files beyond the new ones."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(src_dir.glob("*.parquet"))
    names = set()
    for i, f in enumerate(files):
        name = f"part-{i}.parquet"
        os.replace(f, dest_dir / name)
        names.add(name)
    for old in dest_dir.glob("part-*.parquet"):
        if old.name not in names:
            old.unlink()


def _prune_empty(path: Path, stop: Path) -> None:
    """Remove empty parent folders of a removed partition, up to the table folder."""
    for parent in path.parents:
        if parent == stop or not parent.exists():
            break
        if any(parent.iterdir()):
            break
        parent.rmdir()


__all__ = ["LAKES_FILE", "MANIFEST", "TABLES", "LakeReport", "LakeTable", "drop_tables", "escape_value", "export_lake", "install_staged",
           "project_lakes", "read_manifest", "remember_lake", "table_spec", "write_manifest"]
