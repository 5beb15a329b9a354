"""Identifiers the resolver certainly flags, found in the engine before the components are formed.

Why: the identity rules in the engine (:mod:`percorso.identity.engine_rules`) send every
candidate component where a rule could refuse a link to the resolver's solver, one component
per task. A few hubs (a cookie that carried fifty e-mails, a family tablet) glue thousands of
customers into one candidate component, and that component grew with the data: 482
identifiers at 16,000 customers, about 3 % of the customers (ADR 0044). Taking out, before
the candidate components are formed, the identifiers the solver is *certain* to flag leaves
components of a bounded size: 16 to 20 identifiers at 1,000 to 16,000 customers.

When is an identifier certainly flagged? The argument follows :func:`percorso.identity.graph.solve`:

1. Two identifiers of one kind never share an event, so no link joins two identifiers of one
   kind (one round). A link is judged in the round of its later end, and only that end's
   ``_touch`` counts it. So an identifier ``w`` flagged in its round ``r`` changes nobody
   else's decision: its links of round ``r`` count only for itself, and its later links are
   dropped at the start of their round (a flagged end). Cutting all of ``w``'s links, with
   ``w`` unusable, gives the same partition.
2. ``w`` is flagged (``conflicting_identifiers``) in its round when the components it
   touches hold more than ``l`` values of a limited kind ``k``. It certainly does when it
   links to more than ``l`` distinct identifiers of kind ``k`` judged before ``r`` that are
   never flagged: each of them is in a component it touches, and is counted there.
3. An identifier ``u`` of round ``k`` is never flagged (*safe*) when it is not blocked, not
   pinned, it has at most ``cap`` links of its round (so it touches at most ``cap``
   components), and its component in the graph of the strong, limited kinds (rounds up to
   the last limited kind, every link between unblocked identifiers there) holds no kind over
   its limit and not two known identifiers joined with an untrusted link. Everything the
   solver merges up to ``u``'s round lies in that component, so no limit or known-customer
   conflict can make ``u`` a culprit.

Each test is a bound the solver cannot beat, so the cut never changes the partition.
``tests/identity/test_engine_rules.py`` checks that on the demos, and
``bench/identity_solver_groups.py`` checks it on larger ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

from percorso.events.schema import IDENTIFIER_COLUMNS
from percorso.identity.components import connected_components
from percorso.identity.kinds import LIMITS, ROUND_ORDER

if TYPE_CHECKING:
    from ibis.expr.types import Table

#: ``k`` of the engine's occurrences: the identifier column's alphabetical rank.
_K = {c: i for i, c in enumerate(sorted(IDENTIFIER_COLUMNS))}
#: The last round with a limited kind: the graph of rounds up to it bounds what a safe
#: identifier's round can merge.
LAST_LIMITED = max(ROUND_ORDER.index(k) for k in LIMITS)


def round_no(k: Any) -> Any:
    """The round (position in :data:`~percorso.identity.kinds.ROUND_ORDER`) of kind rank ``k``."""
    return ibis.cases(*((k == _K[name], i) for i, name in enumerate(ROUND_ORDER)), else_=len(ROUND_ORDER))


def with_rounds(links: Table) -> Table:
    """``links`` (``a, b, trusted, ka, kb``) with each end's round ``ra``, ``rb`` and ``u``
    (1 when no trusted source carried the link)."""
    return links.mutate(u=(~links.trusted.fill_null(False)).ifelse(1, 0), ra=round_no(links.ka),
                        rb=round_no(links.kb))


def degrees(links: Table) -> Table:
    """``n, d, dr, du`` per identifier: its links, its links of its round (to kinds judged no
    later than its own: the only ones its round counts), and its untrusted links."""
    ul = with_rounds(links)
    ends = ul.select(n=ul.a, u=ul.u, r=(ul.rb <= ul.ra).ifelse(1, 0)).union(
        ul.select(n=ul.b, u=ul.u, r=(ul.ra <= ul.rb).ifelse(1, 0)), distinct=False)
    return ends.group_by("n").aggregate(d=ends.count(), dr=ends.r.sum(), du=ends.u.sum())


def certain_hubs(engine: Any, nodes: Table, links: Table, cap: int, temps: list) -> Table:
    """``h_cut``: the identifiers the solver certainly flags (module doc), as a temp table.

    ``nodes``: ``id_hash, id_type, blocked, known, pinned``; ``links``: the links between
    unblocked identifiers (``a, b, trusted, ka, kb``). One label propagation over the links of
    the limited kinds' rounds, then joins and group-bys.
    """
    ul = with_rounds(links)
    strong = ul.filter((ul.ra <= LAST_LIMITED) & (ul.rb <= LAST_LIMITED))
    lab, _ = connected_components(engine, strong.select("a", "b"))
    temps.append(lab)
    n = nodes.filter(~nodes.blocked)
    nl = n.join(lab, n.id_hash == lab.node)
    per = {f"n_{k}": (nl.id_type == k).ifelse(1, 0).sum() for k in LIMITS}
    comp = nl.group_by("label").aggregate(n_known=nl.known.ifelse(1, 0).sum(), **per)
    s_a = strong.join(lab, strong.a == lab.node)
    unt = s_a.group_by(u_label=s_a.label).aggregate(n_untrusted=s_a.u.sum())
    comp = comp.left_join(unt, comp.label == unt.u_label).drop("u_label")
    unsafe = (comp.n_known > 1) & (comp.n_untrusted.fill_null(0) > 0)
    for k, lim in LIMITS.items():
        unsafe = unsafe | (comp[f"n_{k}"] > lim)
    unsafe_comp = comp.filter(unsafe).select(x_label=comp.label)
    deg = degrees(links)
    cand = n.filter(n.id_type.isin(list(LIMITS)) & ~n.pinned)
    cand = cand.left_join(deg, cand.id_hash == deg.n).left_join(lab, cand.id_hash == lab.node)
    cand = cand.filter(cand.dr.fill_null(0) <= cap)
    cand = cand.anti_join(unsafe_comp, cand.label == unsafe_comp.x_label)
    s_round = ibis.cases(*((cand.id_type == t, ROUND_ORDER.index(t)) for t in LIMITS), else_=len(ROUND_ORDER))
    safe = engine.temp_table(cand.select(s_hash=cand.id_hash, s_type=cand.id_type, s_round=s_round))
    temps.append(safe)
    # each link seen from its later end w towards a safe, limited, earlier end u
    seen = ul.select(w=ul.a, rw=ul.ra, u_hash=ul.b).union(ul.select(w=ul.b, rw=ul.rb, u_hash=ul.a), distinct=False)
    m = seen.join(safe, seen.u_hash == safe.s_hash)
    m = m.filter(m.s_round < m.rw)
    per_kind = m.group_by(["w", "s_type"]).aggregate(n=m.u_hash.nunique())
    limit = ibis.cases(*((per_kind.s_type == k, lim) for k, lim in LIMITS.items()), else_=1_000_000)
    hubs = per_kind.filter(per_kind.n > limit).select(h_cut=per_kind.w).distinct()
    out = engine.temp_table(hubs)
    temps.append(out)
    return out


__all__ = ["LAST_LIMITED", "certain_hubs", "degrees", "round_no", "with_rounds"]
