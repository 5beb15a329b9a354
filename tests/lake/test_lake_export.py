"""The Parquet lake (issue 21): complete, hive-partitioned, incremental, written through staging.

Oracles: the database's own tables (every row comes back from the Parquet files, read with
pyarrow, not with the code under test) and hand-made changes whose partitions are known.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pytest

from percorso.engine.backend import enum_type
from percorso.lake import MANIFEST, escape_value, export_lake
from percorso.project import open_project


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from percorso.demo import run_demo

    folder = tmp_path_factory.mktemp("lake") / "demo"
    run_demo(folder, customers=120, seed=11)
    return folder


@pytest.fixture
def project(demo: Path, tmp_path: Path) -> Any:
    """A private copy of the demo (tests change its rows)."""
    copy = tmp_path / "p"
    shutil.copytree(demo, copy)
    with open_project(copy) as p:
        yield p


def lake_rows(out: Path, table: str) -> Any:
    """The lake's table read by pyarrow with hive partitions as strings, sorted by all columns."""
    dataset = ds.dataset(out / table, format="parquet", partitioning="hive",
                         ignore_prefixes=["_", "."])
    frame = dataset.to_table().to_pandas()
    return frame.drop(columns=[c for c in ("month",) if c in frame.columns])


def db_rows(project: Any, table: str, drop: tuple[str, ...] = ()) -> Any:
    """The database's rows of ``table``; of ``touchpoints``, each with its event's details (the
    lake keeps every column a touchpoint shows: the database reads those from ``events``, ADR 0061), and
    not the internal keys a reader is not shown (``customer_no``, ADR 0062; ``session_no``, whose
    ``session_id`` the table computes, ADR 0073)."""
    if table == "touchpoints":
        from percorso.build.schema import TOUCHPOINT_COMPUTED, TOUCHPOINT_DETAILS, TOUCHPOINT_KEYS

        details = ", ".join(f"e.{c}" for c in TOUCHPOINT_DETAILS)
        frame = project.engine.query(f"SELECT t.*, {details} FROM touchpoints t LEFT JOIN events e USING (event_id)")
        internal = [*(k for k, _ in TOUCHPOINT_KEYS), *(s for s, _ in TOUCHPOINT_COMPUTED.values())]
        return frame.to_pandas().drop(columns=[*drop, *internal])
    return project.engine.execute(project.engine.table(table)).drop(columns=list(drop))


def same(a: Any, b: Any) -> None:
    """Same columns and the same multiset of rows (values compared as text: hive partition
    values come back as strings)."""
    cols = sorted(a.columns)
    assert sorted(b.columns) == cols

    def text(v: Any) -> str:
        if v is None or v != v:
            return ""
        if isinstance(v, (date, datetime)):   # a DATE reads as a Timestamp through pandas
            return pd.Timestamp(v).isoformat()
        return str(v)

    def rows(frame: Any) -> list[tuple[str, ...]]:
        return sorted(tuple(text(v) for v in r) for r in frame[cols].itertuples(index=False))

    assert rows(a) == rows(b)


def test_every_row_every_table(project: Any, tmp_path: Path) -> None:
    out = tmp_path / "lake"
    report = export_lake(project.engine, out)
    for table in ("events", "touchpoints", "orders", "identity_map", "campaign_costs"):
        same(db_rows(project, table), lake_rows(out, table))
        assert report.rows_written[table] == project.engine.count(table)
    # customers: everything but the names and the birth date (e-mail and phone are keyed hashes there)
    pii = ("first_name", "last_name", "birth_date")
    same(db_rows(project, "customers", drop=pii), lake_rows(out, "customers"))
    assert not (out / "_staging").exists()
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["tables"]) == {"events", "touchpoints", "orders", "customers", "identity_map", "campaign_costs",
                                       "contact_profiles", "identity_merges", "consent_history"}
    # what the build on Spark reads besides the events: the profiles without names, the consent records
    same(db_rows(project, "contact_profiles", drop=("first_name", "last_name", "birth_date")),
         lake_rows(out, "contact_profiles"))
    same(db_rows(project, "consent_history"), lake_rows(out, "consent_history"))
    # partitions: one folder per (source, UTC month) present in the database
    want = project.engine.query(
        "SELECT DISTINCT source_name, strftime(occurred_at, '%Y-%m') AS m FROM events").to_pylist()
    dirs = {p.relative_to(out / "events").as_posix() for p in (out / "events").glob("*/*") if p.is_dir()}
    assert dirs == {f"source_name={escape_value(r['source_name'])}/month={r['m']}" for r in want}


