"""Each construct of :mod:`percorso.engine.dialect` (and the local calendar) gives the same values
on Spark as on DuckDB, and both match a slow obvious Python oracle (issue 21)."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pandas as pd
import pytest

from percorso.engine import dialect
from percorso.engine.localtime import to_local

QUANTILES = ("0.2", "0.4", "0.6", "0.8")


@pytest.fixture(scope="module")
def both(spark: Any) -> Any:
    """(DuckDB, Spark) Ibis backends; ``put(frame)`` loads a frame into both as table ``t``."""
    duck = ibis.duckdb.connect()
    sp = ibis.pyspark.connect(spark)

    def put(frame: pd.DataFrame) -> tuple[Any, Any]:
        duck.con.register("t_src", frame)
        duck.raw_sql("CREATE OR REPLACE TABLE t AS SELECT * FROM t_src")
        spark.createDataFrame(frame).createOrReplaceTempView("t")
        return duck.table("t"), sp.table("t")

    return duck, sp, put


def oracle_order_statistics(values: list[float], quantiles: tuple[str, ...]) -> list[float] | None:
    """Position max(ceil(n·q), 1) − 1 of the sorted non-null values (the definition)."""
    xs = sorted(v for v in values if v is not None and not math.isnan(v))
    if not xs:
        return None
    out = []
    for q in quantiles:
        m = round(float(q) * 1000)
        pos = max(-(-len(xs) * m // 1000), 1) - 1   # integer ceil
        out.append(xs[pos])
    return out


def test_order_statistics(both: Any) -> None:
    """Columns of 1–101 values with many ties, one group each, against the oracle."""
    duck, sp, put = both
    rng = random.Random(3)
    sizes = (1, 2, 3, 5, 7, 10, 13, 101)
    groups = {n: [float(rng.randint(0, 9)) for _ in range(n)] for n in sizes}
    d, s = put(pd.DataFrame({"n": [n for n in sizes for _ in range(n)], "x": [v for n in sizes for v in groups[n]]}))
    want = {n: oracle_order_statistics(groups[n], QUANTILES) for n in sizes}
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.group_by("n").aggregate(q=dialect.order_statistics(t.x, QUANTILES)))
        assert {int(r.n): list(r.q) for r in got.itertuples()} == want


def test_order_statistics_skip_nulls_and_empty(both: Any) -> None:
    duck, sp, put = both
    d, s = put(pd.DataFrame({"x": [None, 3.0, 1.0, None, 2.0], "g": ["a"] * 5}))
    for con, t in ((duck, d), (sp, s)):
        # non-null values 1, 2, 3: position max(ceil(3 × 0.4), 1) − 1 = 1
        assert list(con.execute(t.aggregate(q=dialect.order_statistics(t.x, ("0.4",))))["q"][0]) == [2.0]
        empty = con.execute(t.filter(t.g == "zz").aggregate(q=dialect.order_statistics(t.x, ("0.4",))))["q"][0]
        assert empty is None or (isinstance(empty, float) and math.isnan(empty))


def test_epoch_seconds_keeps_the_fraction(both: Any) -> None:
    duck, sp, put = both
    times = [datetime(2024, 1, 1, 0, 0, 0, 476_000), datetime(2024, 1, 1, 0, 0, 14, 1),
             datetime(1999, 12, 31, 23, 59, 59, 999_999), datetime(2024, 10, 27, 1, 30)]
    d, s = put(pd.DataFrame({"i": range(len(times)), "t": times}))
    want = [(t - datetime(1970, 1, 1)) / timedelta(microseconds=1) / 1e6 for t in times]
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.select("i", e=dialect.epoch_seconds(t.t)).order_by("i"))["e"].tolist()
        assert got == pytest.approx(want, rel=1e-15, abs=1e-9)
    # the reason for the twin: Ibis's own epoch_seconds drops the fraction on Spark
    plain = sp.execute(s.select("i", e=s.t.epoch_seconds()).order_by("i"))["e"].tolist()
    assert plain[0] != pytest.approx(want[0], abs=1e-3)


def test_ordered_collect(both: Any) -> None:
    duck, sp, put = both
    frame = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "b"], "k1": [3, 1, 2, 2, 2, 1],
                          "k2": ["x", "y", "z", "b", "a", "q"], "v": ["c", None, "b", "e", "d", "f"]})
    d, s = put(frame)
    want = {"a": ["b", "c"], "b": ["f", "d", "e"]}   # by (k1, k2), nulls left out
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.group_by("g").aggregate(c=dialect.ordered_collect(t.v, [t.k1, t.k2])))
        assert {r.g: list(r.c) for r in got.itertuples()} == want


@pytest.mark.parametrize("zone", ["Europe/Rome", "America/New_York", "Pacific/Auckland"])
def test_to_local_both_engines(both: Any, zone: str) -> None:
    """Wall time in ``zone`` around both DST changes of 2024, as zoneinfo computes it."""
    duck, sp, put = both
    base = [datetime(2024, 3, 30, 22), datetime(2024, 10, 26, 22), datetime(2024, 4, 6, 12), datetime(2024, 9, 28, 12),
            datetime(2024, 11, 2, 4), datetime(2024, 3, 9, 4)]
    times = [b + timedelta(minutes=20 * i) for b in base for i in range(0, 24)]
    d, s = put(pd.DataFrame({"i": range(len(times)), "t": times}))
    want = [t.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).replace(tzinfo=None) for t in times]
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.select("i", w=to_local(t.t, zone)).order_by("i"))["w"]
        assert [x.to_pydatetime() for x in got] == want
