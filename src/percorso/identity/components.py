"""Connected components inside the engine: min-label propagation with pointer jumping.

Why: :mod:`percorso.identity.graph` finds components with scipy, in one process; on a
cluster the edges must not be collected to the driver (DESIGN.md §2: "iterative label
propagation in SQL where the data must stay in a distributed engine"). This is the same
partition computed with joins and group-bys only, so it runs unchanged on DuckDB and on
Spark through Ibis.

Each round every node takes the smallest label among itself and its neighbours, then jumps
to its label's label (``L(v) ← L(L(v))``: pointer jumping halves the distance to the root,
so long chains need O(log diameter) rounds instead of O(diameter)). Labels only decrease and
always name a node of the same component, so when a round changes nothing every node holds
the smallest node of its component: the canonical label, whatever the engine or the order
of rows. Each round is materialised (``engine.temp_table``) so the plan never grows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from percorso.engine import Engine

#: A bound on rounds: each round at least halves the longest chain to the smallest node, so
#: 64 rounds cover any graph a 64-bit node key can number; reaching it is a bug.
MAX_ROUNDS = 64


def connected_components(engine: Engine, edges: Table, nodes: Table | None = None) -> tuple[Table, int]:
    """Label every node with the smallest node of its connected component.

    Parameters
    ----------
    engine
        DuckDB or Spark engine (anything with ``temp_table``, ``drop_temp``, ``execute``).
    edges
        Ibis table with columns ``a`` and ``b`` (undirected; any orderable type, e.g. int64).
    nodes
        Optional table with column ``node``: nodes without edges get their own component.

    Returns
    -------
    (table, rounds)
        A temporary table ``node, label`` (drop it with ``engine.drop_temp``) and the number
        of propagation rounds it took.
    """
    both = edges.select(src=edges.a, dst=edges.b).union(edges.select(src=edges.b, dst=edges.a), distinct=True)
    both = both.filter(both.src != both.dst)
    e = engine.temp_table(both)
    all_nodes = e.select(node=e.src)
    if nodes is not None:
        all_nodes = all_nodes.union(nodes.select("node"), distinct=True)
    lab = engine.temp_table(all_nodes.distinct().mutate(label=ibis._.node, changed=ibis.literal(True)))
    try:
        for rounds in range(1, MAX_ROUNDS + 1):
            nxt = engine.temp_table(_round(e, lab))
            changed = int(engine.execute(nxt.changed.sum()) or 0)
            engine.drop_temp(lab)
            lab = nxt
            if changed == 0:
                out = engine.temp_table(lab.select("node", "label"))
                engine.drop_temp(lab)
                return out, rounds
        raise AssertionError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    finally:
        engine.drop_temp(e)


def _round(e: Table, lab: Table) -> Table:
    """One round: each node takes the smallest label among itself and its neighbours (``m``),
    then jumps to the label ``m`` held at the start of the round, ``L(m)`` (a node of the same
    component, never larger than ``m``); ``changed`` marks the nodes whose label went down
    (labels never go up, so a round where none did is the fixed point)."""
    nb = e.join(lab, e.dst == lab.node).group_by(src=e.src).aggregate(m=lab.label.min())
    step = lab.left_join(nb, lab.node == nb.src)
    # .view(): a new relation, so the next join starts its own chain (Ibis would extend the
    # left join's chain and refuse the predicate)
    step = step.select(node=step.node, old=step.label, m=ibis.least(step.label, step.m.fill_null(step.label))).view()
    prev = lab.view()   # the labels at the start of the round, joined on m: one join, no self-join
    parent = prev.select(p_node=prev.node, p_label=prev.label)
    jumped = step.join(parent, step.m == parent.p_node)
    label = ibis.least(jumped.m, jumped.p_label)
    return jumped.select(node=jumped.node, label=label, changed=label < jumped.old)
