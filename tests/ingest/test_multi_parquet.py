"""Several Parquet files in one call: one pass, counts per file, dedup across files, re-ingest adds nothing."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project


def _write(path, rows):
    """rows: (event_id, timestamp text) pairs; a text that is not a time is a bad row."""
    pq.write_table(pa.table({"event_id": [r[0] for r in rows], "user_id": ["u1"] * len(rows),
                             "event_name": ["page_view"] * len(rows), "timestamp": [r[1] for r in rows]}), path)
    return path


GOOD = "2025-03-05 10:00:00"


def test_duplicates_across_files_and_a_bad_row_in_file_two(tmp_path):
    f1 = _write(tmp_path / "a.parquet", [("e1", GOOD), ("e2", GOOD)])
    f2 = _write(tmp_path / "b.parquet", [("e2", GOOD), ("e3", "nope"), ("e4", GOOD)])
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        r1, r2 = ingest_files(p, "clickstream", [f1, f2])
        assert [(r.source_file, r.rows_read, r.accepted, r.quarantined, r.duplicates) for r in (r1, r2)] == [
            ("a.parquet", 2, 2, 0, 0), ("b.parquet", 3, 1, 1, 1)]
        q = p.engine.con.execute("SELECT source_file, source_line, reason_code FROM quarantine").fetchall()
        assert q == [("b.parquet", 2, "bad_timestamp")]
        ev = p.engine.con.execute("SELECT source_key, source_file, source_line, ingest_run_id FROM events "
                                  "ORDER BY source_key").fetchall()
        assert ev == [("e1", "a.parquet", 1, r1.ingest_run_id), ("e2", "a.parquet", 2, r1.ingest_run_id),
                      ("e4", "b.parquet", 3, r2.ingest_run_id)]
        again = ingest_files(p, "clickstream", [f1, f2], force=True)
        assert [(r.accepted, r.quarantined, r.duplicates) for r in again] == [(0, 0, 2), (0, 1, 2)]
        assert p.engine.count("events") == 3 and p.engine.count("quarantine") == 1


ROWS = st.lists(st.tuples(st.sampled_from(["e1", "e2", "e3", "e4"]), st.sampled_from([GOOD, "2025-01-02", "x"])),
                min_size=1, max_size=6)


@settings(max_examples=15, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=3))
def test_counts_reconcile_per_file_oracle(tmp_path_factory, files):
    tmp = tmp_path_factory.mktemp("m")
    paths = [_write(tmp / f"f{i}.parquet", rows) for i, rows in enumerate(files)]
    init_project(tmp / "p")
    with open_project(tmp / "p") as p:
        reps = ingest_files(p, "clickstream", paths)
    seen: set[str] = set()
    for rows, r in zip(files, reps):  # oracle: first good occurrence of an id (file, then line order) wins
        good = [k for k, ts in rows if ts != "x"]
        new = [k for k in good if not (k in seen or seen.add(k))]
        assert (r.rows_read, r.accepted, r.quarantined, r.duplicates) == (len(rows), len(new), len(rows) - len(good),
                                                                          len(good) - len(new))
        assert r.reconciles
