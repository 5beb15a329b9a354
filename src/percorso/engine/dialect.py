"""Constructs that Ibis cannot express portably, one named function each, per engine.

Domain code never writes SQL text; when it needs one of these constructs it calls the
function here. Each function looks at the backend its column is bound to and returns
DuckDB's form or its Spark twin (DESIGN.md §2: one definition, a test per backend, in
``tests/engine/test_dialect_spark.py``): the same values on both, to 1e-9.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as dt


def backend_name(expr: Any) -> str:
    """``"duckdb"`` or ``"pyspark"``: the backend an Ibis expression's tables belong to
    (an unbound expression, e.g. over a memtable only, counts as DuckDB, the default)."""
    try:
        return str(expr._find_backend(use_default=False).name)
    except Exception:  # noqa: BLE001 - unbound: Ibis raises its own error types here
        return "duckdb"


@ibis.udf.scalar.builtin(name="unix_micros")
def _unix_micros(ts: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[valid-type]
    """Spark's microseconds since 1970-01-01 UTC (exact, an integer)."""


def epoch_seconds(ts: Any) -> Any:
    """Seconds since 1970-01-01 of a naive-UTC timestamp column, **with** the fraction.

    Why: durations (minutes to the next step, days in a stage) subtract two of these. Ibis's
    ``epoch_seconds`` is DuckDB's ``epoch`` (a DOUBLE keeping microseconds) but Spark's
    ``unix_timestamp``, which truncates to whole seconds: a 14.476-second gap read 14 s
    there and medians differed. The Spark twin divides the exact microsecond count, as
    DuckDB does (``micros / 1e6`` in double precision).
    """
    if backend_name(ts) == "pyspark":
        return _unix_micros(ts.cast(dt.Timestamp(timezone="UTC"))).cast("float64") / 1_000_000.0
    return _epoch(ts.cast("timestamp"))


@ibis.udf.scalar.builtin(name="epoch")
def _epoch(ts: dt.timestamp) -> dt.float64:  # type: ignore[valid-type]
    """DuckDB's ``epoch``: seconds as a DOUBLE, microseconds kept (Ibis types its own
    ``epoch_seconds`` as an integer and a result read alone lost the fraction)."""


def ordered_collect(value: Any, order_by: list[Any]) -> Any:
    """The non-null values of a group as an array, in ``order_by`` order (an aggregate).

    DuckDB collects in order (``list(value ORDER BY …)``). Spark has no ordered aggregate
    (DESIGN.md §2): its twin collects ``struct(key…, value)`` pairs, sorts the array (structs
    compare field by field, keys first) and keeps the values. The keys must order the group's
    rows totally (ties would leave the order to the engine on both).
    """
    if backend_name(value) != "pyspark":
        return value.collect(order_by=order_by)
    fields = {f"k{i}": k for i, k in enumerate(order_by)}
    pairs = ibis.struct({**fields, "v": value}).collect(where=value.notnull()).sort()
    return pairs.map(lambda p: p["v"])


def first_collected(value: Any, key: Any, n: int) -> Any:
    """The first ``n`` non-null values of a group in the order of one integer ``key`` (an aggregate).

    Why: ``ordered_collect(value, [key])[:n]`` collects and sorts every value of the group to
    keep ``n``; DuckDB's top-n ``min_by`` keeps ``n`` per group as it goes (the first 6 steps of
    1M journeys: 0.39 against 1.2-1.4 s). The key must order the group's rows totally. Spark
    has no top-n form: its twin slices the ordered collect.
    """
    if backend_name(value) == "pyspark":
        return ordered_collect(value, [key])[:n]

    def min_by(value: Any, key: Any, n: Any) -> Any:
        """DuckDB's ``min_by(value, key, n)``: the values of the ``n`` smallest keys, in key order
        (declared for the value's type: label texts, or label numbers in ``paths top``)."""

    udf = ibis.udf.agg.builtin(min_by, name="min_by",
                               signature=((value.type(), key.type(), dt.int64), dt.Array(value.type())))
    return udf(value, key, n, where=value.notnull())


