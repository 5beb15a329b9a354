"""Spark-backed engine: the analyses' Ibis code on Ibis's PySpark backend over the lake.

Why a second engine class and not a flag on :class:`~percorso.engine.backend.Engine`: the
analyses need only the reading half of an engine (``table``, ``execute``, ``temp_table``…),
and on Spark that half reads the Parquet lake written by :func:`percorso.lake.export_lake`
(DESIGN.md §2). Writing is DuckDB's: a project is ingested and built on its database,
exported to the lake, and analysed on a cluster; every write method here refuses with
what to do instead.

``pyspark`` is imported only inside this module and only when a :class:`SparkEngine` is
created, so the embedded DuckDB path never imports it nor needs Java. One Spark session per
process (Spark's own rule), made on first use and shared by every engine of the process.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from percorso.errors import ConfigError, EngineError, NotFound

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

#: Settings every percorso query needs, set on the session even when it already runs (a
#: notebook's): stored times are naive UTC and must stay so; partition values stay strings (a
#: source named ``2024`` is not a number); Parquet timestamps without zone read as such.
REQUIRED_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.ansi.enabled": "false",
}
#: Defaults of a session percorso creates (``[engine.spark]`` overrides them): a small shuffle
#: for one box, no web UI or progress bars on the command's output, Arrow transfers.
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.files.openCostInBytes": "65536",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def java_home() -> str | None:
    """The Java installation Spark will use (``JAVA_HOME`` or ``java`` on the PATH), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return home
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else None


def _require_spark() -> Any:
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("[engine] kind = \"spark\" needs the Spark extra: pip install 'percorso[spark]' "
                          "(and Java 17)", code="spark_missing") from exc
    if java_home() is None:
        raise ConfigError("[engine] kind = \"spark\" needs Java 17: install a JDK 17 and set JAVA_HOME "
                          "(or put `java` on the PATH)", code="spark_missing")
    return SparkSession


def spark_session(master: str = "local[2]", conf: dict[str, str] | None = None) -> Any:
    """The process's Spark session (made once; later calls get the same one).

    ``master`` is ``local[N]`` (this machine, N cores), ``spark://host:7077`` / ``yarn`` /
    ``k8s://…`` (a cluster, usually through ``spark-submit``), or ``sc://host:15002`` for
    Spark Connect (a thin client; docs/scale.md).
    """
    session_cls = _require_spark()
    settings = {**DEFAULT_CONF, **(conf or {}), **REQUIRED_CONF}
    if master.startswith("sc://"):
        builder = session_cls.builder.remote(master)
        settings = {k: v for k, v in settings.items() if not k.startswith("spark.ui")}
    else:
        builder = session_cls.builder.master(master).appName("percorso")
        if java_home() and not os.environ.get("JAVA_HOME"):
            os.environ["JAVA_HOME"] = java_home() or ""
        if master.startswith("local"):
            # Python workers (the identity solver per component) run this interpreter, which has
            # percorso and numpy; a cluster's executors name theirs (docs/scale.md)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not master.startswith("sc://"):
        session.sparkContext.setLogLevel("ERROR")   # Spark's warnings would fill the command's stderr
    # a session that already ran keeps its own settings, except what correctness needs and what
    # the caller asked for explicitly
    for key, value in {**(conf or {}), **REQUIRED_CONF}.items():
        if key.startswith("spark.sql."):
            try:
                session.conf.set(key, value)
            except Exception:   # a static setting of an already running session: keep it  # noqa: BLE001
                pass
    return session


