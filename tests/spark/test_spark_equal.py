"""Every listed analysis gives the same answer on Spark (over the lake) as on DuckDB (issue 21).

The oracle is the DuckDB engine on the same project: same rows, numbers equal to 1e-9. The
project is a small generated demo (tests/spark/conftest.py); both engines read what the one
DuckDB build wrote, DuckDB from its file and Spark from the exported Parquet lake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from percorso.analysis.base import run
from percorso.api import (
    AttributionQuery, CohortQuery, FrictionQuery, FunnelQuery, JourneyMapQuery, OmnichannelQuery, PathsQuery,
    RFMQuery, SankeyQuery, TransitionsQuery,
)
from percorso.project import open_project

QUERIES = {
    "paths": PathsQuery(),
    "transitions": TransitionsQuery(),
    "sankey": SankeyQuery(),
    "funnel": FunnelQuery(steps=["page_view", "add_to_cart", "purchase"]),
    "friction": FrictionQuery(),
    "journey_map": JourneyMapQuery(),
    "omnichannel": OmnichannelQuery(),
    "attribution": AttributionQuery(),
    "rfm": RFMQuery(),
    "cohorts": CohortQuery(),
}

#: A segment rule touching every kind of node: behaviours with and without a window, an
#: abandonment, a profile comparison, an RFM field, and/or/not.
SEGMENT_RULE = {"type": "or", "rules": [
    {"type": "and", "rules": [
        {"type": "behaviour", "action": "bought_in_store"},
        {"type": "behaviour", "action": "visited_site", "within_days": 365},
        {"type": "not", "rule": {"type": "behaviour", "action": "bought_online"}},
        {"type": "compare", "field": "consent_marketing", "op": "eq", "value": True}]},
    {"type": "behaviour", "action": "abandoned_cart", "within_days": 90},
    {"type": "compare", "field": "rfm_segment", "op": "in", "value": ["Champions", "Loyal"]}]}


@pytest.fixture(scope="module")
def engines(lake_project: Path, spark: Any) -> Any:
    from percorso.engine.spark import SparkEngine

    with open_project(lake_project, read_only=True, engine="duckdb") as p:
        s = SparkEngine(p.lake_path, session=spark, time_zone=p.settings.project.time_zone, cache=True)
        assert (p.engine.kind, s.kind) == ("duckdb", "spark")   # the oracle really is DuckDB
        yield p, p.engine, s
        s.close()


def same_frame(duck: pd.DataFrame, spark: pd.DataFrame, *, what: str) -> None:
    """Same rows (in any order) and numbers equal to 1e-9; Spark's frame may lack the names
    the lake leaves out."""
    assert set(spark.columns) <= set(duck.columns), what
    cols = list(spark.columns)
    missing = set(duck.columns) - set(cols)
    assert missing <= {"first_name", "last_name", "birth_date"}, (what, missing)
    assert len(duck) == len(spark), (what, len(duck), len(spark))
    assert len(duck) > 0, f"{what}: no rows to compare (the fixture lacks data for it)"
    a = duck[cols].sort_values(cols, kind="stable").reset_index(drop=True)
    b = spark[cols].sort_values(cols, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9, obj=what)


@pytest.mark.parametrize("name", list(QUERIES))
def test_analysis_same_on_spark(engines: Any, name: str) -> None:
    project, duck, spark = engines
    query = QUERIES[name]
    same_frame(run(duck, query, project.settings).to_frame(), run(spark, query, project.settings).to_frame(),
               what=name)


def test_segment_members_same_on_spark(engines: Any) -> None:
    from percorso.value.segments.compile import members_expr
    from percorso.value.segments.definition import parse_rule

    project, duck, spark = engines
    rule = parse_rule(SEGMENT_RULE)
    same_frame(duck.execute(members_expr(duck, rule, project.settings)),
               spark.execute(members_expr(spark, rule, project.settings)), what="segment members")


def test_clv_summary_same_on_spark(engines: Any) -> None:
    """The CLV fit's inputs (per-customer summary, and the grouped sufficient statistics)."""
    import numpy as np

    from percorso.value.clv.pipeline import calibration_summary, grouped_summary, last_order_day, summary_expr

    _, duck, spark = engines
    end = last_order_day(duck)
    assert last_order_day(spark) == end
    same_frame(duck.execute(summary_expr(duck, end)), spark.execute(summary_expr(spark, end)), what="clv summary")
    with calibration_summary(duck, end) as a, calibration_summary(spark, end) as b:
        ga, gb = grouped_summary(duck, a, 7.0), grouped_summary(spark, b, 7.0)
    for key in ga:
        np.testing.assert_allclose(ga[key], gb[key], rtol=1e-9, err_msg=key)


def test_identity_partition_same_on_spark(engines: Any) -> None:
    """The used identity links of the generated project: components found in the engine on Spark
    and on DuckDB are scipy's partition, and the partition the resolver stored (identity_map)."""
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_cc

    from percorso.identity.components import connected_components

    project, duck, spark = engines
    links = duck.to_arrow(duck.table("identity_links").filter(lambda t: t.status == "used")
                          .select(a=lambda t: t.id_hash_a.cast("string"), b=lambda t: t.id_hash_b.cast("string")))
    ids = sorted(set(links["a"].to_pylist()) | set(links["b"].to_pylist()))
    num = {h: i for i, h in enumerate(ids)}
    a = [num[h] for h in links["a"].to_pylist()]
    b = [num[h] for h in links["b"].to_pylist()]
    edges = pa.table({"a": pa.array(a, pa.int64()), "b": pa.array(b, pa.int64())})
    _, comp = scipy_cc(coo_matrix(([1] * len(a), (a, b)), shape=(len(ids), len(ids))), directed=False)
    smallest: dict[int, int] = {}
    for node, c in enumerate(comp):
        smallest.setdefault(int(c), node)
    want = {node: smallest[int(c)] for node, c in enumerate(comp)}
    for eng in (duck, spark):
        lab, _ = connected_components(eng, eng.register_arrow("_links", edges))
        got = eng.execute(lab)
        eng.drop_temp(lab)
        assert dict(zip(got["node"].astype(int), got["label"].astype(int), strict=True)) == want
    # the resolver's stored partition groups the linked identifiers the same way
    m = duck.to_arrow(duck.table("identity_map").select(h=lambda t: t.id_hash.cast("string"), c="customer_id"))
    customer = dict(zip(m["h"].to_pylist(), m["c"].to_pylist(), strict=True))
    by_label: dict[int, set[str]] = {}
    for h, node in num.items():
        if h in customer:
            by_label.setdefault(want[node], set()).add(customer[h])
    assert all(len(cs) == 1 for cs in by_label.values())


def test_null_integer_scalar_is_none_on_both(engines: Any) -> None:
    """The max of no rows of an integer column: None on both (Spark's pandas gave NaN, and
    ``int(x or 0)`` failed in cohorts on a project without orders)."""
    _, duck, spark = engines
    for eng in (duck, spark):
        o = eng.table("orders")
        assert eng.execute(o.filter(o.n_lines < 0).n_lines.max()) is None