def first_by(value: Any, key: Any, where: Any = None) -> Any:
    """The value of the row with the smallest ``key`` of a group (an aggregate), NULL when that
    row's value is NULL; ``where``: only the rows it holds for.

    Why: Ibis compiles ``argmin`` for DuckDB to ``first(value ORDER BY key)``, an ordered
    aggregate that DuckDB runs as ``arg_min_null`` over a sort key it encodes for every row
    (an integer key too: 0.08 s of the customers' 10M-touchpoint aggregate); DuckDB's
    ``arg_min`` keeps the best row as it goes but skips the rows whose value is NULL (a funnel
    step the best entry did not reach would come from another entry), ``arg_min_null`` keeps
    them. Spark's ``min_by`` (Ibis's ``argmin`` there) keeps the row's value as it is. The key
    must order the group's rows totally (on a tie the engine picks).
    """
    return _by(value, key, where, "arg_min_null")


def last_by(value: Any, key: Any, where: Any = None) -> Any:
    """:func:`first_by` for the largest ``key`` (``argmax``; DuckDB's ``arg_max_null``)."""
    return _by(value, key, where, "arg_max_null")


def _by(value: Any, key: Any, where: Any, name: str) -> Any:
    if backend_name(value) == "pyspark":
        return (value.argmin if name == "arg_min_null" else value.argmax)(key, where=where)

    def by(value: Any, key: Any) -> Any:
        """DuckDB's ``arg_min_null`` / ``arg_max_null(value, key)`` (declared for the two columns' types)."""

    udf = ibis.udf.agg.builtin(by, name=name, signature=((value.type(), key.type()), value.type()))
    return udf(value, key, where=where)


def first_after(left: Any, right: Any, key: str, left_pos: str, right_pos: str) -> Any:
    """Each row of ``left`` with the other columns of the first row of ``right`` after it: of the
    same ``key``, the smallest ``right_pos`` above its ``left_pos`` (NULLs when there is none).

    Why: "the next cart after this product view" is a join that keeps one match per row.
    DuckDB's ``ASOF`` join finds it by merging both sides in order, where a join on ``key``
    pairs every row with every later one of its key and a grouping then keeps the smallest
    (10M events, a three-step funnel: the statement 1.67-1.75 -> 1.28-1.38 s). Spark has no
    ``ASOF`` join (Ibis): its twin is that join and grouping, the row's values by their
    position (:func:`first_by`). ``left``'s rows must be distinct; the two tables share no
    column name but ``key``; ``right_pos`` orders a key's rows totally.
    """
    if backend_name(left) == "pyspark":
        j = left.left_join(right, [left[key] == right[key], right[right_pos] > left[left_pos]])
        cols = [c for c in right.columns if c != key]
        return j.group_by(list(left.columns)).aggregate(**{c: first_by(j[c], j[right_pos]) for c in cols})
    j = left.asof_join(right, on=left[left_pos] < right[right_pos], predicates=[left[key] == right[key]])
    return j.select(*left.columns, *(c for c in right.columns if c != key))


@ibis.udf.agg.builtin(name="quantile_disc")
def _quantile_disc(arg: dt.float64, q: dt.Array(dt.Decimal(4, 3))) -> dt.Array(dt.float64):  # type: ignore[valid-type]
    """DuckDB's exact discrete quantile (declared for Ibis; DuckDB runs it)."""


