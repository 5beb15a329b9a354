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


def test_first_by_keeps_a_null_value(both: Any) -> None:
    """The value at the smallest key, also when it is NULL (not the next row's value)."""
    duck, sp, put = both
    frame = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "c"], "k": [3, 1, 2, 5, 4, 7],
                          "v": ["x", None, "y", "p", "q", None], "n": [1.0, None, 2.0, 3.0, 4.0, None]})
    d, s = put(frame)
    want = {"a": (None, None), "b": ("q", 4.0), "c": (None, None)}
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.group_by("g").aggregate(v=dialect.first_by(t.v, t.k), n=dialect.first_by(t.n, t.k)))
        assert {r.g: (r.v if isinstance(r.v, str) else None, None if r.n != r.n or r.n is None else r.n)
                for r in got.itertuples()} == want


def test_first_and_last_by_with_where(both: Any) -> None:
    """``last_by`` is the value at the largest key, NULL kept; ``where`` leaves out the rows it
    does not hold for (a group with none: NULL). Computed by hand."""
    duck, sp, put = both
    frame = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "c"], "k": [3, 1, 2, 5, 4, 7],
                          "v": ["x", "z", None, None, "q", "w"], "ok": [False, True, True, True, True, False]})
    d, s = put(frame)
    # a: last by k is "x" (k 3); among ok rows (k 1, 2) the last is NULL (k 2), the first "z" (k 1)
    # b: last by k is NULL (k 5), its ok rows the same; first ok row "q" (k 4); c: no ok row
    want = {"a": ("x", None, "z"), "b": (None, None, "q"), "c": ("w", None, None)}
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.group_by("g").aggregate(last=dialect.last_by(t.v, t.k),
                                                    last_ok=dialect.last_by(t.v, t.k, where=t.ok),
                                                    first_ok=dialect.first_by(t.v, t.k, where=t.ok)))
        assert {r.g: tuple(x if isinstance(x, str) else None for x in (r.last, r.last_ok, r.first_ok))
                for r in got.itertuples()} == want


def test_first_after(both: Any) -> None:
    """Each left row with the values of its key's first right row after it (NULLs when none), as
    the definition computes it in Python: random keys and positions, right rows that a left row
    shares a position with (not after it), keys with no right row."""
    duck, sp, put = both
    rng = random.Random(5)
    rows = [{"side": side, "key": rng.randint(0, 6), "pos": pos, "v": f"v{pos}"}
            for pos in rng.sample(range(200), 90) for side in rng.choice([["L"], ["R"], ["L", "R"]])]
    d, s = put(pd.DataFrame(rows))
    lefts = [(r["key"], r["pos"]) for r in rows if r["side"] == "L"]
    rights = [(r["key"], r["pos"], r["v"]) for r in rows if r["side"] == "R"]
    want = set()
    for key, pos in lefts:
        after = sorted((p, v) for k, p, v in rights if k == key and p > pos)
        want.add((key, pos, *(after[0] if after else (None, None))))
    for con, t in ((duck, d), (sp, s)):
        left = t.filter(t.side == "L").select("key", lp=t.pos)
        right = t.filter(t.side == "R").select("key", rp=t.pos, v=t.v)
        got = con.execute(dialect.first_after(left, right, "key", "lp", "rp"))
        assert list(got.columns) == ["key", "lp", "rp", "v"]
        assert {(int(r.key), int(r.lp), None if pd.isna(r.rp) else int(r.rp), None if pd.isna(r.v) else r.v)
                for r in got.itertuples()} == want
        assert len(got) == len(lefts)


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


#: JSON property texts and what each type reads, by hand: a value of another JSON type (a
#: number read as text, a string read as a number), a JSON null, a missing key, a nested
#: object, a non-object and no text at all read NULL.
JSON_CASES = [
    ('{"k": "Google"}', {"string": "Google", "int64": None, "float64": None, "boolean": None}),
    ('{"k": 12}', {"string": None, "int64": 12, "float64": 12.0, "boolean": None}),
    ('{"k": 1.5}', {"string": None, "int64": None, "float64": 1.5, "boolean": None}),
    ('{"k": true, "j": "x"}', {"string": None, "int64": None, "float64": None, "boolean": True}),
    ('{"k": null}', {"string": None, "int64": None, "float64": None, "boolean": None}),
    ('{"j": "k"}', {"string": None, "int64": None, "float64": None, "boolean": None}),
    ('{"k": {"a": 1}}', {"string": None, "int64": None, "float64": None, "boolean": None}),
    ('{"k": "12"}', {"string": "12", "int64": None, "float64": None, "boolean": None}),
    ("[1, 2]", {"string": None, "int64": None, "float64": None, "boolean": None}),
    (None, {"string": None, "int64": None, "float64": None, "boolean": None}),
]


