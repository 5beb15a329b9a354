"""Touchpoint columns no event can fill are not written by a full build (ADR 0076): they read
NULL as before, and the incremental build whose events fill one first makes it stored, so its
rows equal a full build's."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from percorso.build import run_build
from percorso.build.schema import TOUCHPOINT_TABLE_COLUMNS
from percorso.engine.backend import Engine
from percorso.engine.build_sql import append_table
from percorso.engine.event_store import stored
from build_helpers import ingest, seg, write_jsonl

_NAMES = ", ".join(c for c, _ in TOUCHPOINT_TABLE_COLUMNS)


def _generated(p) -> set[str]:
    return {r[0] for r in p.engine.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'touchpoints' "
        "AND is_generated = 'ALWAYS'").fetchall()}


def _rows(p) -> list[tuple]:
    # by name: a column made stored by an incremental build comes last in the table
    return p.engine.con.execute(f"SELECT {_NAMES} FROM touchpoints ORDER BY ALL").fetchall()


def _clicks(tmp_path: Path) -> Path:
    """A clickstream file (the bench's kind): person, time, type, channel, campaign, revenue."""
    t = pa.table({"customer_id": ["u1", "u1", "u2"], "ts": pa.array([1_740_823_200, 1_740_823_260, 1_740_823_200],
                                                                     pa.timestamp("s")),
                  "event_type": ["page_view", "purchase", "search"], "channel": ["email", "email", "direct"],
                  "campaign": ["spring", None, None], "revenue": [None, 30.0, None]})
    pq.write_table(t, tmp_path / "c.parquet")
    return tmp_path / "c.parquet"


def _web(tmp_path: Path, name: str, first: int, events: list[str]) -> Path:
    msgs = [seg(f"m{first + i}", f"2025-03-0{1 + i % 5}T10:0{i % 10}:00Z", anon=f"a{i % 3}", type="track", event=e,
                props={"order_id": f"O{i}", "revenue": 10.0 + i} if e == "Order Completed" else {})
            for i, e in enumerate(events)]
    return write_jsonl(tmp_path / name, msgs)


def test_a_column_no_event_fills_is_generated_null_until_an_incremental_build_fills_it(proj, tmp_path: Path):
    ingest(proj, "clickstream", _clicks(tmp_path))
    run_build(proj, full=True)
    assert "order_id" not in stored(proj.engine)
    # no event has an order id, none is an ad or an app's: those columns are not written
    assert {"session_id", "order_id", "utm_source", "device_type"} <= _generated(proj)
    assert proj.engine.con.execute("SELECT count(*), count(order_id) FROM touchpoints").fetchone() == (3, 0)
    assert [c for c, _ in TOUCHPOINT_TABLE_COLUMNS] == proj.engine.columns("touchpoints")

    ingest(proj, "web", _web(tmp_path, "b.jsonl", 10, ["Order Completed", "Product Viewed"]))
    rep = run_build(proj)
    assert rep.mode == "incremental"
    assert "order_id" not in _generated(proj) and "session_id" in _generated(proj)
    assert proj.engine.con.execute("SELECT list(order_id) FILTER (order_id IS NOT NULL) FROM touchpoints"
                                   ).fetchone()[0] == ["O0"]
    incremental = _rows(proj)
    # the table's columns are in another order now: the next build is a full one, the same rows
    assert run_build(proj).mode == "full"
    assert "order_id" not in _generated(proj)
    assert _rows(proj) == incremental
    assert [c for c, _ in TOUCHPOINT_TABLE_COLUMNS] == proj.engine.columns("touchpoints")


def test_null_columns_are_declared_generated_and_an_append_that_fills_one_stores_it(tmp_path: Path):
    e = Engine(tmp_path / "x.duckdb")
    try:
        sql = "SELECT * FROM (VALUES (1, NULL::VARCHAR, 'a'), (2, NULL, 'b')) v(n, empty, k)"
        assert e.create_table("t", sql, null_columns=("empty",), enums={"k": ["a", "b"]}) == 2
        assert e.con.execute("SELECT column_name, is_generated FROM information_schema.columns "
                             "WHERE table_name = 't' ORDER BY ordinal_position").fetchall() \
            == [("n", "NEVER"), ("empty", "ALWAYS"), ("k", "NEVER")]
        e.con.execute("CREATE TABLE s AS SELECT 3 AS n, NULL::VARCHAR AS empty, 'a' AS k")
        append_table(e, "t", "s")            # nothing fills it: it stays generated
        assert e.con.execute("SELECT is_generated FROM information_schema.columns WHERE table_name = 't' "
                             "AND column_name = 'empty'").fetchone() == ("ALWAYS",)
        e.con.execute("CREATE OR REPLACE TABLE s AS SELECT 4 AS n, 'x' AS empty, 'b' AS k")
        append_table(e, "t", "s")
        assert e.con.execute("SELECT n, empty, k FROM t ORDER BY n").fetchall() \
            == [(1, None, "a"), (2, None, "b"), (3, None, "a"), (4, "x", "b")]
    finally:
        e.close()
