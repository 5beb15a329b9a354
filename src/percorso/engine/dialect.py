"""SQL constructs that Ibis cannot express, one named function each (DuckDB dialect).

Domain code never writes SQL text; when it needs one of these constructs it calls the
function here with an :class:`~percorso.engine.backend.Engine`. Identifiers are quoted
with :func:`quote_ident`, values are always bound.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as dt


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
    lit = ibis.literal([Decimal(q) for q in quantiles], type=dt.Array(dt.Decimal(4, 3)))
    return _quantile_disc(column.cast("float64"), lit)
