"""Privacy on Spark (ADR 0044): an erased person is in no Spark result, and consent is applied.

The project (``lake_project`` in conftest.py) had its lake exported, then six people erased on
DuckDB: the erasure brings the lake up to date itself. Their customer ids and identifiers
(taken before the erasure) must be in no table Spark reads and in no customer-level answer;
the tables ``percorso lake build`` computes on Spark, and the same partition as DuckDB's
(consent, pins), are checked in ``test_spark_build.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.spark.conftest import absent_from


def test_the_erasure_updated_the_lake(lake_project: Path, spark: Any, erased: dict[str, Any]) -> None:
    from percorso.engine.spark import SparkEngine
    from percorso.project import open_project

    report = erased["report"]
    assert len(erased["customers"]) == 6 and len(erased["identifiers"]) >= 6
    assert report["lakes_updated"] == [str(lake_project / "lake")]
    assert report["identifiers_kept_flagged"] > 0 and report["events_deleted"] > 0
    with open_project(lake_project, read_only=True, engine="duckdb") as p:
        s = SparkEngine(lake_project / "lake", session=spark, time_zone=p.settings.project.time_zone)
        try:
            assert absent_from(s, erased) == []
            # the pins are in the lake by identifier (Spark keys identifiers its own way), and
            # the analytics consent records the rules apply
            pins = s.execute(s.table("identity_pins").select("id_type", "id_value"))
            want = p.engine.query("SELECT n.id_type, n.id_value FROM identity_pins JOIN identity_identifiers n "
                                  "USING (id_hash)").to_pylist()
            assert len(pins) > 0
            assert set(pins.itertuples(index=False, name=None)) == {(r["id_type"], r["id_value"]) for r in want}
            ch = s.table("consent_history")
            assert int(s.execute(ch.filter(ch.purpose == "analytics").count())) > 100
            # and on the DuckDB side the same identifiers are gone (the oracle of absence)
            assert absent_from(p.engine, erased) == []
        finally:
            s.close()


def test_no_segment_names_an_erased_person(lake_project: Path, spark: Any, erased: dict[str, Any]) -> None:
    """Customer-level answers on Spark over the lake (segment members: everyone who visited,
    and the rule touching every kind of node) hold none of their customer ids."""
    from percorso.engine.spark import SparkEngine
    from percorso.project import open_project
    from percorso.value.segments.compile import members_expr
    from percorso.value.segments.definition import parse_rule
    from tests.spark.test_spark_equal import SEGMENT_RULE

    with open_project(lake_project, read_only=True, engine="duckdb") as p:
        s = SparkEngine(p.lake_path, session=spark, time_zone=p.settings.project.time_zone)
        try:
            for rule in ({"type": "behaviour", "action": "visited_site"}, SEGMENT_RULE):
                members = s.execute(members_expr(s, parse_rule(rule), p.settings))
                assert len(members) > 0
                assert not set(members["customer_id"]) & set(erased["customers"])
        finally:
            s.close()
