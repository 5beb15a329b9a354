"""``touchpoints.session_id`` computed when read from the stored ``session_no`` (ADR 0073): readers,
exports, appends, a table of an older version and a copy of the database see the ids the build
wrote before (``customer_id:session number``)."""

from __future__ import annotations

from pathlib import Path

from percorso.build import run_build
from percorso.build.details import with_details
from percorso.build.schema import TOUCHPOINT_FIELDS, TOUCHPOINT_TABLE_COLUMNS
from percorso.engine.backend import Engine
from build_helpers import ingest, seg, write_jsonl


def _catalog(engine) -> dict[str, tuple[str, str]]:
    return {c: (t, g) for c, t, g in engine.con.execute(
        "SELECT column_name, data_type, is_generated FROM information_schema.columns "
        "WHERE table_name = 'touchpoints' ORDER BY ordinal_position").fetchall()}


def _sessions(engine) -> list[tuple]:
    return engine.con.execute("SELECT customer_id, session_no, session_id FROM touchpoints "
                              "ORDER BY customer_id, occurred_at").fetchall()


def _ids_of(rows: list[tuple], n: int) -> tuple[str, list[str]]:
    """The customer with ``n`` touchpoints and their session ids, in time order."""
    by: dict[str, list[str]] = {}
    for c, _, s in rows:
        by.setdefault(c, []).append(s)
    (customer,) = [c for c, ids in by.items() if len(ids) == n]
    return customer, by[customer]


def _visits(tmp_path: Path) -> Path:
    # a1: 10:00, 10:20 (one session), 11:00 (40 min later: a second); a2: one session
    return write_jsonl(tmp_path / "a.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1"), seg("m2", "2025-03-05T10:20:00Z", anon="a1"),
        seg("m3", "2025-03-05T11:00:00Z", anon="a1"), seg("m4", "2025-03-05T12:00:00Z", anon="a2")])


def test_session_id_is_generated_from_the_stored_number(proj, tmp_path: Path):
    ingest(proj, "web", _visits(tmp_path))
    run_build(proj, full=True)
    cat = _catalog(proj.engine)
    assert list(cat) == [c for c, _ in TOUCHPOINT_TABLE_COLUMNS]
    assert cat["session_id"] == ("VARCHAR", "ALWAYS") and cat["session_no"] == ("INTEGER", "NEVER")
    rows = _sessions(proj.engine)
    a1, ids = _ids_of(rows, 3)
    assert ids == [f"{a1}:0", f"{a1}:0", f"{a1}:1"]
    assert all(s == f"{c}:{n}" for c, n, s in rows)
    # readers through Ibis: a text column; an export's rows show the id, not the number
    assert proj.engine.table("touchpoints").schema()["session_id"].is_string()
    shown = with_details(proj.engine, proj.engine.table("touchpoints"))
    assert list(shown.columns) == [c for c, _ in TOUCHPOINT_FIELDS]


def test_incremental_append_computes_the_id_and_equals_a_full_build(proj, tmp_path: Path):
    ingest(proj, "web", _visits(tmp_path))
    run_build(proj, full=True)
    ingest(proj, "web", write_jsonl(tmp_path / "b.jsonl", [
        seg("m5", "2025-03-05T11:10:00Z", anon="a1"), seg("m6", "2025-03-06T09:00:00Z", anon="a1"),
        seg("m7", "2025-03-06T09:00:00Z", anon="a3")]))
    assert run_build(proj).mode == "incremental"
    appended = proj.engine.con.execute("SELECT * FROM touchpoints ORDER BY ALL").fetchall()
    a1, ids = _ids_of(_sessions(proj.engine), 5)
    assert ids == [f"{a1}:{n}" for n in (0, 0, 1, 1, 2)]
    run_build(proj, full=True)
    assert proj.engine.con.execute("SELECT * FROM touchpoints ORDER BY ALL").fetchall() == appended


def test_a_table_with_a_stored_session_id_is_rebuilt_whole(proj, tmp_path: Path):
    ingest(proj, "web", _visits(tmp_path))
    run_build(proj, full=True)
    expected = _sessions(proj.engine)
    # the layout of an older version: the id stored, no number
    proj.engine.con.execute("CREATE OR REPLACE TABLE touchpoints AS SELECT * EXCLUDE (session_no) FROM touchpoints")
    assert _catalog(proj.engine)["session_id"] == ("VARCHAR", "NEVER")
    assert run_build(proj).mode == "full"
    assert _catalog(proj.engine)["session_id"] == ("VARCHAR", "ALWAYS")
    assert _sessions(proj.engine) == expected


def test_a_copy_of_the_database_keeps_the_generated_column(proj, tmp_path: Path):
    ingest(proj, "web", _visits(tmp_path))
    run_build(proj, full=True)
    expected = _sessions(proj.engine)
    proj.engine.backup_to(tmp_path / "copy.duckdb")
    copy = Engine(tmp_path / "copy.duckdb")
    try:
        assert _catalog(copy)["session_id"] == ("VARCHAR", "ALWAYS")
        assert _sessions(copy) == expected
    finally:
        copy.close()
