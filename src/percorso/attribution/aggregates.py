"""What the models read, aggregated in the engine from the credited touchpoints.

Why a per-journey table in between: every model reads the journeys, not the touchpoints.
:func:`journeys_expr` makes one row per journey (its nodes and the days before its
conversion, in order, and its outcome); the runner materialises it once as a temporary
table, then both the path table (distinct paths with counts, the only input of the rule-based,
Markov and Shapley solvers) and time decay (which needs the days) are cheap aggregations
of it, instead of two passes over the touchpoint windows. Only aggregates leave the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from percorso.attribution.paths import PathTable, from_arrow
from percorso.build.schema import exact_sum
from percorso.engine.dialect import epoch_seconds, ordered_collect

if TYPE_CHECKING:
    from percorso.engine import Engine

PATH_SEP = "\x1f"


def journeys_expr(touches: ir.Table, *, with_ref: bool = False) -> ir.Table:
    """One row per journey of :func:`~percorso.attribution.journeys.journey_touches`.

    Columns: ``customer_id, journey, nodes`` (list, in time order), ``days`` (days before
    ``ref_at`` of each node, same order), ``converted, value, new_customer``; ``with_ref``
    adds ``ref_at`` and ``ref_local`` (one value per journey; touches made ``with_ref_local``).
    """
    refs = {"ref_at": touches.ref_at.max(), "ref_local": touches.ref_local.max()} if with_ref else {}
    order = [touches.occurred_at, touches.event_id]
    days = (epoch_seconds(touches.ref_at) - epoch_seconds(touches.occurred_at)) / 86400.0
    return touches.group_by(["customer_id", "journey"]).aggregate(
        nodes=ordered_collect(touches.node, order), days=ordered_collect(days, order),
        converted=touches.converted.max(), value=touches.value.max(), new_customer=touches.new_customer.max(),
        **refs,
    )


def path_table_expr(journeys: ir.Table, *, by_customer: bool = False) -> ir.Table:
    """Distinct paths with counts (optionally per customer, for the bootstrap); the value summed
    to the millionth (:func:`~percorso.build.schema.exact_sum`), the same in any row order."""
    j = journeys.mutate(path=journeys.nodes.join(PATH_SEP))
    keys = ["path", "customer_id"] if by_customer else ["path"]
    return j.group_by(keys).aggregate(
        total_conversions=j.converted.sum().cast("float64"),
        total_conversion_value=exact_sum(j.value * j.converted),
        total_null=(1 - j.converted).sum().cast("float64"),
        total_new=(j.new_customer * j.converted).sum().cast("float64"),
    )


def load_path_table(engine: Engine, journeys: ir.Table) -> PathTable:
    """Run the aggregation in the engine and return the compact path table, in path order.

    Why the order: the solvers add credits up path by path, and a sum of doubles depends on
    the order of its terms; a parallel group-by returns the paths in any order, so the same
    data gave credits that differed in their last digits from run to run. With the paths
    sorted (and their values exact sums, :func:`path_table_expr`) the numpy solvers see the
    same input and give the same bits.
    """
    return from_arrow(engine.to_arrow(path_table_expr(journeys).order_by("path")), sep=PATH_SEP)


def load_customer_paths(engine: Engine, journeys: ir.Table) -> tuple[PathTable, Any, Any]:
    """Paths per customer for the bootstrap: (path table per row, customer index, n_customers)."""
    import numpy as np
    import pyarrow.compute as pc

    # in a fixed order: the resampling draws by row, so a seed repeats its intervals only if the
    # rows come in the same order (a parallel group-by returns them in any order)
    arrow = engine.to_arrow(path_table_expr(journeys, by_customer=True).order_by(["path", "customer_id"]))
    customers = pc.dictionary_encode(arrow.column("customer_id").combine_chunks())
    idx = np.asarray(customers.indices.to_numpy(zero_copy_only=False))
    return from_arrow(arrow.drop(["customer_id"]), sep=PATH_SEP), idx, len(customers.dictionary)


def time_decay_expr(journeys: ir.Table, half_life_days: float) -> ir.Table:
    """Time-decay credits per node, in the engine: weight ``2^(-days before conversion / h)``,
    normalised within each journey; columns node, conversions, value, new_customers.

    Each converting journey normalises its own list of weights (no window over touchpoints),
    then nodes and shares are unnested side by side and summed per node. Journeys without
    conversion have nothing to share and are not read.
    """
    j = journeys.filter(journeys.converted == 1)
    w = j.days.map(lambda d: ibis.literal(2.0) ** (-d / half_life_days))
    j = j.select("value", "new_customer", nodes=j.nodes, w=w, total=w.sums())
    # one unnest of (node, share) pairs: two unnests side by side zip on DuckDB but multiply
    # on Spark (each is its own explode), which credited every node with every share
    pairs = j.nodes.zip(j.w.map(lambda x: x / j.total))
    steps = j.select("value", "new_customer", _p=pairs.unnest())
    steps = steps.select("value", "new_customer", node=steps._p.f1, share=steps._p.f2)
    return steps.group_by("node").aggregate(
        conversions=_share_sum(steps.share), value=_share_sum(steps.share * steps.value),
        new_customers=_share_sum(steps.share * steps.new_customer),
    )


#: Fractional credits are summed in this type: 18 decimals, exact sums up to 10^20.
SHARE_DECIMAL = "decimal(38, 18)"


def _share_sum(share: ir.NumericValue) -> ir.NumericScalar:
    """Shares (and shares of values) summed as :data:`SHARE_DECIMAL`, as a double.

    Why: a sum of doubles in a parallel group-by depends on the order the rows are met, so a
    node's credit changed in its last digits from run to run; each share rounded to 1e-18 and
    summed exactly gives the same credit in any order (the rounding is below a double's own
    precision for any credit above 0.01)."""
    return share.cast(SHARE_DECIMAL).sum().cast("float64")
