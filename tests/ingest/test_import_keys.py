"""Issue 22: the same record in another export is recognised; overlapping exports import each record once.

Hypothesis draws a kind, records and a seed; :mod:`import_records` writes them as two exports
that share nothing but meaning (column order and names, delimiter, date, number and boolean
formats, encoding, line ending). The oracle is counting: records, not rows.
"""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project
from tests.ingest.import_records import KINDS, records, render

TARGET = {"campaign_costs": "campaign_costs"}


def _stored(p, kind: str) -> int:
    return p.engine.count(TARGET.get(kind, "events"))


def _expected(kind: str, x: list[list[dict]], y: list[list[dict]]) -> int:
    """Records in the union of two exports: by id when a record has one, else by content.

    Identical rows are told apart only by their number within one export, so the union holds
    as many copies of a content as the export that has the most of them.
    """
    def key(rec):
        row = rec[0]
        rid = row.get("event_id") or row.get("click_event_id") or row.get("record_id")
        return ("id", rid) if rid else ("content", tuple(sorted((k, str(v)) for k, v in row.items())))

    cx, cy = Counter(map(key, x)), Counter(map(key, y))
    return sum(max(cx[k], cy[k]) if k[0] == "content" else 1 for k in set(cx) | set(cy))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), n=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_same_records_in_another_layout_add_nothing(tmp_path_factory, kind, n, seed):
    rng = random.Random(seed)
    recs = records(kind, rng, n)
    root = tmp_path_factory.mktemp("k")
    init_project(root / "p")
    with open_project(root / "p") as p:
        (ra,) = ingest_files(p, kind, [render(kind, recs, "a", root / "a.csv", rng)])
        assert ra.error is None and ra.quarantined == 0, (ra, p.engine.con.execute("SELECT message FROM quarantine").fetchall())
        before = _stored(p, kind)
        assert before == _expected(kind, recs, recs)
        (rb,) = ingest_files(p, kind, [render(kind, recs, "b", root / "b.csv", rng)])
        assert rb.quarantined == 0, p.engine.con.execute("SELECT message FROM quarantine").fetchall()
        assert (rb.accepted, rb.duplicates) == (0, rb.rows_read), rb
        assert _stored(p, kind) == before


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), n=st.integers(2, 7), seed=st.integers(0, 10**6), b_first=st.booleans())
def test_overlapping_exports_in_any_order_import_each_record_once(tmp_path_factory, kind, n, seed, b_first):
    rng = random.Random(seed)
    recs = records(kind, rng, n)
    where = [rng.choice("xyb") for _ in recs]  # only in x, only in y, or in both
    x = [r for r, w in zip(recs, where) if w in "xb"]
    y = [r for r, w in zip(recs, where) if w in "yb"]
    root = tmp_path_factory.mktemp("o")
    init_project(root / "p")
    files = [render(kind, x, "a", root / "x.csv", rng), render(kind, y, "b", root / "y.csv", rng)]
    with open_project(root / "p") as p:
        reps = ingest_files(p, kind, files[::-1] if b_first else files)
        assert all(r.error is None and r.quarantined == 0 for r in reps), reps
        assert _stored(p, kind) == _expected(kind, x, y)
