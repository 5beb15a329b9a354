"""Spark in local mode for the tests: one session per test run, a small demo project and its lake.

Why one session: a JVM start costs seconds, Spark allows one session per process anyway.
``local[2]`` with one shuffle partition keeps the small data in few tasks (DESIGN.md §2: CI
asserts Spark's answers, not its speed). Without Java or pyspark the tests skip, saying so.
"""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="session")
def lake_project(tmp_path_factory: pytest.TempPathFactory, spark: object) -> Path:
    """A small generated demo (built on DuckDB) with its lake exported in ``<project>/lake``."""
    from percorso.demo import run_demo
    from percorso.lake import export_lake
    from percorso.project import open_project

    folder = tmp_path_factory.mktemp("spark") / "demo"
    run_demo(folder, customers=250, seed=7)
    with open_project(folder, read_only=True) as p:
        export_lake(p.engine, p.lake_path)
    return folder