def order_statistics(column: Any, quantiles: tuple[str, ...]) -> Any:
    """Exact order statistics of a numeric column, as an Ibis array-valued aggregate.

    Element ``i`` is the value at 0-based position ``max(ceil(n·q_i), 1) − 1`` of the
    column sorted ascending (``n`` non-null values): an actual value of the column, never an
    interpolation, found by selection (``nth_element``) instead of a full sort.

    Why here: Ibis compiles ``quantile`` on numbers to ``percentile_cont`` (interpolated),
    and a value interpolated between two neighbours breaks comparisons at ties. DuckDB's
    ``quantile_disc`` returns a stored value, and with **decimal** quantiles it computes the
    position in integer arithmetic, so the position is exact for every ``n`` (with a
    ``DOUBLE`` quantile it is exact only while ``n·q`` rounds cleanly). Hence decimal strings.

    Parameters
    ----------
    column
        Numeric Ibis column (cast to ``float64``; integers below 2**53 stay exact).
    quantiles
        Quantiles in [0, 1] as decimal strings with at most 3 decimals, e.g. ``("0.2", "0.4")``.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"x": [5, 1, 4, 2, 3]})
    >>> order_statistics(t.x, ("0.2", "0.6"))  # doctest: +SKIP
    [1.0, 3.0]
    """
    if backend_name(column) == "pyspark":
        return _order_statistics_spark(column.cast("float64"), quantiles)
    lit = ibis.literal([Decimal(q) for q in quantiles], type=dt.Array(dt.Decimal(4, 3)))
    return _quantile_disc(column.cast("float64"), lit)


def _order_statistics_spark(column: Any, quantiles: tuple[str, ...]) -> Any:
    """Spark twin of :func:`order_statistics`: the sorted non-null values, then the element at
    ``max(ceil(n·q), 1) − 1`` with ``ceil(n·q)`` in integer arithmetic (``q = m/1000``:
    ``(n·m + 999) div 1000``), so every position is exact. NULL for an empty column, as DuckDB.

    Why not Spark's ``percentile_disc``: it takes its position from ``(n−1)·q`` in doubles,
    another definition (n=3, q=0.4 gives the 1st value there, the 2nd here). The values are
    gathered on one executor per group: fine for per-customer measures up to tens of millions
    of customers (8 bytes each); docs/scale.md.
    """
    values = column.collect().sort()
    n = values.length().cast("int64")
    out = []
    for q in quantiles:
        milli = int(Decimal(q) * 1000)
        pos = ibis.greatest((n * milli + 999).floordiv(1000), 1) - 1
        out.append(values[pos.cast("int32")])
    return ibis.ifelse(n > 0, ibis.array(out), ibis.null(dt.Array(dt.float64)))


@ibis.udf.scalar.builtin(name="hash")
def _hash_kind_value(k: dt.uint8, v: dt.string) -> dt.uint64:  # type: ignore[valid-type]
    """DuckDB's ``hash`` of (kind number, value): the key identity resolution gives an identifier."""


@ibis.udf.scalar.builtin(name="xxhash64")
def _xxhash64_kind_value(k: dt.int32, v: dt.string) -> dt.int64:  # type: ignore[valid-type]
    """Spark's 64-bit xxHash of (kind number, value)."""


def identifier_key(id_type: Any, id_value: Any) -> Any:
    """The 64-bit ``id_hash`` of an identifier (type, value), as ``identity_map.id_hash`` holds it.

    Why here: consent records name identifiers by (type, value) text; computing their integer
    key on the few records lets a check join ``identity_map`` on integers instead of strings;
    the identity rules on Spark (:mod:`percorso.identity.engine_rules`) key every identifier
    with it. The kind number is the type's alphabetical rank (``engine.identity_sql``); a type
    that is no identifier kind hashes with a NULL rank (a key no identifier has, not NULL: both
    engines hash NULL to a constant).

    DuckDB: its ``hash(k::UTINYINT, value)`` (UBIGINT), the key the resolver writes. Spark has
    no such function (its ``hash`` is 32-bit: thousands of collisions at a few million
    identifiers); the twin is ``xxhash64(k, value)`` (BIGINT). The keys differ between engines,
    so a lake built on Spark keys its identity map its own way; the identifiers themselves
    (type and value) are the same. The backend is read from ``id_value`` (``id_type`` may be
    a literal).
    """
    from percorso.engine.identity_sql import _ALPHA

    k = ibis.cases(*((id_type == name, i) for i, name in enumerate(_ALPHA)), else_=ibis.null("uint8"))
    if backend_name(id_value) == "pyspark":
        return _xxhash64_kind_value(k.cast("int32"), id_value)
    return _hash_kind_value(k.cast("uint8"), id_value)


