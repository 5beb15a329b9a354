"""``percorso check`` and the refusal to write into a database cut short (issue 22)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from percorso.cli import app
from percorso.engine.health import full_check
from percorso.errors import DatabaseDamaged
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project


@pytest.fixture
def project_with_events(tmp_path):
    init_project(tmp_path / "p")
    f = tmp_path / "a.csv"
    f.write_text("event_id,timestamp,user_id,event\n" + "".join(
        f"{i},2025-01-01 10:00,u{i},page_view\n" for i in range(5000)), encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "clickstream", [f])
    return tmp_path / "p"


def test_a_whole_database_passes_every_check(project_with_events):
    findings = full_check(project_with_events / "percorso.duckdb")
    assert all(f.ok for f in findings), findings
    assert {"open", "length", "tables", "migrations", "read events"} <= {f.check for f in findings}
    r = CliRunner().invoke(app, ["check", "--project", str(project_with_events)])
    assert r.exit_code == 0, r.output


def test_a_database_cut_short_is_refused_for_writing_and_reported(project_with_events, tmp_path):
    db = project_with_events / "percorso.duckdb"
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size - 4096)
    with open_project(project_with_events) as p, pytest.raises(DatabaseDamaged, match="cut short"):
        ingest_files(p, "clickstream", [tmp_path / "a.csv"], force=True)
    assert not next(f for f in full_check(db) if f.check == "length").ok
    r = CliRunner().invoke(app, ["check", "--project", str(project_with_events)])
    assert r.exit_code == 5 and "Traceback" not in r.output


def test_free_blocks_missing_at_the_end_are_not_damage(project_with_events):
    """DuckDB may leave the file shorter than its header by trailing free blocks (seen after a
    1M-event build: one 256 KiB block short, 175 free); that file is whole."""
    import duckdb

    db = project_with_events / "percorso.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE filler AS SELECT range AS i, range::VARCHAR AS s FROM range(400000)")
    con.execute("CHECKPOINT")
    con.execute("DROP TABLE filler")
    con.close()
    con = duckdb.connect(str(db))
    row = con.execute("PRAGMA database_size").fetchall()[0]
    block, total, free = int(row[2]), int(row[3]), int(row[5])
    con.close()
    assert free >= 1
    with open(db, "r+b") as fh:   # what DuckDB leaves: whole free blocks missing at the tail
        fh.truncate(3 * 4096 + block * (total - 1))
    assert next(f for f in full_check(db) if f.check == "length").ok