@pytest.mark.parametrize("type_name", ["string", "int64", "float64", "boolean"])
def test_json_value(both: Any, type_name: str) -> None:
    duck, sp, put = both
    d, s = put(pd.DataFrame({"i": range(len(JSON_CASES)), "p": [c[0] for c in JSON_CASES]}))
    want = [c[1][type_name] for c in JSON_CASES]
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.select("i", v=dialect.json_value(t.p, "k", type_name)).order_by("i"))["v"].tolist()
        assert [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in got] == want, con.name


def oracle_item_counts(items: str | None) -> tuple[int, float]:
    """Lines of the array and the sum of the quantities that read as numbers (slow, obvious)."""
    import json

    if items is None:
        return 0, 0.0
    lines = json.loads(items)
    total = 0.0
    for line in lines:
        try:
            total += float(line.get("qty"))
        except (TypeError, ValueError):
            pass
    return len(lines), total


def test_order_item_counts(both: Any) -> None:
    duck, sp, put = both
    items = ['[{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1.5}]', '[{"sku": "a"}]', "[]",
             '[{"qty": "3"}, {"qty": "x"}, {"qty": null}]', None, '[{"qty": 1}]']
    d, s = put(pd.DataFrame({"i": range(len(items)), "items": items}))
    want = [oracle_item_counts(x) for x in items]
    for con, t in ((duck, d), (sp, s)):
        n_lines, n_items = dialect.order_item_counts(t["items"])
        got = con.execute(t.select("i", a=n_lines, b=n_items).order_by("i"))
        assert list(zip(got["a"].astype(int), got["b"].astype(float), strict=True)) == want, con.name


def test_json_text(both: Any) -> None:
    duck, sp, put = both
    d, s = put(pd.DataFrame({"g": ["a", "a", "b"], "v": ["C2", "C1", "Cx\"y"]}))
    want = {"a": '["C1","C2"]', "b": '["Cx\\"y"]'}
    for con, t in ((duck, d), (sp, s)):
        got = con.execute(t.group_by("g").aggregate(j=dialect.json_text(dialect.ordered_collect(t.v, [t.v]))))
        assert dict(zip(got["g"], got["j"], strict=True)) == want, con.name


def test_identifier_key(both: Any, spark: Any) -> None:
    """The identifier's 64-bit key: DuckDB's is the resolver's ``hash(rank::UTINYINT, value)``,
    Spark's ``xxhash64(rank, value)`` (rank: the type's alphabetical position among the
    identifier columns, from a Python oracle); distinct identifiers get distinct keys on each,
    the same value under two types too."""
    from pyspark.sql import functions as F

    from percorso.events.schema import IDENTIFIER_COLUMNS

    rank = {c: i for i, c in enumerate(sorted(IDENTIFIER_COLUMNS))}
    rows = [(k, v) for k in ("anonymous_id", "user_id", "email_key") for v in ("x", "42", "è-ü", "")]
    duck, sp, put = both
    d, s = put(pd.DataFrame({"id_type": [k for k, _ in rows], "id_value": [v for _, v in rows]}))
    got = {}
    for name, con, t in (("duckdb", duck, d), ("spark", sp, s)):
        df = con.execute(t.mutate(h=dialect.identifier_key(t.id_type, t.id_value)))
        keys = {(r.id_type, r.id_value): r.h for r in df.itertuples()}
        assert len({int(h) for h in keys.values()}) == len(rows), name
        got[name] = keys
    want_duck = {kv: int(duck.raw_sql(f"SELECT hash({rank[kv[0]]}::UTINYINT, '{kv[1]}')").fetchone()[0]) for kv in rows}
    assert {kv: int(h) for kv, h in got["duckdb"].items()} == want_duck
    sdf = spark.createDataFrame([(rank[k], v) for k, v in rows], "k int, v string")
    want_spark = {(rows[i][0], r.v): r.h for i, r in enumerate(sdf.select("v", F.xxhash64("k", "v").alias("h")).collect())}
    assert {kv: int(h) for kv, h in got["spark"].items()} == want_spark
