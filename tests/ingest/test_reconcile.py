"""Generated demo data: every malformed row is quarantined, every source reconciles, re-ingest is a no-op."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from percorso.generate import generate
from percorso.ingest.demo_files import DEMO_SOURCES, ingest_demo_folder
from percorso.project import init_project, open_project

#: Generator defect → the reason code a reader of the row would expect.
DEFECT_REASON = {"broken_json": "bad_json", "missing_key": "missing_required", "missing_time": "missing_required",
                 "unknown_event_type":
                 "unknown_event_type", "non_numeric_amount": "bad_number", "wrong_column_count":
                 "wrong_column_count", "unparseable_date": "bad_timestamp"}
TABLES = ("events", "quarantine", "campaign_costs", "contact_profiles", "pii_vault")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    generate(root / "data", customers=300, seed=7)
    init_project(root / "p")
    project = open_project(root / "p")
    first = ingest_demo_folder(project, root / "data" / "sources")
    counts = {t: project.engine.count(t) for t in TABLES}
    second = ingest_demo_folder(project, root / "data" / "sources")
    yield project, root / "data", first, second, counts
    project.close()


def test_every_file_has_a_report_in_order(demo):
    _, _, first, _, _ = demo
    assert [(r.source_file, r.source_name) for r in first] == list(DEMO_SOURCES.items())


def test_every_source_reconciles(demo):
    _, _, first, second, _ = demo
    for r in first + second:
        assert r.rows_read > 0, r
        assert r.rows_read == r.accepted + r.quarantined + r.duplicates, r


def test_every_malformed_row_is_quarantined_with_a_reason(demo):
    project, data, _, _, _ = demo
    truth = pacsv.read_csv(data / "ground_truth" / "malformed.csv").to_pylist()
    assert truth, "the generator writes some malformed rows"
    q = project.engine.con.execute(
        "SELECT source_name, source_line, reason_code, message FROM quarantine").fetchall()
    got = {(s, int(line)): (code, msg) for s, line, code, msg in q}
    missing = [(t["source_name"], t["file"], t["line"], t["defect"]) for t in truth
               if (t["source_name"], int(t["line"])) not in got]
    assert not missing, missing
    for t in truth:
        code, msg = got[(t["source_name"], int(t["line"]))]
        assert code and msg
        if t["defect"] in DEFECT_REASON:
            assert code == DEFECT_REASON[t["defect"]], (t, code, msg)


def test_second_ingest_changes_nothing(demo):
    project, _, _, second, counts = demo
    assert {t: project.engine.count(t) for t in TABLES} == counts
    for r in second:
        assert r.accepted == 0, r


def test_rows_read_match_the_file(demo):
    """Rows read is the number of data rows (CSV rows minus header, JSONL non-blank lines)."""
    _, data, first, _, _ = demo
    for r in first:
        path = data / "sources" / r.source_file
        if path.suffix == ".jsonl":
            n = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
            assert r.rows_read == n, r


def test_pos_keys_are_iso_and_match_the_ground_truth(demo):
    """POS receipts are keyed ``store:YYYY-MM-DD:receipt``, as the generator's identity ground truth."""
    project, data, _, _, _ = demo
    truth = {r["source_key"] for r in pacsv.read_csv(data / "ground_truth" / "identity.csv").to_pylist()
             if r["source_name"] == "pos"}
    keys = {r[0] for r in project.engine.con.execute(
        "SELECT source_key FROM events WHERE source_name = 'pos'").fetchall()}
    assert keys and keys == truth
    for k in keys:
        store, day, receipt = k.split(":")
        assert len(day) == 10 and day[4] == "-" and day[7] == "-" and store and receipt
