"""The generic ``clickstream`` kind: usual column names, mapping for others, properties, content keys."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

CSV = ("userid,action,ts,session,page,browser\n"
       "v1,page_view,2025-03-05 10:00:00,s1,https://x.it/?utm_source=News&utm_medium=email,Firefox\n"
       "v1,Video Played,2025-03-05 10:01:00,s1,,Chrome\n"
       "v2,add_to_cart,not a date,s2,,\n"
       "v2,Logged In,2025-03-05 11:00:00,s2,,\n")


def _project(tmp_path: Path, extra_toml: str = ""):
    init_project(tmp_path / "p")
    if extra_toml:
        cfg = tmp_path / "p" / "percorso.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + "\n" + extra_toml, encoding="utf-8")
    return open_project(tmp_path / "p")


def _events(p) -> list[dict]:
    cols = ["source_line", "user_id", "event_type", "event_name", "occurred_at", "page_url", "utm_source",
            "utm_medium", "properties", "source_key", "source_file", "event_id"]
    rows = p.engine.con.execute(f"SELECT {', '.join(cols)} FROM events ORDER BY source_line").fetchall()
    return [dict(zip(cols, r)) for r in rows]


def test_csv_without_any_toml_entry(tmp_path):
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    p = _project(tmp_path)
    (r,) = ingest_files(p, "clickstream", [f])
    assert (r.rows_read, r.accepted, r.quarantined, r.duplicates) == (4, 3, 1, 0)
    q = p.engine.con.execute("SELECT source_line, reason_code, raw_text FROM quarantine").fetchall()
    assert q[0][:2] == (3, "bad_timestamp") and "not a date" in q[0][2]
    ev = _events(p)
    assert [e["source_line"] for e in ev] == [1, 2, 4]
    assert [e["user_id"] for e in ev] == ["v1", "v1", "v2"]
    # canonical name, unknown name → generic type with the raw name kept, alias → canonical
    assert [(e["event_type"], e["event_name"]) for e in ev] == [
        ("page_view", "page_view"), ("custom", "Video Played"), ("login", "Logged In")]
    # 10:00 in Rome (CET, UTC+1) is 09:00 UTC
    assert ev[0]["occurred_at"] == datetime(2025, 3, 5, 9, 0)
    assert (ev[0]["utm_source"], ev[0]["utm_medium"]) == ("news", "email")
    assert json.loads(ev[0]["properties"]) == {"browser": "Firefox", "session_id": "s1"}
    assert json.loads(ev[1]["properties"]) == {"browser": "Chrome", "session_id": "s1"}
    p.close()


def test_content_key_is_file_independent(tmp_path):
    """Without an event id the key hashes the row; the same rows in a renamed file are duplicates."""
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    g = tmp_path / "copy_of_clicks.csv"
    shutil.copy(f, g)
    p = _project(tmp_path)
    ingest_files(p, "clickstream", [f])
    ev = _events(p)
    # keyed by content: three distinct ids, no stored key (ADR 0074)
    assert len({e["event_id"] for e in ev}) == 3 and {e["source_key"] for e in ev} == {None}
    (r,) = ingest_files(p, "clickstream", [g])
    assert (r.rows_read, r.accepted, r.duplicates, r.quarantined) == (4, 0, 3, 1)
    assert p.engine.count("events") == 3
    p.close()


def test_parquet_with_event_ids_and_typed_columns(tmp_path):
    f = tmp_path / "clicks.parquet"
    pq.write_table(pa.table({
        "event_id": ["e1", "e2", "e3"],
        "customer_id": ["u1", None, "u2"],
        "event": ["product_viewed", "search", "page"],
        "event_time": pa.array([datetime(2025, 7, 1, 12, 0), datetime(2025, 7, 1, 12, 5), None],
                               pa.timestamp("us")),
        "session_id": ["s9", "s9", "s10"],
        "price": [9.5, None, 1.0],
    }), f)
    p = _project(tmp_path)
    (r,) = ingest_files(p, "clickstream", [f])
    assert (r.rows_read, r.accepted, r.quarantined) == (3, 2, 1)
    assert p.engine.con.execute("SELECT source_line, reason_code FROM quarantine").fetchall() == [
        (3, "missing_required")]
    ev = _events(p)
    assert [e["source_key"] for e in ev] == ["e1", "e2"]
    assert [e["event_type"] for e in ev] == ["product_view", "search"]
    # naive 12:00 in Rome (CEST, UTC+2) is 10:00 UTC
    assert ev[0]["occurred_at"] == datetime(2025, 7, 1, 10, 0)
    assert json.loads(ev[0]["properties"]) == {"price": 9.5, "session_id": "s9"}
    (r2,) = ingest_files(p, "clickstream", [f])
    assert (r2.accepted, r2.duplicates) == (0, 2)
    p.close()


def test_unusual_columns_through_the_toml_mapping(tmp_path):
    f = tmp_path / "export.csv"
    f.write_text("Cliente;Cosa;Quando;Dove\n"
                 "c1;Acquisto fatto;05/03/2025 18:30;Milano\n"
                 "c2;page_view;31/02/2025 10:00;Roma\n", encoding="utf-8")
    p = _project(tmp_path, '[sources.negozio_web]\nkind = "clickstream"\n'
                           'mapping = { user_id = "Cliente", event_name = "Cosa", occurred_at = "Quando", '
                           '"event.Acquisto fatto" = "purchase" }\n')
    (r,) = ingest_files(p, "negozio_web", [f])
    assert (r.rows_read, r.accepted, r.quarantined) == (2, 1, 1)
    assert p.engine.con.execute("SELECT source_line, reason_code FROM quarantine").fetchall() == [
        (2, "bad_timestamp")]
    (e,) = _events(p)
    assert (e["user_id"], e["event_type"], e["event_name"]) == ("c1", "purchase", "Acquisto fatto")
    assert e["occurred_at"] == datetime(2025, 3, 5, 17, 30)
    assert json.loads(e["properties"]) == {"Dove": "Milano"}
    p.close()