@ibis.udf.scalar.builtin(name="json_array_length")
def _json_array_length(text: dt.string) -> dt.int64:  # type: ignore[valid-type]
    """Elements of a JSON array text (DuckDB and Spark share the name)."""


@ibis.udf.scalar.builtin(name="json_extract_string")
def _json_extract_strings(text: dt.string, path: dt.string) -> dt.Array(dt.string):  # type: ignore[valid-type]
    """DuckDB: the values a ``$[*].field`` path finds, as strings."""


@ibis.udf.scalar.builtin(name="from_json")
def _from_json_qty(text: dt.string, schema: dt.string) -> dt.Array(dt.Struct({"qty": dt.string})):  # type: ignore[valid-type]
    """Spark: a JSON array of objects parsed with the schema ``array<struct<qty:string>>``."""


def order_item_counts(items: Any) -> tuple[Any, Any]:
    """``(n_lines, n_items)`` of an order's ``items`` JSON text: the array's length and the sum
    of its lines' ``qty`` read as numbers (a line without a number counts 0; no items: 0, 0).

    The DuckDB build fills them with an ``UPDATE`` (:func:`percorso.engine.build_sql.fill_order_item_counts`);
    this is the same definition as an expression, for the build on Spark. DuckDB reads the
    quantities with ``json_extract_string`` and ``TRY_CAST``; its Spark twin parses the array
    with ``from_json`` (a number read into a string field keeps its text) and casts.
    """
    if backend_name(items) == "pyspark":
        lines = _from_json_qty(items, "array<struct<qty:string>>")
        qty = lines.map(lambda x: x["qty"].cast("float64"))
    else:
        qty = _json_extract_strings(items, "$[*].qty").map(lambda x: x.try_cast("float64"))
    n_lines = _json_array_length(items).fill_null(0).cast("int32")
    n_items = qty.filter(lambda x: x.notnull()).sums().fill_null(0.0).cast("float64")
    return n_lines, n_items


@ibis.udf.scalar.builtin(name="to_json")
def _to_json(value: dt.Array(dt.string)) -> dt.string:  # type: ignore[valid-type]
    """Spark: a value as JSON text."""


def json_text(values: Any) -> Any:
    """An array of strings as compact JSON text (``["a","b"]``): DuckDB's JSON cast, Spark's ``to_json``."""
    if backend_name(values) == "pyspark":
        return _to_json(values)
    return values.cast("json").cast("string")


@ibis.udf.scalar.builtin(name="try_parse_json")
def _try_parse_json(text: dt.string) -> dt.string:  # type: ignore[valid-type]
    """Spark: a JSON text as a VARIANT (declared as a string for Ibis; NULL when not JSON)."""


@ibis.udf.scalar.builtin(name="variant_get")
def _variant_at(v: dt.string, path: dt.string) -> dt.string:  # type: ignore[valid-type]
    """Spark: the VARIANT at ``path`` (declared as a string for Ibis)."""


@ibis.udf.scalar.builtin(name="schema_of_variant")
def _variant_kind(v: dt.string) -> dt.string:  # type: ignore[valid-type]
    """Spark: the type name of a VARIANT value (``STRING``, ``BIGINT``, ``DECIMAL(2,1)``…)."""


@ibis.udf.scalar.builtin(name="variant_get")
def _variant_string(v: dt.string, path: dt.string, type_name: dt.string) -> dt.string:  # type: ignore[valid-type]
    """Spark: the VARIANT at ``path`` as a string."""


