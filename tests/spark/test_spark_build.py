"""The build on Spark gives DuckDB's tables and DuckDB's identity partition (issue 21).

The oracle is the DuckDB build of the same small demo (``built`` in conftest.py: analytics on an
opt-in consent basis with consent withheld for some, six people erased after the export).
``percorso lake build`` (the CLI) runs on a copy of the project whose lake keeps what ingest
wrote (events, contact profiles, consent records, campaign costs), the erasure pins and the
identity map, only as the previous map that names components (DuckDB's rebuild had one too):
no derived table. It resolves identity from the raw events on Spark (the resolver's rules in
Ibis, ADR 0039, with consent and pins, ADR 0044), runs the shared build code and writes
``identity_map``, ``touchpoints``, ``orders`` and ``customers`` back. Same rows; numbers equal
to 1e-9; the same customer ids. The naming of new components has its own test below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from percorso.build.details import with_details
from percorso.build.schema import TOUCHPOINT_DETAILS
from percorso.project import open_project
from tests.spark.conftest import absent_from

#: Each table's row key. ``identity_map.id_hash`` is each engine's own 64-bit key of the
#: identifier (DuckDB's ``hash``, Spark's ``xxhash64``): the identifier itself is compared.
KEYS = {"identity_map": ["id_type", "id_value"], "touchpoints": ["event_id"], "orders": ["event_id"],
        "customers": ["customer_id"]}
def _frame(engine: Any, name: str, columns: list[str]) -> pd.DataFrame:
    t = engine.table(name)
    if name == "touchpoints":   # the lake's hold every field; the database reads the details from events (ADR 0061)
        t = with_details(engine, t)
    df = engine.execute(t.select(*columns))
    return df.sort_values(KEYS[name]).reset_index(drop=True)


@pytest.mark.parametrize("name", ["touchpoints", "orders", "customers", "identity_map"])
def test_spark_build_equals_duckdb_build(built: Any, name: str) -> None:
    p, s, rows = built
    columns = [c for c in s.columns(name) if c != "id_hash"]
    assert set(columns) <= set(p.engine.columns(name)) | (set(TOUCHPOINT_DETAILS) if name == "touchpoints" else set())
    duck, spark = _frame(p.engine, name, columns), _frame(s, name, columns)
    assert rows[name] == len(spark) == len(duck) > 0
    assert spark[KEYS[name]].duplicated().sum() == 0
    for col in columns:
        a, b = duck[col], spark[col]
        if pd.api.types.is_float_dtype(a):
            pd.testing.assert_series_equal(a, b.astype(float), check_names=False, rtol=1e-9, atol=1e-9)
        else:
            na, nb = a.isna().to_numpy(), b.isna().to_numpy()
            assert (na == nb).all(), f"{name}.{col}: NULLs differ"
            same = [pd.Timestamp(x) == pd.Timestamp(y) if isinstance(x, pd.Timestamp) or hasattr(x, "year") else x == y
                    for x, y in zip(a[~na], b[~nb], strict=True)]
            assert all(same), f"{name}.{col}: {sum(not v for v in same)} values differ"


def test_identity_partition_is_identical(built: Any) -> None:
    """Grouping identifiers by customer gives the same sets on both (names aside), though the
    Spark build had only the raw events: the rules (trust, hub caps, limits, the device link)
    refused the same links. The demo has such refusals, so the test would see a rule skipped."""
    p, s, _rows = built

    def groups(engine: Any) -> set[frozenset[tuple[str, str]]]:
        df = engine.execute(engine.table("identity_map").select("id_type", "id_value", "customer_id"))
        return {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in df.groupby("customer_id")}

    assert groups(p.engine) == groups(s)
    refused = p.engine.con.execute("SELECT count(*) FROM identity_links WHERE status <> 'used'").fetchall()[0][0]
    devices = p.engine.con.execute("SELECT count(*) FROM identity_device_links").fetchall()[0][0]
    assert refused > 0 and devices > 0   # the oracle exercises hub/limit/trust refusals and a device link


def test_fresh_names_follow_the_resolver(spark: Any) -> None:
    """Without a previous map a component is 'C' + sha256(smallest 'type:value')[:12]; with one,
    the oldest previous id wins and a split keeps it on the larger part (hand-made graph)."""
    import hashlib

    import ibis

    from percorso.build.lake_build import name_components

    sp = ibis.pyspark.connect(spark)
    comp = pd.DataFrame({"label": [1, 1, 1, 4, 4, 6],
                         "id_hash": [1, 2, 3, 4, 5, 6],
                         "id_type": ["user_id", "anonymous_id", "email_key", "anonymous_id", "anonymous_id", "user_id"],
                         "id_value": ["u9", "a1", "e1", "a7", "a2", "u1"]})
    spark.createDataFrame(comp).createOrReplaceTempView("t_comp")
    fresh = sp.execute(name_components(sp.table("t_comp"), None)).set_index("label")["customer_id"].to_dict()

    def c(s: str) -> str:
        return "C" + hashlib.sha256(s.encode()).hexdigest()[:12]

    assert fresh == {1: c("anonymous_id:a1"), 4: c("anonymous_id:a2"), 6: c("user_id:u1")}
    prev = pd.DataFrame({"id_type": ["user_id", "anonymous_id", "anonymous_id", "anonymous_id", "user_id"],
                         "id_value": ["u9", "a1", "a7", "a2", "u1"],
                         "customer_id": ["Cold", "Cnew", "Cold", "Cold", "Cx"],
                         "first_seen_at": pd.to_datetime(["2024-01-02", "2024-03-01", "2024-01-01", "2024-01-05",
                                                          "2024-02-01"])})
    spark.createDataFrame(prev).createOrReplaceTempView("t_prev")
    named = sp.execute(name_components(sp.table("t_comp"), sp.table("t_prev"))).set_index("label")["customer_id"]
    # each component picks its oldest previous id: 1 and 4 both pick Cold (first seen
    # 2024-01-01); 4 holds two of its identifiers and keeps it, 1 holds one and is new
    assert named.to_dict() == {1: c("anonymous_id:a1"), 4: "Cold", 6: "Cx"}


def test_an_erased_person_is_not_rebuilt_on_spark(built: Any, erased: dict[str, Any]) -> None:
    """``percorso lake build`` from the lake's events does not bring them back, and the
    pinned identifiers stay out of every customer (as on DuckDB)."""
    p, s, _rows = built
    assert absent_from(s, erased) == []
    pins = {(a, b) for a, b in s.execute(s.table("identity_pins").select("id_type", "id_value")).itertuples(index=False)}
    m = s.execute(s.table("identity_map").select("id_type", "id_value"))
    assert pins and not pins & set(m.itertuples(index=False, name=None))


@pytest.mark.slow  # ~65 s at load 7: some thirty Spark jobs on a tiny project (the only Spark run where a hub is cut)
def test_a_certain_hub_is_cut_on_spark(spark: Any, tmp_path: Path) -> None:
    """The certain-hub cut (ADR 0044) runs on Spark as on DuckDB: a cookie carrying five
    people's e-mails is cut before the components, and the partition is the resolver's."""
    from percorso.engine.spark import SparkEngine
    from percorso.identity.engine_rules import resolve_in_engine
    from percorso.identity.resolver import resolve
    from percorso.lake import export_lake
    from tests.identity.helpers import add_events, new_project, partition

    p = new_project(tmp_path)
    try:
        rows = [{"source_name": "crm", "crm_id": f"c{i}", "email_key": f"e{i}"} for i in range(6)]
        rows += [{"source_name": "web", "anonymous_id": "kiosk", "email_key": f"e{i}"} for i in range(5)]
        rows += [{"source_name": "web", "anonymous_id": "own", "email_key": "e5"}]
        add_events(p, rows)
        resolve(p, full=True)
        want = partition(p)
        export_lake(p.engine, tmp_path / "lake")
        s = SparkEngine(tmp_path / "lake", session=spark)
        try:
            got = resolve_in_engine(p, s, s.table("events"))
            assert got.solved["certain_hubs"] == 1
            df = s.execute(got.nodes.select("id_type", "id_value", "label"))
            assert {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in df.groupby("label")} == want
            assert frozenset({("anonymous_id", "own"), ("crm_id", "c5"), ("email_key", "e5")}) in want
        finally:
            s.close()
    finally:
        p.close()
