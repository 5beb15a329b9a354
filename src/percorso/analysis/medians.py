"""Exact medians per group from counts of each value, for groups of tens of millions of rows.

Why not the engine's ``median`` (``quantile_cont``): it is a holistic aggregate, its state per
group is every value of the group. With few groups and many rows (a transition pair of a
100M-event project holds tens of millions of gaps) DuckDB 2.0 spilled those states more than
fifty times over: ``paths transitions`` at 100M events wrote 42 GiB of temporary files in
40 seconds and stopped at the cap, while the same statement without the median spilled
0.5 GB (docs/scale.md, 2026-12-05). Counting each distinct value per group is an ordinary
hash aggregate, which spills like any other, and usually has far fewer rows than the
input (gaps in whole seconds repeat); the median is then read off the running counts.

The value is the one ``quantile_cont(x, 0.5)`` gives, to the last bit: with ``n`` values
sorted, positions ``lo = ⌊(n−1)/2⌋`` and ``hi = ⌈(n−1)/2⌉`` (0-based), the median is
``v[lo] · (1 − d) + v[hi] · d`` with ``d = (n−1)/2 − lo``, DuckDB's own interpolation (the
form ``v[lo] + (v[hi] − v[lo]) · d`` differs in the last bit for one pair in ten). NULL values are
skipped, as by every median; a group with none has no row here (join it back with a left
join to get NULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Bytes per input row a window-and-aggregate statement needs, as the build sizes its parts
#: (``build.runner.BYTES_PER_EVENT``, ADR 0036): past the engine's memory limit its median
#: spilled fifty-fold, below it the engine's median is the cheaper of the two (10M events:
#: ``paths transitions`` 3.8 s with it, 4.3 s with counts, load 2.1-2.6).
BYTES_PER_ROW = 250


def median_by_counts(engine: Any, n_rows: int) -> bool:
    """Whether ``n_rows`` rows are past what the engine's own median handles in its memory
    (then :func:`grouped_median`). An engine without a memory limit (Spark) keeps its own."""
    limit_of = getattr(engine, "memory_limit_bytes", None)
    limit = limit_of() if limit_of is not None else None
    return bool(limit) and n_rows * BYTES_PER_ROW > limit


def grouped_median(rows: ir.Table, keys: Sequence[str], value: str, name: str = "median") -> ir.Table:
    """One row per group of ``keys`` with at least one non-null ``value``: the keys and
    ``name``, the median of ``value`` (float64), equal to the engine's ``median()``.

    Parameters
    ----------
    rows
        The rows to take the medians of.
    keys
        Columns naming a group (may be empty: one row, the median of the whole column, NULL
        when it has no value).
    value
        A numeric column; NULLs are skipped.
    name
        The output column's name.
    """
    keys = list(keys)
    v = rows.filter(rows[value].notnull()).select(*keys, _v=rows[value].cast("float64"))
    counts = v.group_by([*keys, "_v"]).aggregate(_n=v.count())
    by = [counts[k] for k in keys] or None
    running = ibis.window(group_by=by, order_by=counts._v, rows=(None, 0))
    c = counts.mutate(_cum=counts._n.sum().over(running), _tot=counts._n.sum().over(ibis.window(group_by=by)))
    # the value at 0-based position k is the one whose run of equal values covers k
    lo, hi = (c._tot - 1) // 2, c._tot // 2

    def covers(k: ir.IntegerValue) -> ir.BooleanValue:
        return (c._cum - c._n <= k) & (k < c._cum)

    stats = {"_lo": c._v.max(where=covers(lo)), "_hi": c._v.max(where=covers(hi)), "_d": ((c._tot - 1) * 0.5 - lo).max()}
    g = c.group_by(keys).aggregate(**stats) if keys else c.aggregate(**stats)
    return g.select(*keys, (g._lo * (1 - g._d) + g._hi * g._d).name(name))