class SparkEngine:
    """A project's lake read through Spark, with the reading interface of :class:`Engine`.

    Parameters
    ----------
    lake
        Folder written by ``percorso lake export`` (holds ``_percorso_lake.json``).
    master, conf
        Spark master URL and settings (``[engine] master`` and ``[engine.spark]``).
    time_zone
        The project's time zone (local days were computed by the build into ``*_local``).
    session
        An existing Spark session to use (tests share one per test run).
    cache
        Keep each lake table in the executors' memory once read (small lakes, tests, a notebook
        asking many questions); off by default, since a cluster's lake does not fit in memory.
    """

    kind = "spark"
    read_only = True

    def __init__(self, lake: str | Path, *, master: str = "local[2]", conf: dict[str, str] | None = None,
                 time_zone: str = "UTC", session: Any = None, cache: bool = False) -> None:
        from percorso.lake import read_manifest

        self.lake = Path(lake)
        self.path = str(self.lake)
        self.time_zone = time_zone
        self.master = master
        self._conf = dict(conf or {})
        if not (self.lake / "_percorso_lake.json").exists():
            raise NotFound(f"no lake at {self.lake}: run `percorso lake export --out {self.lake}` first "
                           "(on the DuckDB engine)")
        self.manifest = read_manifest(self.lake)
        self._session = session
        self._cache = cache
        self._ibis: Any = None
        self._views: set[str] = set()
        self._temps: dict[str, Any] = {}

    # -- session ----------------------------------------------------------------------
    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = spark_session(self.master, self._conf)
        return self._session

    @property
    def ibis(self) -> Any:
        if self._ibis is None:
            self._ibis = ibis.pyspark.connect(self.session)
        return self._ibis

    def facts(self, kind: str) -> dict[Any, Any]:
        """As :meth:`percorso.engine.backend.Engine.facts`, never kept: the lake may be exported
        again while a session reads it."""
        return {}

    def close(self) -> None:
        """Drop this engine's cached temporary tables; the session stays for the process."""
        for name in list(self._temps):
            self._drop(name)
        self._ibis = None

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        return name in self.manifest["tables"] or name in self._temps

    def existing(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` :meth:`has_table` finds (:meth:`Engine.existing`)."""
        return {n for n in names if self.has_table(n)}

    def _view(self, name: str) -> None:
        """Expose the lake's ``name`` as a Spark view with the database's columns, in order."""
        if name in self._views:
            return
        entry = self.manifest["tables"][name]
        reader = self.session.read.option("basePath", str(self.lake / name))
        df = reader.parquet(str(self.lake / name))
        df = df.select(*[c for c, _ in entry["columns"]])   # partition keys back in place, no month
        if self._cache:
            df = df.cache()
        df.createOrReplaceTempView(name)
        self._views.add(name)

    def table(self, name: str) -> Any:
        """Ibis table expression over the lake's ``name``."""
        if not self.has_table(name):
            raise NotFound(f"table '{name}' is not in the lake {self.lake} (percorso lake export writes "
                           f"{', '.join(sorted(self.manifest['tables']))}; analyses that need other tables "
                           "run on DuckDB)")
        if name not in self._temps:
            self._view(name)
        return self.ibis.table(name)

    def columns(self, name: str) -> list[str]:
        if name in self._temps:
            return list(self.ibis.table(name).columns)
        return [c for c, _ in self.manifest["tables"][name]["columns"]]

    def enumerations(self, name: str) -> dict[str, tuple[str, ...]]:
        """None of the lake's columns is an enumeration (:meth:`Engine.enumerations`): Parquet
        holds their text."""
        return {}

    def execute(self, expr: Any) -> pd.DataFrame:
        out = self.ibis.execute(expr)
        return _null_scalar(expr, out)

    def to_arrow(self, expr: Any) -> pa.Table:
        return self.ibis.to_pyarrow(expr)

    def rows(self, expr: Any) -> list[dict[str, Any]]:
        """Rows as dicts, as :meth:`percorso.engine.Engine.rows`."""
        return self.to_arrow(expr).to_pylist()

    def scalar(self, expr: Any) -> Any:
        return self.execute(expr)

    def count(self, name: str) -> int:
        if not self.has_table(name):
            return 0
        return int(self.execute(self.table(name).count()))

    def compile(self, expr: Any) -> str:
        return str(ibis.to_sql(expr, dialect="pyspark"))

    def temp_table(self, expr: Any) -> Any:
        """Compute ``expr`` (or the SQL :meth:`compile` made of one) once, now, kept in the
        executors, as a temporary view.

        A local checkpoint, not ``cache()``: it is computed here (eagerly) and its plan is
        cut, so a loop that builds each step on the previous one (the label propagation of
        :mod:`percorso.identity.components`) plans a two-table join every round instead of a
        plan that grows with every round (measured: 1M-event bench identity, docs/scale.md).
        """
        name = f"_tmp_{uuid.uuid4().hex[:12]}"
        sql = expr if isinstance(expr, str) else self.compile(expr)   # SQL compile() made, as Engine's
        df = self.session.sql(sql).localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        self._temps[name] = df
        return self.ibis.table(name)

    def drop_temp(self, table: Any) -> None:
        self._drop(table.get_name())

    def _drop(self, name: str) -> None:
        df = self._temps.pop(name, None)
        if df is not None:
            df.unpersist()
            self.session.catalog.dropTempView(name)
        self._views.discard(name)

    def register_arrow(self, name: str, data: pa.Table) -> Any:
        """Expose a small Arrow table (a model's predictions) as a temporary view."""
        df = self.session.createDataFrame(data.to_pandas())
        df.createOrReplaceTempView(name)
        self._temps[name] = df
        return self.ibis.table(name)

    def unregister(self, name: str) -> None:
        self._drop(name)

    def map_groups(self, left: Any, right: Any, key: str, fn: Any, schema: str) -> Any:
        """``fn(left rows, right rows)`` per value of ``key``, in executor tasks, kept as a view.

        Why: a computation that is sequential inside a group but independent between groups
        (the identity solver on one candidate component, :mod:`percorso.identity.engine_rules`)
        runs where the rows are: the two inputs are shuffled by ``key`` and each group's rows
        reach one Python worker as two Arrow tables (``cogroup().applyInArrow``); nothing is
        collected to the driver. A task holds one group at a time, so the largest group, not
        the total, bounds its memory. ``schema`` is the result's Spark DDL. The result is
        computed now (a local checkpoint, as :meth:`temp_table`).
        """
        lft = self.session.sql(self.compile(left))
        rgt = self.session.sql(self.compile(right))
        out = lft.groupBy(key).cogroup(rgt.groupBy(key)).applyInArrow(fn, schema)
        name = f"_tmp_{uuid.uuid4().hex[:12]}"
        df = out.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        self._temps[name] = df
        return self.ibis.table(name)

    # -- the Spark build's output ------------------------------------------------------
    def stage_table(self, name: str, expr: Any, staging: Path, partition_by: tuple[str, ...] = ()) -> Any:
        """Write ``expr`` as Parquet under ``staging/name`` and read it back as view ``name``.

        Why written and read back rather than cached: each build step reads the previous
        step's output once more (orders from touchpoints, customers from both); a written
        table is computed once and survives an executor's loss, as a cache does not. The
        folder becomes part of the lake only by :func:`percorso.lake.install_staged`, after
        every step succeeded. ``month`` (the UTC month of ``occurred_at``) is added for a
        table partitioned by it, as the export does.
        """
        from pyspark.sql import functions as F

        from percorso.engine.lake_sql import MONTH

        df = self.session.sql(self.compile(expr))
        if MONTH in partition_by:
            df = df.withColumn(MONTH, F.date_format(F.col("occurred_at"), "yyyy-MM"))
        writer = df.write.mode("overwrite")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(str(staging / name))
        back = self.session.read.option("basePath", str(staging / name)).parquet(str(staging / name))
        back.select(*[c for c in back.columns if c != MONTH]).createOrReplaceTempView(name)
        self._temps[name] = back
        return self.ibis.table(name)

    def reload(self) -> None:
        """Read the manifest again and forget the views (after the lake changed)."""
        from percorso.lake import read_manifest

        for name in list(self._views):
            self.session.catalog.dropTempView(name)
        self._views.clear()
        self.manifest = read_manifest(self.lake)

    # -- writing: DuckDB's --------------------------------------------------------------
    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise EngineError("the Spark engine reads the lake and writes nothing: ingest, build, fits and saved "
                          "segments run on the DuckDB engine (`--engine duckdb`), then `percorso lake export` "
                          "brings the lake up to date", code="spark_read_only")

    create_table = create_empty_table = append_arrow = insert_expr = drop_table = run = _refuse

    def transaction(self) -> Any:
        self._refuse()


def _null_scalar(expr: Any, value: Any) -> Any:
    """A NULL integer, date or time scalar as None, as DuckDB's backend returns it.

    Why: Spark's pandas conversion turns a NULL ``max()`` of an integer column into ``NaN``;
    ``int(x or 0)`` then failed (cohorts of a project without orders)."""
    import math

    if isinstance(value, float) and math.isnan(value):
        try:
            dtype = expr.type()
        except AttributeError:   # a table, not a scalar
            return value
        if not dtype.is_floating():
            return None
    return value
