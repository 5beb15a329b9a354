"""``--engine spark`` from the command line, and the Spark engine's one-line refusals (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from percorso.cli import app
from percorso.testing import cli_error


def test_engine_spark_gives_duckdbs_answer(lake_project: Path, spark: Any) -> None:
    """The same command, JSON out, on both engines: the same rows and numbers."""
    runner = CliRunner()
    args = ["rfm", "-p", str(lake_project), "-f", "json"]
    duck = runner.invoke(app, args)
    on_spark = runner.invoke(app, ["--engine", "spark", *args])
    assert duck.exit_code == 0, duck.output
    assert on_spark.exit_code == 0, on_spark.output
    a, b = json.loads(duck.stdout), json.loads(on_spark.stdout)
    assert len(a) == len(b) > 0
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            if isinstance(ra[k], float):
                assert abs(ra[k] - rb[k]) <= 1e-9 * max(1.0, abs(ra[k])), k
            else:
                assert ra[k] == rb[k], k


def test_writes_are_refused_on_spark(lake_project: Path, spark: Any) -> None:
    from percorso.errors import EngineError
    from percorso.project import open_project

    with open_project(lake_project, engine="spark") as p:
        assert p.engine.kind == "spark"
        try:
            p.engine.create_table("x", None)
        except EngineError as exc:
            assert exc.code == "spark_read_only" and "--engine duckdb" in str(exc)
        else:
            raise AssertionError("a write on Spark must be refused")


def test_no_lake_says_what_to_do(tmp_path: Path, spark: Any) -> None:
    from percorso.project import init_project

    init_project(tmp_path / "p")
    res = CliRunner().invoke(app, ["--engine", "spark", "rfm", "-p", str(tmp_path / "p")])
    code, message, _ = cli_error(res)
    assert code == "not_found" and "percorso lake export" in message


def test_unknown_engine(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["--engine", "sparkk", "rfm", "-p", str(tmp_path)])
    code, message, _ = cli_error(res)
    assert code == "input_invalid" and "duckdb, spark" in message


def test_lake_build_without_events_says_what_to_do(lake_project: Path, tmp_path: Path, spark: Any) -> None:
    """A lake without the raw events has nothing to build from: one line. (A successful
    ``lake build`` from the command line: ``tests/spark/test_spark_build.py``.)"""
    import shutil

    from percorso.lake import drop_tables

    copy = tmp_path / "p"
    shutil.copytree(lake_project, copy)
    drop_tables(copy / "lake", ("events",))
    res = CliRunner().invoke(app, ["lake", "build", "-p", str(copy)])
    code, message, _ = cli_error(res)
    assert code == "lake_incomplete" and "'events'" in message and "lake export" in message
