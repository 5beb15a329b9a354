"""Spark in local mode for the tests: one session per test run, a small demo project and its lake.

Why one session: a JVM start costs seconds, Spark allows one session per process anyway.
``local[2]`` with one shuffle partition keeps the small data in few tasks (DESIGN.md §2: CI
asserts Spark's answers, not its speed). Without Java or pyspark the tests skip, saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from percorso.engine.spark import java_home

#: Settings of the test session: few tasks for little data. Adaptive execution and code
#: generation off: on kilobytes they cost more than they save (measured on the shared box, load
#: 15-18, same session: friction 41.9 -> 19.3 s, paths 12.9 -> 5.6 s, omnichannel 20.6 -> 9.2 s);
#: a cluster keeps Spark's defaults.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.driver.memory": "1g",
    "spark.sql.files.maxPartitionBytes": "64m",
}


def _skip_reason() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'percorso[spark]'; make test installs it)"
    if java_home() is None:
        return "no Java: Spark needs a JDK 17 (set JAVA_HOME or put java on the PATH)"
    return None


@pytest.fixture(scope="session")
def spark() -> object:
    """The test run's Spark session (local[2])."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from percorso.engine.spark import spark_session

    return spark_session("local[2]", TEST_CONF)


#: Written next to the project by :func:`lake_project`: who was erased after the export.
ERASED_FILE = "erased.json"
#: What a build writes into the lake besides the identity map; a ``lake build`` copy starts
#: without any of it. The exported ``identity_map`` stays as the previous map, as a DuckDB
#: rebuild has one: the erasure's rebuild named its customers from the map before it.
DERIVED = ("touchpoints", "orders", "customers", "identity_graph", "identity_nodes", "event_keys")


@pytest.fixture(scope="session")
def lake_project(tmp_path_factory: pytest.TempPathFactory, spark: object) -> Path:
    """A small generated demo (built on DuckDB) with its lake exported in ``<project>/lake``.

    Privacy is switched on so that Spark must apply it (ADR 0044): analytics rests on consent
    (opt-in) and some cookies and users have withheld or late consent
    (:func:`tests.identity.helpers.add_analytics_consent`); after the export six people whose
    events carry others' shared identifiers are erased, which pins those identifiers and
    brings the lake up to date. Their ids and identifiers are in ``<tmp>/erased.json``.
    """
    import json

    from percorso.build import run_build
    from percorso.demo import run_demo
    from percorso.lake import export_lake
    from percorso.privacy.erasure import erase
    from percorso.project import open_project
    from tests.identity.helpers import add_analytics_consent, flagged_sharers

    folder = tmp_path_factory.mktemp("spark") / "demo"
    run_demo(folder, customers=250, seed=7)
    toml = folder / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[privacy.legal_basis]\nanalytics = "consent"\n',
                    encoding="utf-8")
    with open_project(folder) as p:
        add_analytics_consent(p)
        run_build(p, full=True, refresh=False)
        export_lake(p.engine, p.lake_path)
        erased = flagged_sharers(p, 6)
        # their identifiers but order ids: an order kept for the tax law keeps its id, with
        # nobody on it (ADR 0025), so an order id is no person's identifier after the erasure
        ids = p.engine.query("SELECT id_type, id_value FROM identity_map WHERE customer_id IN "
                             "(SELECT unnest(?::VARCHAR[])) AND id_type <> 'order_id'", [erased]).to_pylist()
        report = erase(p, erased, rewrite=False)
    (folder.parent / ERASED_FILE).write_text(json.dumps({
        "customers": erased, "identifiers": [[r["id_type"], r["id_value"]] for r in ids],
        "report": report.to_dict()}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def built(lake_project: Path, spark: object, tmp_path_factory: pytest.TempPathFactory) -> object:
    """(DuckDB project, Spark engine over a copy's lake after ``percorso lake build``, rows per table).

    Module-scoped: it holds the project's database open, which a CLI test in another module
    must be able to open with its own settings; one module (``test_spark_build.py``) uses it.

    The copy's lake keeps what ingest wrote (events, contact profiles, consent records,
    campaign costs), the erasure pins and the identity map as the previous map (names only:
    the partition is computed from the events); ``percorso lake build`` (the CLI) computes
    the rest.
    """
    import json
    import shutil

    from typer.testing import CliRunner

    from percorso.cli import app
    from percorso.engine.spark import SparkEngine
    from percorso.lake import drop_tables
    from percorso.project import open_project

    copy = tmp_path_factory.mktemp("spark-build") / "p"
    shutil.copytree(lake_project, copy)
    drop_tables(copy / "lake", DERIVED)
    res = CliRunner().invoke(app, ["lake", "build", "-p", str(copy), "-f", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["table"]: r["rows"] for r in json.loads(res.stdout)}
    with open_project(lake_project, read_only=True, engine="duckdb") as p:
        s = SparkEngine(copy / "lake", session=spark, time_zone=p.settings.project.time_zone)
        yield p, s, rows
        s.close()


#: lake tables and the columns that name a person by customer id
CUSTOMER_COLUMNS = {"customers": "customer_id", "identity_map": "customer_id", "touchpoints": "customer_id",
                    "orders": "customer_id"}
#: lake tables and the identifier columns they carry
ID_COLUMNS = ("anonymous_id", "device_id", "user_id", "email_key", "phone_key", "loyalty_card", "crm_id",
              "tax_code_key")


@pytest.fixture(scope="module")
def erased(lake_project: Path) -> dict[str, Any]:
    """Who :func:`lake_project` erased after the export: customer ids, identifiers, the report."""
    import json

    return json.loads((lake_project.parent / ERASED_FILE).read_text(encoding="utf-8"))


def absent_from(engine: Any, who: dict[str, Any]) -> list[str]:
    """Where the erased people still are in ``engine``'s lake tables (empty: nowhere)."""
    ids = {(t, v) for t, v in who["identifiers"]}
    values = {v for _, v in ids}
    found = []
    for name, col in CUSTOMER_COLUMNS.items():
        t = engine.table(name)
        n = int(engine.execute(t.filter(t[col].isin(who["customers"])).count()))
        if n:
            found.append(f"{name}.{col}: {n}")
    for name in ("events", "touchpoints", "contact_profiles"):
        t = engine.table(name)
        for col in [c for c in ID_COLUMNS if c in t.columns]:
            df = engine.execute(t.filter(t[col].isin(sorted(values))).select(col).distinct())
            hit = [v for v in df[col] if (col, v) in ids]
            if hit:
                found.append(f"{name}.{col}: {len(hit)}")
    for name, typ, val in (("identity_map", "id_type", "id_value"), ("consent_history", "subject_type", "subject_value")):
        df = engine.execute(engine.table(name).select(typ, val))
        n = sum((a, b) in ids for a, b in zip(df[typ], df[val], strict=True))
        if n:
            found.append(f"{name}: {n}")
    return found