@ibis.udf.scalar.builtin(name="variant_get")
def _variant_int64(v: dt.string, path: dt.string, type_name: dt.string) -> dt.int64:  # type: ignore[valid-type]
    """Spark: the VARIANT at ``path`` as a bigint."""


@ibis.udf.scalar.builtin(name="variant_get")
def _variant_float64(v: dt.string, path: dt.string, type_name: dt.string) -> dt.float64:  # type: ignore[valid-type]
    """Spark: the VARIANT at ``path`` as a double."""


@ibis.udf.scalar.builtin(name="variant_get")
def _variant_boolean(v: dt.string, path: dt.string, type_name: dt.string) -> dt.boolean:  # type: ignore[valid-type]
    """Spark: the VARIANT at ``path`` as a boolean."""


_SPARK_INTEGERS = ("TINYINT", "SMALLINT", "INT", "BIGINT")
#: Per wanted type: Spark's SQL type name, Ibis type, and whether a VARIANT kind qualifies (as
#: DuckDB's ``json_type`` test in Ibis's ``unwrap_as``: a float reads integers too; Spark parses
#: ``1.5`` as a DECIMAL where DuckDB says DOUBLE).
_JSON_AS: dict[str, tuple[str, dt.DataType, Any]] = {
    "string": ("string", dt.string, lambda k: k == "STRING"),
    "int64": ("bigint", dt.int64, lambda k: k.isin(_SPARK_INTEGERS)),
    "float64": ("double", dt.float64,
                lambda k: k.isin((*_SPARK_INTEGERS, "DOUBLE", "FLOAT")) | k.startswith("DECIMAL")),
    "boolean": ("boolean", dt.boolean, lambda k: k == "BOOLEAN"),
}
_JSON_GETTERS = {"string": _variant_string, "int64": _variant_int64, "float64": _variant_float64,
                 "boolean": _variant_boolean}


@ibis.udf.scalar.builtin(name="json_type")
def _json_type_at(text: dt.string, path: dt.string) -> dt.string:  # type: ignore[valid-type]
    """DuckDB: the JSON type name of the value at ``path`` of a JSON text (NULL when missing)."""


@ibis.udf.scalar.builtin(name="json_extract_string")
def _json_string_at(text: dt.string, path: dt.string) -> dt.string:  # type: ignore[valid-type]
    """DuckDB: the value at ``path`` of a JSON text, as text (a string without its quotes)."""


def json_value(text: Any, key: str, type_name: str) -> Any:
    """Top-level property ``key`` of a JSON object text, as ``type_name`` (string, int64,
    float64, boolean); NULL when missing, null, of another JSON type, or the text is not JSON.

    DuckDB: Ibis's ``cast("json")[key].unwrap_as(type)`` (``json_type`` decides). Spark has no
    JSON type in Ibis (it compiled to a missing ``UNWRAP_JSON_STR``): the twin parses the text
    as a VARIANT and reads the key only when ``schema_of_variant`` names a matching type
    (``get_json_object`` would give a number's text for a string property). ``key`` is read
    as the path ``$.key`` on both (the stage rules allow letters, digits and ``_ . -``).
    """
    if backend_name(text) != "pyspark":
        if type_name == "string":
            # the same test and value read from the text itself: Ibis's form casts the text to
            # JSON (a parse), reads the key (a second) and tests the value's type (a third);
            # the campaign of every touchpoint cost a 10M build ~2 CPU s that way (ADR 0035)
            path = ibis.literal(f"$.{key}")
            return ibis.ifelse(_json_type_at(text, path) == "VARCHAR", _json_string_at(text, path),
                               ibis.null(dt.string))
        return text.cast("json")[key].unwrap_as(type_name)
    sql_type, _out, accepts = _JSON_AS[type_name]
    v = _try_parse_json(text)
    path = f"$.{key}"
    kind = _variant_kind(_variant_at(v, path))
    return ibis.ifelse(accepts(kind).fill_null(False), _JSON_GETTERS[type_name](v, path, sql_type),
                       ibis.null(_out))
