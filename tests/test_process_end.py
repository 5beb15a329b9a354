"""A command's process leaves its checkpointed connections to its end (ADR 0068): what it wrote
is in the file, a later open in the same process sees it, and a process that does not end with
its command closes its connections as before."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

from percorso import process
from percorso.engine import open_engine


@pytest.fixture
def ending(monkeypatch):
    monkeypatch.setattr(process, "_STATE", {"ends": False, "kept": []})
    yield process
    process.close_kept()


def _write(path, n):
    e = open_engine(path)
    e.con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    e.con.execute("INSERT INTO t SELECT range FROM range(?)", [n])
    e.close()


def test_a_closed_engine_is_kept_checkpointed_and_a_later_open_sees_it(tmp_path, ending):
    db = str(tmp_path / "p.duckdb")
    ending.ends_with_command()
    _write(db, 1000)
    assert ending.kept() == 1
    assert not os.path.exists(db + ".wal")      # checkpointed: the file holds every write
    _write(db, 10)                              # the same file again: the kept connection is closed first
    assert ending.kept() == 1
    ending.close_kept()
    ro = open_engine(db, read_only=True)
    assert ro.con.execute("SELECT count(*), sum(x) FROM t").fetchall() == [(1010, 999 * 1000 // 2 + 45)]
    ro.close()


def test_a_process_that_goes_on_closes_its_connections(tmp_path, ending):
    _write(str(tmp_path / "p.duckdb"), 5)
    assert ending.kept() == 0


def test_a_command_ends_at_once_with_its_output_and_exit_code(tmp_path):
    """``percorso`` in a fresh process: the command's output, its exit code, a whole file."""
    env = dict(os.environ, PERCORSO_PROGRESS="0")
    run = [sys.executable, "-m", "percorso"]
    proj = tmp_path / "p"
    subprocess.run([*run, "init", str(proj)], check=True, capture_output=True, env=env)
    events = tmp_path / "e.csv"
    events.write_text("customer_id,ts,event_type,channel\nu1,2025-01-01 10:00:00,page_view,Direct\n"
                      "u1,2025-01-01 10:05:00,purchase,Direct\nu2,2025-01-02 09:00:00,page_view,Email\n")
    subprocess.run([*run, "ingest", "clickstream", str(events), "-p", str(proj)], check=True, capture_output=True,
                   env=env)
    done = subprocess.run([*run, "build", "-p", str(proj), "--format", "json"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["touchpoints"] == 3
    assert not (proj / "percorso.duckdb.wal").exists()
    ro = open_engine(proj / "percorso.duckdb", read_only=True)
    assert ro.con.execute("SELECT count(*) FROM touchpoints").fetchall() == [(3,)]
    ro.close()
    bad = subprocess.run([*run, "paths", "top", "-p", str(proj), "--top", "many"], capture_output=True, text=True,
                         env=env)
    assert bad.returncode == 2 and "errore [usage]" in bad.stderr


def test_main_in_a_process_that_goes_on_leaves_nothing_behind(monkeypatch):
    """``main`` called in a process that goes on (a test) with nothing kept: later closes close."""
    import percorso.cli as cli
    import percorso.cli.remote as remote

    monkeypatch.setattr(remote, "forward", lambda argv: None)
    monkeypatch.setattr(cli, "run_cli", lambda argv: 0)
    monkeypatch.setattr("sys.argv", ["percorso", "build"])
    before = gc.get_threshold()
    try:
        with pytest.raises(SystemExit):
            cli.main()
    finally:   # main tunes and freezes the collector of the process it ends: this one goes on
        gc.set_threshold(*before)
        gc.unfreeze()
    assert not process.ending() and process.kept() == 0
