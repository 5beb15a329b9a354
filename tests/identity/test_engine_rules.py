"""The resolver's rules in Ibis (ADR 0039) give the resolver's answer, on DuckDB.

The oracle is :func:`percorso.identity.resolver.resolve` (SQL plus the numpy round solver) on
the same generated demo: the Ibis run (what ``percorso lake build`` runs on Spark, checked
there by ``tests/spark/test_spark_build.py``) must find the same customers, as sets of
identifiers, and give every event the same key identifier. The demo has links the rules refuse
(hub flags, untrusted merges) and a device link, so a rule left out would show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.identity.engine_rules import resolve_in_engine
from percorso.project import open_project


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from percorso.demo import run_demo

    folder = tmp_path_factory.mktemp("rules") / "demo"
    run_demo(folder, customers=250, seed=7)
    return folder


def test_same_customers_and_event_keys_as_the_resolver(demo: Path) -> None:
    with open_project(demo, read_only=True) as p:
        e = p.engine
        refused = e.con.execute("SELECT count(*) FROM identity_links WHERE status <> 'used'").fetchall()[0][0]
        devices = e.con.execute("SELECT count(*) FROM identity_device_links").fetchall()[0][0]
        assert refused > 0 and devices > 0
        got = resolve_in_engine(p, e, e.table("events"))
        mine = e.execute(got.nodes.select("id_type", "id_value", "label"))
        ref = e.execute(e.table("identity_map").select("id_type", "id_value", "customer_id"))
        groups = {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in mine.groupby("label")}
        want = {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in ref.groupby("customer_id")}
        assert groups == want
        keys = e.execute(got.event_keys.join(got.nodes, "id_hash").select("event_id", "id_type", "id_value"))
        ec = e.table("event_customers")
        ref_keys = e.execute(ec.filter(ec.id_hash.notnull()).select("event_id", "id_type", "id_value"))
        assert set(map(tuple, keys.to_numpy())) == set(map(tuple, ref_keys.to_numpy()))
        # on DuckDB the key is the resolver's own
        assert set(e.execute(got.nodes.id_hash).astype("uint64")) == set(e.execute(e.table("identity_map").id_hash))


def test_analytics_consent_records_are_refused_not_ignored(project: object) -> None:
    """Stitching by analytics consent records is DuckDB-only: a lake holding one stops the build
    on Spark with one line (under the default basis, legitimate interest); other purposes do not."""
    from percorso.build.lake_build import _refuse_consent_stitching
    from percorso.engine import privacy_sql
    from percorso.errors import EngineError

    e = project.engine  # type: ignore[attr-defined]
    privacy_sql.ensure_tables(e)
    cols = e.columns("consent_history")
    row = {c: None for c in cols} | {"purpose": "email", "subject_type": "anonymous_id", "subject_value": "a1",
                                      "granted": False}
    e.con.execute(f"INSERT INTO consent_history ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                  list(row.values()))
    _refuse_consent_stitching(project, e)   # an e-mail record: nothing to refuse
    e.con.execute("UPDATE consent_history SET purpose = 'analytics'")
    with pytest.raises(EngineError) as err:
        _refuse_consent_stitching(project, e)
    assert err.value.code == "spark_identity_consent" and "DuckDB" in str(err.value)
