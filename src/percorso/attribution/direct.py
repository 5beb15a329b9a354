"""GA4's Direct convention: a navigational visit gets credit only when nothing else is there.

Why: a Direct visit is made by someone who already knows the shop, mostly someone who has
already decided (ADR 0006: 28 % of the demo's Direct contacts are visits to buy, and its
incremental effect is 77 purchases against 4,600-8,800 credited). Google Analytics 4 ignores
direct traffic in every cross-channel attribution model unless the conversion path consists
only of direct visits; ``[attribution] direct = "ignore_unless_alone"`` (the default) does the
same here, for every model, *before* any model runs, so every model reads the same journeys
(ADR 0007). ``direct = "credit"`` keeps every touchpoint (the behaviour before ADR 0007).

Order of the rules: journeys are formed first (segments, session rule, lookback, splits of
journeys without conversion, see :mod:`percorso.attribution.journeys`); then, within each
journey, the touchpoints of a ``direct_channels`` channel are dropped if the journey has any
other touchpoint. A journey of only Direct visits keeps them all.

Two implementations of the one rule:
- :func:`drop_direct_touches`, in the engine on the touchpoint rows of the journeys (a window
  count of non-direct touchpoints per journey);
- :func:`drop_direct_paths`, on an aggregated path table (``--paths FILE``, the simulated
  cycles of the quality benchmark): a per-path rewrite with numpy. Paths that become equal
  are not merged; no model needs distinct paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np

from percorso.attribution.paths import PathTable, without_unused_nodes

IGNORE = "ignore_unless_alone"


def is_direct_node(nodes: Sequence[str], direct_channels: Sequence[str]) -> np.ndarray:
    """Which node labels are direct: the channel itself, or a node built on it.

    A node is direct when it equals a name of ``direct_channels`` or starts with it followed
    by a level's separator (``'Direct | (none)'`` at ``channel_campaign`` level) or the online
    breakdown (``'Direct (online)'``). Path files carry only labels, so this is the rule for
    them; on the project's journeys the touchpoint's ``channel`` column is read as well.
    """
    out = np.zeros(len(nodes), dtype=bool)
    for d in direct_channels:  # a handful of names × the distinct nodes, not the steps
        for i, n in enumerate(nodes):
            out[i] |= n == d or n.startswith((f"{d} | ", f"{d} / ", f"{d} (online)", f"{d} (offline)"))
    return out


def drop_direct_touches(touches: ir.Table) -> ir.Table:
    """Keep a touchpoint unless it is direct and its journey has a non-direct one.

    ``touches`` needs ``customer_id``, ``journey`` and a boolean ``direct``; it is returned
    with the same columns.
    """
    jw = ibis.window(group_by=["customer_id", "journey"])
    others = (~touches.direct).cast("int64").sum().over(jw)
    marked = touches.mutate(_others=others)
    return marked.filter(~marked.direct | (marked._others == 0)).drop("_others")


def drop_direct_paths(paths: PathTable, direct_channels: Sequence[str]) -> PathTable:
    """The same rule on a path table: drop direct steps of every path that has another step."""
    direct_step = is_direct_node(paths.nodes, direct_channels)[paths.steps]
    if not direct_step.any():
        return paths
    path_of_step = paths.path_of_step
    others = np.bincount(path_of_step, weights=~direct_step, minlength=paths.n_paths)
    keep = ~direct_step | (others[path_of_step] == 0)
    lengths = np.bincount(path_of_step[keep], minlength=paths.n_paths).astype(np.int64)
    offsets = np.zeros(paths.n_paths + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return without_unused_nodes(PathTable(paths.nodes, offsets, paths.steps[keep], paths.conversions,
                                          paths.value, paths.nulls, paths.new_customers))
