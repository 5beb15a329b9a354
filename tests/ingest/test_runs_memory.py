"""``ingest_runs`` lineage (path, size, streamed sha256), "already ingested", bounded memory on a big CSV."""

from __future__ import annotations

import hashlib
import resource
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

CSV = ("event_id,user_id,event,timestamp\n"
       "e1,u1,page_view,2025-01-01 10:00\n"
       "e2,u1,login,2025-01-01 10:05\n"
       "e3,u2,page_view,yesterday\n")


def test_each_file_of_a_call_records_its_own_content_hash(tmp_path):
    """The hashes are read while the database opens (ADR 0086): each run still records its file's
    sha256 (a file given twice both times), a missing or unread file none."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(CSV, encoding="utf-8")
    b.write_text(CSV.replace("e3,u2,page_view,yesterday", "e4,u3,login,2025-01-02 09:00"), encoding="utf-8")
    (tmp_path / "c.xls").write_bytes(b"not read")
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        reps = ingest_files(p, "clickstream", [a, tmp_path / "missing.csv", b, tmp_path / "c.xls", a])
        assert [r.file_sha256 for r in reps] == [hashlib.sha256(f.read_bytes()).hexdigest() if f else ""
                                                 for f in (a, None, b, None, a)]
        assert [r.error_code for r in reps] == [None, "file_not_found", None, "input_invalid", None]
        # b repeats a's two good rows (same ids); a again in the same call: read, every good row a duplicate
        assert [(r.accepted, r.duplicates) for r in reps] == [(2, 0), (0, 0), (1, 2), (0, 0), (0, 2)]


def test_ingest_runs_lineage_and_already_ingested(tmp_path):
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    init_project(tmp_path / "p")
    p = open_project(tmp_path / "p")
    (r1,) = ingest_files(p, "clickstream", [f])
    assert (r1.rows_read, r1.accepted, r1.quarantined, r1.duplicates, r1.already_ingested) == (3, 2, 1, 0, False)
    (r2,) = ingest_files(p, "clickstream", [f])
    assert r2.already_ingested and (r2.rows_read, r2.accepted, r2.quarantined, r2.duplicates) == (3, 0, 1, 2)
    (r3,) = ingest_files(p, "clickstream", [f], force=True)  # read again: still adds nothing
    assert not r3.already_ingested and (r3.rows_read, r3.accepted, r3.quarantined, r3.duplicates) == (3, 0, 1, 2)
    assert p.engine.count("events") == 2 and p.engine.count("quarantine") == 1
    runs = p.engine.con.execute(
        "SELECT file_path, file_size, file_sha256, rows_read, accepted, quarantined, duplicates "
        "FROM ingest_runs ORDER BY started_at, finished_at").fetchall()
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    size = len(CSV.encode())
    assert runs == [(str(f.resolve()), size, sha, 3, 2, 1, 0), (str(f.resolve()), size, sha, 3, 0, 1, 2),
                    (str(f.resolve()), size, sha, 3, 0, 1, 2)]
    # a changed file is read again; only its new row is accepted
    f.write_text(CSV + "e4,u3,search,2025-01-02 09:00\n", encoding="utf-8")
    (r4,) = ingest_files(p, "clickstream", [f])
    assert (r4.already_ingested, r4.rows_read, r4.accepted, r4.quarantined, r4.duplicates) == (False, 4, 1, 1, 2)
    p.close()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow  # ~10-12 s on the shared 2-core machine
def test_big_csv_in_bounded_memory(tmp_path):
    """~50 MB of CSV: the process's peak memory grows by less than 500 MB."""
    n = 600_000
    rng = np.random.default_rng(3)
    names = np.array(["page_view", "product_view", "add_to_cart", "search"])
    ts = np.datetime64("2025-01-01T00:00:00", "s") + rng.integers(0, 300 * 86400, n).astype("timedelta64[s]")
    table = pa.table({
        "event_id": pa.array(np.char.add("e", np.arange(n).astype(str))),
        "user_id": pa.array(np.char.add("u", rng.integers(0, n // 10, n).astype(str))),
        "event": pa.array(names[rng.integers(0, 4, n)]),
        "timestamp": pa.array(np.datetime_as_string(ts)),
        "page_url": pa.array(np.char.add("https://shop.example.it/catalogo/prodotto/", rng.integers(0, 10**6, n).astype(str))),
    })
    f = tmp_path / "big.csv"
    pacsv.write_csv(table, f)
    del table
    assert f.stat().st_size > 45 * 2**20
    init_project(tmp_path / "p")
    before = _peak_mb()
    t0 = time.perf_counter()
    with open_project(tmp_path / "p") as p:
        (r,) = ingest_files(p, "clickstream", [f])
    assert (r.rows_read, r.accepted) == (n, n)
    assert _peak_mb() - before < 500, (before, _peak_mb(), time.perf_counter() - t0)
