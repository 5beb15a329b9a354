"""bench/ingest.py's wide files: they are the narrow events plus ten columns, they ingest with the
counts reconciling, and the hand-written ``shaped`` baseline writes what the ingest writes.

Why: the ADR 0010 figures for wide files are only meaningful if the wide files hold the same
events, the ingest keeps every row, and ``ratio_shaped`` compares like with like.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.engine import Engine
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

_spec = importlib.util.spec_from_file_location("bench_ingest", Path(__file__).parents[1] / "bench" / "ingest.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

#: Event columns the ingest fills from the wide files' extra columns.
_NEW = ("referrer", "user_agent", "ip_key", "order_id", "revenue", "currency", "properties")


def test_wide_files_are_the_narrow_events_plus_ten_columns(tmp_path):
    (tmp_path / "n").mkdir()
    (tmp_path / "w").mkdir()
    narrow = bench.write_files(tmp_path / "n", 2_000, 2, seed=5)
    wide = bench.write_files(tmp_path / "w", 2_000, 2, seed=5, shape="wide")
    for n, w in zip(narrow, wide, strict=True):
        tn, tw = pq.read_table(n), pq.read_table(w)
        assert tw.num_columns == tn.num_columns + 10
        assert tw.select(tn.column_names).equals(tn)
        buy = pc.equal(tw["event_name"], "purchase")
        for c in ("order_id", "revenue", "currency"):  # only on purchases, always on purchases
            assert pc.all(pc.equal(pc.is_valid(tw[c]), buy)).as_py()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 4_000), files=st.integers(1, 3), seed=st.integers(0, 1_000))
def test_wide_files_ingest_with_counts_reconciling(tmp_path_factory, n, files, seed):
    root = tmp_path_factory.mktemp("wide")
    paths = bench.write_files(root, n, files, seed=seed, shape="wide")
    tables = [pq.read_table(p) for p in paths]
    init_project(root / "p", name="bench")
    with open_project(root / "p") as project:
        reports = ingest_files(project, "clickstream", paths)
        con = project.engine.con
        row = con.execute(
            "SELECT count(*), count(revenue), count(ip_key), count(*) FILTER (WHERE "
            "json_extract_string(properties, '$.page_title') IS NOT NULL "
            "AND json_extract_string(properties, '$.device_type') IS NOT NULL "
            "AND json_extract_string(properties, '$.session_id') IS NOT NULL) FROM events").fetchone()
        stored = dict(zip(("rows", "revenue", "ip_key", "kept"), row, strict=True))
    for rep, t in zip(reports, tables, strict=True):
        assert rep.rows_read == t.num_rows == rep.accepted + rep.quarantined + rep.duplicates
    assert sum(r.accepted for r in reports) == stored["rows"] == stored["kept"] == n
    assert stored["revenue"] == sum(pc.sum(pc.equal(t["event_name"], "purchase")).as_py() or 0 for t in tables)
    assert stored["ip_key"] == sum(t["ip"].length() - t["ip"].null_count for t in tables)


def test_shaped_baseline_writes_what_the_ingest_writes(tmp_path):
    paths = bench.write_files(tmp_path, 3_000, 2, seed=3, shape="wide")
    bench.shaped(tmp_path, 0, "wide")
    init_project(tmp_path / "p", name="bench")
    with open_project(tmp_path / "p") as project:
        ingest_files(project, "clickstream", paths)
        stored = project.engine.con.execute(
            f"SELECT source_key, {', '.join(c for c in _NEW if c != 'ip_key')}, ip_key IS NULL FROM events "
            "ORDER BY source_key").fetchall()
    eng = Engine(tmp_path / "shaped_0.duckdb")
    by_hand = eng.con.execute(f"SELECT source_key, {', '.join(c for c in _NEW if c != 'ip_key')}, ip_key IS NULL "
                          "FROM events ORDER BY source_key").fetchall()
    eng.close()
    assert len(stored) == 3_000
    assert stored == by_hand
