"""Touchpoints' few-valued text columns stored as enumerations (ADR 0071): the same rows for
every reader as when they are stored as text, a value an incremental build brings is added, a
value the list lacks costs the insert again with text columns, exports and the lake see text."""

from __future__ import annotations

from pathlib import Path

import percorso.build.touchpoints as tp_module
from percorso.build import run_build
from percorso.build.schema import TOUCHPOINTS_ENUMS
from percorso.engine import export_sql, lake_sql
from percorso.engine.backend import Engine
from build_helpers import ingest, seg, write_jsonl

_TABLES = ("touchpoints", "orders", "customers")


def _types(p, table: str) -> dict[str, str]:
    return dict(p.engine.con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                                     f"WHERE table_name = '{table}'").fetchall())


def _rows(p) -> dict[str, list[tuple]]:
    return {t: p.engine.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in _TABLES}


def _web(tmp_path: Path, name: str, first: int, events: list[str]) -> Path:
    msgs = [seg(f"m{first + i}", f"2025-03-0{1 + i % 5}T10:0{i % 10}:00Z", anon=f"a{i % 3}", type="track", event=e,
                url="https://shop.it/?utm_source=newsletter&utm_medium=email" if i % 2 else "https://shop.it/",
                props={"order_id": f"O{i}", "revenue": 10.0 + i} if e == "Order Completed" else {})
            for i, e in enumerate(events)]
    return write_jsonl(tmp_path / name, msgs)


def test_full_build_stores_enumerations_and_every_row_is_the_text_build_s(proj, tmp_path: Path, monkeypatch):
    ingest(proj, "web", _web(tmp_path, "w.jsonl", 0, ["Product Viewed", "Order Completed", "Checkout Started",
                                                       "Order Completed", "Product Added", "Products Searched"]))
    run_build(proj, full=True)
    types = _types(proj, "touchpoints")
    assert all(types[c].startswith("ENUM(") for c in TOUCHPOINTS_ENUMS), types
    stored = _rows(proj)
    # readers through Ibis see text columns
    schema = proj.engine.table("touchpoints").schema()
    assert all(schema[c].is_string() for c in TOUCHPOINTS_ENUMS)
    # the same build with no enumeration: text columns, the same rows
    monkeypatch.setattr(tp_module, "_enum_values", lambda *a, **k: {})
    run_build(proj, full=True)
    assert not any(t.startswith("ENUM(") for t in _types(proj, "touchpoints").values())
    assert _rows(proj) == stored
    assert stored["touchpoints"] and stored["orders"]


def test_incremental_build_adds_new_values_in_text_order_and_equals_a_full_build(proj, tmp_path: Path):
    ingest(proj, "web", _web(tmp_path, "a.jsonl", 0, ["Product Viewed", "Product Viewed", "Products Searched"]))
    run_build(proj, full=True)
    before = _types(proj, "touchpoints")["event_name"]
    assert "'Product Added'" not in before and "'Order Completed'" not in before
    ingest(proj, "web", _web(tmp_path, "b.jsonl", 10, ["Product Added", "Order Completed", "Product Viewed"]))
    rep = run_build(proj)
    assert rep.mode == "incremental"
    after = proj.engine.con.execute("SELECT enum_range(NULL::" + _types(proj, "touchpoints")["event_name"]
                                    + ")").fetchone()[0]
    assert {"Product Added", "Order Completed"} <= set(after) and after == sorted(after)
    incremental = _rows(proj)
    run_build(proj, full=True)
    assert _rows(proj) == incremental


def test_a_value_the_enumeration_lacks_writes_the_table_with_text_columns(tmp_path: Path):
    e = Engine(tmp_path / "x.duckdb")
    try:
        sql = "SELECT * FROM (VALUES ('a', 1), ('b', 2), ('zz', 3)) v(k, n)"
        assert e.create_table("t", sql, enums={"k": ["a", "b"]}) == 3
        assert e.con.execute("SELECT data_type FROM information_schema.columns WHERE column_name = 'k'").fetchall() \
            == [("VARCHAR",)]
        assert e.create_table("u", sql, enums={"k": ["zz", "b", "a"]}) == 3
        assert e.con.execute("SELECT typeof(k), list(k ORDER BY k) FROM u GROUP BY ALL").fetchall() \
            == [("ENUM('a', 'b', 'zz')", ["a", "b", "zz"])]
    finally:
        e.close()


def test_exports_escape_and_the_lake_fingerprints_an_enumeration_as_its_text(tmp_path: Path):
    e = Engine(tmp_path / "x.duckdb")
    try:
        rows = "SELECT * FROM (VALUES ('=1+1', 'p'), ('b', 'q'), (NULL, 'q')) v(k, part)"
        e.create_table("as_text", rows)
        e.create_table("as_enum", rows, enums={"k": ["=1+1", "b"]})
        text_sql = export_sql._select(e, "as_text", None, escape=True)
        enum_sql = export_sql._select(e, "as_enum", None, escape=True)
        assert e.con.execute(enum_sql + " ORDER BY ALL").fetchall() \
            == e.con.execute(text_sql + " ORDER BY ALL").fetchall() == [("'=1+1", "p"), ("b", "q"), (None, "q")]
        prints = [lake_sql.partition_fingerprints(e, t, ("part",)).sort_by("part").to_pylist()
                  for t in ("as_text", "as_enum")]
        assert prints[0] == prints[1]
        assert lake_sql.table_schema(e, "as_enum") == lake_sql.table_schema(e, "as_text") \
            == [("k", "VARCHAR"), ("part", "VARCHAR")]
    finally:
        e.close()


def test_appending_widens_an_enumeration_and_past_the_most_values_makes_it_text(tmp_path: Path, monkeypatch):
    from percorso.engine import build_sql

    e = Engine(tmp_path / "x.duckdb")
    try:
        e.create_table("t", "SELECT * FROM (VALUES ('b'), ('d')) v(k)", enums={"k": ["b", "d"]})
        e.create_table("new", "SELECT * FROM (VALUES ('c'), ('a'), (NULL), ('b')) v(k)")
        build_sql.append_table(e, "t", "new")
        assert e.con.execute("SELECT typeof(k), list(k ORDER BY k) FROM t GROUP BY ALL").fetchall() \
            == [("ENUM('a', 'b', 'c', 'd')", ["a", "b", "b", "c", "d", None])]
        monkeypatch.setattr(build_sql, "ENUM_MAX_VALUES", 4)
        e.create_table("more", "SELECT 'e' AS k")
        build_sql.append_table(e, "t", "more")
        assert e.con.execute("SELECT DISTINCT typeof(k) FROM t").fetchall() == [("VARCHAR",)]
        assert e.count("t") == 7
    finally:
        e.close()
