"""Backups while serving, restores with and without a server (issue 16, Deliver 7)."""

from __future__ import annotations

import json
from pathlib import Path

from percorso.backup import backup, restore
from percorso.project import open_project
from tests.server.conftest import Server, percorso
from tests.server.test_cli_through_server import NEW_CALLS


def _counts(root: Path) -> dict[str, int]:
    with open_project(root, read_only=True) as p:
        return {t: p.engine.count(t) for t in ("events", "customers", "touchpoints", "quarantine")}


def test_backup_and_restore_without_a_server(demo: Path, tmp_path: Path) -> None:
    before = _counts(demo)
    with open_project(demo) as p:
        snap = backup(p, tmp_path / "snap.duckdb")
    calls = tmp_path / "calls.csv"
    calls.write_text(NEW_CALLS, encoding="utf-8")
    percorso("ingest", "call_center", str(calls), "-p", str(demo))
    assert _counts(demo)["events"] == before["events"] + 2
    with open_project(demo) as p:
        kept = restore(p, snap)
    assert _counts(demo) == before and kept.exists() and snap.exists()


def test_backup_and_restore_through_a_running_server(demo: Path, tmp_path: Path) -> None:
    before = _counts(demo)
    calls = tmp_path / "calls.csv"
    calls.write_text(NEW_CALLS, encoding="utf-8")
    server = Server.start(demo)
    try:
        snap = tmp_path / "served.duckdb"
        out = percorso("backup", "--out", str(snap), "-p", str(demo))
        assert out.stdout.decode().strip() == str(snap)
        percorso("ingest", "call_center", str(calls), "-p", str(demo))
        percorso("restore", str(snap), "-p", str(demo))
        # the server answers from the restored file, and the CLI still reaches it
        with server.client(json.loads((demo / ".percorso" / "server.json").read_text())["token"]) as http:
            assert http.get("/readyz").status_code == 200
        again = percorso("ingest", "call_center", str(calls), "-p", str(demo))  # not in the backup: imported again
        assert b"Traceback" not in again.stderr
        assert json.loads(percorso("paths", "top", "--format", "json", "-p", str(demo)).stdout)
    finally:
        assert server.stop() == 0
    after = _counts(demo)
    assert after["events"] == before["events"] + 2  # the backup's events plus the re-imported calls
    with open_project(demo) as p:  # the audit log's connection followed the restore (ADR 0049)
        commands = [json.loads(q)["command"] for (q,) in p.engine.con.execute(
            "SELECT query FROM audit_log WHERE action = 'cli' ORDER BY occurred_at").fetchall()]
    assert commands == ["restore", "ingest", "paths top"]  # the backup's and first ingest's rows went with the old file
    from percorso.engine import Engine

    with Engine(snap, read_only=True) as snapshot:  # the backup itself is the state it was taken in
        assert snapshot.count("events") == before["events"]
        assert snapshot.count("customers") == before["customers"]