def test_second_export_writes_nothing(project: Any, tmp_path: Path) -> None:
    out = tmp_path / "lake"
    export_lake(project.engine, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    report = export_lake(project.engine, out)
    assert sum(report.written.values()) == 0
    assert sum(report.rows_written.values()) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == before


def test_only_the_changed_partition_is_rewritten(project: Any, tmp_path: Path) -> None:
    out = tmp_path / "lake"
    export_lake(project.engine, out)
    row = project.engine.query(
        "SELECT t.event_id, e.source_name, strftime(t.occurred_at, '%Y-%m') AS m FROM touchpoints t "
        "JOIN events e USING (event_id) ORDER BY t.event_id LIMIT 1").to_pylist()[0]
    rel = f"source_name={escape_value(row['source_name'])}/month={row['m']}"
    before = {p: p.stat().st_mtime_ns for p in (out / "touchpoints").rglob("*.parquet")}
    # a new channel, added to the stored enumeration as an incremental build adds one (ADR 0071): in text
    # order it moves the positions of the values after it, which no other partition's fingerprint may follow
    channels = [c for (c,) in project.engine.con.execute("SELECT DISTINCT channel FROM touchpoints").fetchall() if c]
    project.engine.run(f"ALTER TABLE touchpoints ALTER COLUMN channel TYPE {enum_type([*channels, 'Changed'])}")
    project.engine.run("UPDATE touchpoints SET channel = 'Changed' WHERE event_id = ?", [row["event_id"]])
    report = export_lake(project.engine, out)
    assert report.written["touchpoints"] == 1
    assert report.written["events"] == 0 and report.written["orders"] == 0
    after = {p: p.stat().st_mtime_ns for p in (out / "touchpoints").rglob("*.parquet")}
    changed = {p.relative_to(out / "touchpoints").parent.as_posix() for p in after if after[p] != before.get(p)}
    assert changed == {rel}
    assert "Changed" in set(lake_rows(out, "touchpoints")["channel"])


def test_a_vanished_partition_is_removed(project: Any, tmp_path: Path) -> None:
    out = tmp_path / "lake"
    export_lake(project.engine, out)
    row = project.engine.query("SELECT source_name, strftime(occurred_at, '%Y-%m') AS m, count(*) AS n "
                               "FROM events GROUP BY ALL ORDER BY n, source_name, m LIMIT 1").to_pylist()[0]
    project.engine.run("DELETE FROM event_store WHERE source_name = ? AND strftime(occurred_at, '%Y-%m') = ?",
                       [row["source_name"], row["m"]])
    report = export_lake(project.engine, out)
    assert report.removed["events"] == 1
    assert not (out / "events" / f"source_name={escape_value(row['source_name'])}" / f"month={row['m']}").exists()
    same(db_rows(project, "events"), lake_rows(out, "events"))


def test_escape_value() -> None:
    assert escape_value("web") == "web"
    assert escape_value("negozio 3/a=b") == "negozio%203%2Fa%3Db"
    assert escape_value("caffè") == "caffè"
    assert escape_value(None) == "__HIVE_DEFAULT_PARTITION__"


def test_cli_lake_export(demo: Path, tmp_path: Path) -> None:
    from percorso.cli import run_cli

    out = tmp_path / "cli-lake"
    assert run_cli(["lake", "export", "--out", str(out), "--project", str(demo), "-f", "json"]) == 0
    assert (out / MANIFEST).exists()


def test_an_erasure_updates_every_lake_of_the_project(demo: Path, tmp_path: Path) -> None:
    """The configured lake and one written with ``--out`` both follow an erasure (ADR 0044):
    the person's rows leave them, only changed partitions are rewritten, and the pins the
    erasure made are in the lake by identifier (type and value), as Spark needs them."""
    from percorso.cli import run_cli
    from percorso.privacy.erasure import erase
    from tests.identity.helpers import flagged_sharers

    copy = tmp_path / "p"
    shutil.copytree(demo, copy)
    other = tmp_path / "elsewhere"
    assert run_cli(["lake", "export", "--project", str(copy), "-f", "json"]) == 0
    assert run_cli(["lake", "export", "--out", str(other), "--project", str(copy), "-f", "json"]) == 0
    with open_project(copy) as p:
        who = flagged_sharers(p, 3)
        gone = {r["event_id"] for r in p.engine.query(
            "SELECT event_id FROM event_customers WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))", [who]).to_pylist()}
        n_parts = len(json.loads((other / MANIFEST).read_text())["tables"]["events"]["partitions"])
        report = erase(p, who, rewrite=False)
        assert sorted(report.lakes_updated) == sorted([str(copy / "lake"), str(other)])
        assert report.identifiers_kept_flagged > 0
        pins = p.engine.query("SELECT n.id_type, n.id_value FROM identity_pins JOIN identity_identifiers n "
                              "USING (id_hash)").to_pandas()
        for out in (copy / "lake", other):
            for table in ("events", "identity_map", "consent_history"):
                same(db_rows(p, table), lake_rows(out, table))
            assert not set(lake_rows(out, "customers")["customer_id"]) & set(who)
            assert not set(lake_rows(out, "touchpoints")["event_id"]) & gone - set(db_rows(p, "touchpoints")["event_id"])
            same(pins, lake_rows(out, "identity_pins")[["id_type", "id_value"]])
    # a later export of the unchanged database writes nothing: the erasure left each lake current
    assert sum(export_lake(open_project(copy, read_only=True).engine, other).written.values()) == 0
    assert len(json.loads((other / MANIFEST).read_text())["tables"]["events"]["partitions"]) <= n_parts
