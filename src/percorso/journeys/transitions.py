"""Transitions: from one touchpoint to the next, how often, by how many customers, how fast.

Why: the transition table is the skeleton of every journey (Markov attribution, friction,
the Sankey all read it). For each pair of consecutive steps in a journey it counts the
transitions, the distinct customers making them, the share of the *from* node's outgoing
transitions and the median minutes between the two touchpoints. With ``include_ends`` the
pseudo-nodes ``(start)`` and ``(end)`` show where journeys begin and stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisResult, Runner
from percorso.analysis.medians import grouped_median, median_by_counts
from percorso.analysis.rows import Rows
from percorso.engine.dialect import epoch_seconds
from percorso.errors import InputError
from percorso.journeys.controls import JourneyQuery, journey_steps, step_labels, step_order, step_vocabulary

if TYPE_CHECKING:
    import plotly.graph_objects as go

START, END = "(start)", "(end)"


class TransitionsQuery(JourneyQuery):
    """From → to pairs of consecutive steps.

    Parameters
    ----------
    top
        Pairs shown, most frequent first; the rest are summed in one *other* row.
    include_ends
        Add ``(start) → first node`` and ``last node → (end)`` so journey starts and drop-outs
        show in the same table (and count in ``share_of_from``).
    """

    kind: ClassVar[str] = "paths_transitions"
    top: int = Field(50, ge=1, le=10_000)
    include_ends: bool = False


#: The codes of :data:`START` and :data:`END` among :func:`node_codes` (which number labels from 0).
START_CODE, END_CODE = -1, -2


def node_codes(steps: ir.Table, labels: ir.Table | None = None) -> tuple[ir.Table, ir.Table]:
    """``steps`` with each node label replaced by a number, and the table of labels and numbers.

    Why: the transitions' window carries the node of every touchpoint through its sort, and the
    pairs and their distinct (pair, customer) rows hash two of them per transition; as text they
    cost most of the statement. A journey analysis has few labels (event types, channels: tens;
    pages: thousands), so numbering the distinct ones (one grouping) and joining them back (a
    join with a small table) is cheaper than carrying the text: 10M events, 8 labels, the
    statement 2.7 -> 2.3-2.5 s. Numbers follow the labels' order (from 0); the pairs are
    labelled again (:func:`labelled_pairs`) before anything is ordered or shown. ``labels``:
    a table of every label of ``steps`` (column ``node``; more are harmless), when the query
    can tell them without reading the steps (:func:`~percorso.journeys.controls.step_labels`).
    """
    if labels is None:
        labels = steps.select("node").distinct()
    # 32-bit numbers: the window and the (pair, customer) rows carry and sort half the bytes
    # of Ibis's 64-bit row number (10M events: the command 3.16 -> 2.90 s, CPU 5.5 -> 5.0 s)
    labels = labels.select("node", _code=ibis.row_number().over(order_by=labels.node).cast("int32"))
    coded = steps.join(labels, "node")
    return coded.mutate(node=coded._code).drop("_code"), labels


def labelled_pairs(pairs: ir.Table, labels: ir.Table | Sequence[str]) -> ir.Table:
    """``pairs`` (rows of :func:`transition_rows` over :func:`node_codes`, grouped) with their
    ``from_node`` and ``to_node`` as labels again, their numbers kept as ``_from`` and ``_to``;
    ``labels``: the table of :func:`node_codes`, or the vocabulary the steps were numbered by
    (:func:`~percorso.journeys.controls.step_vocabulary`), a number its position."""
    def label(code: ir.IntegerValue, text: ir.StringValue) -> ir.StringValue:
        return ibis.cases((code == START_CODE, ibis.literal(START)), (code == END_CODE, ibis.literal(END)),
                          else_=text)

    out = pairs.rename(_from="from_node", _to="to_node")
    if not isinstance(labels, ir.Table):
        names = ibis.literal(list(labels), type="array<string>")
        out = out.mutate(from_node=label(out._from, names[out._from]), to_node=label(out._to, names[out._to]))
        return out.select(*pairs.columns, "_from", "_to")
    for side in ("from", "to"):
        lab = labels.view()
        lab = lab.select(_label=lab.node, _c=lab._code)
        j = out.left_join(lab, out[f"_{side}"] == lab._c)
        out = j.select(*out.columns, **{f"{side}_node": label(j[f"_{side}"], j._label)})
    return out.select(*pairs.columns, "_from", "_to")


#: Bits of one word of a customer's pair set (:func:`pair_masks`): 63, so that a bit is never
#: a 64-bit integer's sign.
WORD_BITS = 63
#: Words of a pair set at most: (labels + 2)² pair codes (the codes keep ``(start)`` and ``(end)``
#: whether or not they are shown) in 4 words, so up to 13 labels. More labels (pages, campaigns)
#: count customers by their distinct (pair, customer) rows.
MASK_WORDS = 4


def mask_words(n_labels: int) -> int | None:
    """Words of :func:`pair_masks` for steps numbered by ``n_labels`` labels, or None when more
    than :data:`MASK_WORDS` (the pairs' customers then come from distinct rows)."""
    span = n_labels + 2
    words = -(-span * span // WORD_BITS)
    return words if words <= MASK_WORDS else None


def pair_code(from_node: ir.IntegerValue, to_node: ir.IntegerValue, n_labels: int) -> ir.IntegerValue:
    """One number per pair of :func:`node_codes` numbers (with :data:`START_CODE` and
    :data:`END_CODE`): from 0 to (n_labels + 2)² - 1; :func:`pair_nodes` takes it apart."""
    span = n_labels + 2
    return (from_node.cast("int64") + 2) * span + (to_node.cast("int64") + 2)


def pair_nodes(code: ir.IntegerValue, n_labels: int) -> tuple[ir.IntegerValue, ir.IntegerValue]:
    """The from and to numbers of a :func:`pair_code`."""
    span = n_labels + 2
    return (code // span - 2).cast("int32"), (code % span - 2).cast("int32")


def _bit(code: ir.IntegerValue, word: int) -> ir.IntegerValue:
    """The bit of pair ``code`` in word ``word`` of a pair set, 0 when the code is in another word."""
    low = word * WORD_BITS
    return ibis.cases(((code >= low) & (code < low + WORD_BITS), ibis.literal(1).cast("int64") << (code - low)),
                      else_=ibis.literal(0).cast("int64"))


def pair_masks(rows: ir.Table, words: int) -> ir.Table:
    """One row per customer of ``rows`` (``customer_id``, a pair's ``_p``): the set of pairs the
    customer made, as the bits ``_w0``, ``_w1``… of ``words`` 63-bit words.

    Why: a pair's customers were its distinct (pair, customer) rows counted, a grouping of nearly
    every transition (10M events: 7.6M groups of 8.9M rows); grouped by customer instead, the
    same rows make 1M groups of a few integers, and the pairs' customers, the customers with a
    transition and those of the pairs not shown are counted on those (:func:`mask_has`), and the
    window needs no journey's first transition (``_first``). 10M events, 8 labels, exclusive
    hold: the statement 1.92-1.99 -> 1.65-1.71 s (CPU 3.5 -> 3.0 s), plus ~0.04 s to count the
    labels first (:meth:`TransitionsRunner._mask_labels`).
    """
    return rows.group_by("customer_id").aggregate(**{f"_w{k}": _bit(rows._p, k).bit_or() for k in range(words)})


def mask_has(masks: ir.Table, code: ir.IntegerValue, words: int) -> ir.BooleanValue:
    """Whether each pair set of ``masks`` (:func:`pair_masks`) holds pair ``code``."""
    word = ibis.cases(*(((code >= k * WORD_BITS) & (code < (k + 1) * WORD_BITS), masks[f"_w{k}"])
                        for k in range(words)))
    return ((word >> (code % WORD_BITS)) & 1) == 1


def transition_rows(steps: ir.Table, include_ends: bool = False, *, first: bool = False,
                    ends: tuple[Any, Any] = (START, END)) -> ir.Table:
    """One row per transition: journey_id, customer_id, from_node, to_node, minutes; with
    ``first`` also ``_first``, whether it is its journey's first transition (not with ``include_ends``).
    ``ends``: the nodes that stand for a journey's start and end (with ``include_ends``; the
    codes :data:`START_CODE` and :data:`END_CODE` for steps of :func:`node_codes`)."""
    # the same ordering as the step numbers, so the engine sorts once for both
    w = ibis.window(group_by=steps.journey_id, order_by=step_order(steps))
    # a node is never NULL (MISSING_LABEL): no step before it only on the journey's first step
    extra = {"_first": steps.node.lag().over(w).isnull()} if first else {}
    nxt = steps.mutate(to_node=steps.node.lead().over(w), to_at=steps.occurred_at.lead().over(w), **extra)
    minutes = (epoch_seconds(nxt.to_at) - epoch_seconds(nxt.occurred_at)) / 60.0
    rows = nxt.filter(nxt.to_node.notnull()).select(
        "journey_id", "customer_id", "breakdown", *extra, from_node=nxt.node, to_node=nxt.to_node, minutes=minutes)
    if include_ends:
        start, end = (ibis.literal(x, type=steps.node.type()) for x in ends)
        first = steps.filter(steps.step == 1).select(
            "journey_id", "customer_id", "breakdown", from_node=start, to_node=steps.node,
            minutes=ibis.null().cast("float64"))
        last = nxt.filter(nxt.to_node.isnull()).select(
            "journey_id", "customer_id", "breakdown", from_node=nxt.node, to_node=end,
            minutes=ibis.null().cast("float64"))
        rows = rows.union(first).union(last)
    return rows


@dataclass
class TransitionsResult(AnalysisResult):
    """``frame``: from_node, to_node, transitions, customers, share_of_from, median_minutes."""

    def figure(self, kind: str = "graph") -> go.Figure:
        """The transition graph (nodes on a circle, arrows as wide as their share), or ``kind="matrix"``."""
        import math

        import plotly.graph_objects as go

        f = self.frame[~self.frame["from_node"].str.startswith("other")]
        if kind == "matrix":
            m = f.pivot_table(index="from_node", columns="to_node", values="transitions", aggfunc="sum", fill_value=0)
            fig = go.Figure(go.Heatmap(z=m.values, x=list(m.columns), y=list(m.index), colorscale="Blues",
                                       hovertemplate="%{y} → %{x}: %{z}<extra></extra>"))
            fig.update_layout(title="Transizioni / transitions (da → a)", xaxis_title="a / to", yaxis_title="da / from")
            return fig
        nodes = sorted(set(f["from_node"]) | set(f["to_node"]))
        pos = {n: (math.cos(2 * math.pi * i / max(len(nodes), 1)), math.sin(2 * math.pi * i / max(len(nodes), 1)))
               for i, n in enumerate(nodes)}
        top = float(f["transitions"].max()) if len(f) else 1.0
        fig = go.Figure()
        for r in f.itertuples():
            (x0, y0), (x1, y1) = pos[r.from_node], pos[r.to_node]
            fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                               arrowhead=2, arrowwidth=1 + 7 * float(r.transitions) / top, opacity=0.5,
                               hovertext=f"{r.from_node} → {r.to_node}: {r.transitions}")
        fig.add_scatter(x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], text=nodes,
                        mode="markers+text", textposition="top center", marker=dict(size=18))
        fig.update_layout(title="Grafo delle transizioni / transition graph", showlegend=False,
                          xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"))
        return fig


class TransitionsRunner(Runner[TransitionsQuery, TransitionsResult]):
    query_type = TransitionsQuery
    drill_by = ('from_node', 'to_node')  # frame columns that name a cell's customers (selectors)
    gives_rows = True

    def _rows(self, *, first: bool = False, numbers: bool = False) -> ir.Table:
        q = self.query
        steps = journey_steps(self.engine, q, breakdown=q.breakdown, numbers=numbers)
        return transition_rows(steps, q.include_ends, first=first)

    def _coded_rows(self, labels: ir.Table | list[str] | None, *,
                    first: bool = False) -> tuple[ir.Table, ir.Table | list[str]]:
        """:meth:`_rows` by the customers' numbers and with numbered nodes, and the labels of the
        numbers: ``labels`` a list, the query's vocabulary (a node its position in it:
        :func:`~percorso.journeys.controls.step_vocabulary`), else :func:`node_codes` (``labels``:
        :func:`~percorso.journeys.controls.step_labels`)."""
        q = self.query
        if isinstance(labels, list):
            steps = journey_steps(self.engine, q, breakdown=q.breakdown, numbers=True, vocabulary=labels)
        else:
            steps, labels = node_codes(journey_steps(self.engine, q, breakdown=q.breakdown, numbers=True), labels)
        return transition_rows(steps, q.include_ends, first=first, ends=(START_CODE, END_CODE)), labels

    def _mask_labels(self, labels: ir.Table | list[str] | None) -> int | None:
        """How many labels the steps are numbered by, when the pairs' customers are counted on pair
        sets (:func:`pair_masks`): without a breakdown (its values are text of any number), on
        DuckDB, for labels read from the touchpoints' own columns (the vocabulary, or one small
        query: their distinct values, as the statement numbers them) that :func:`mask_words`
        takes; else None."""
        if labels is None or self.query.breakdown or self.engine.kind != "duckdb":
            return None
        if isinstance(labels, list):
            n = len(labels)
        else:
            n = int(self.engine.rows(labels.aggregate(n=labels.count()))[0]["n"])
        return n if mask_words(n) is not None else None

    def _counted(self, rows: ir.Table, keys: list[str], firsts: dict[str, Any]) -> ir.Table:
        """Each pair's (``keys``) transitions and median minutes, with ``firsts``."""
        if median_by_counts(self.engine, self.engine.count("touchpoints")):
            # past the memory the median comes from counts of each gap: at 100M events the
            # engine's per-pair states spilled 42 GiB (analysis.medians); a breakdown may be NULL
            counted = rows.group_by(keys).aggregate(transitions=rows.count(), **firsts)
            med = grouped_median(rows, keys, "minutes", "median_minutes")
            return counted.left_join(med, [counted[k].identical_to(med[k]) for k in keys]).select(
                *[counted[k] for k in keys], "transitions", "median_minutes", *firsts)
        return rows.group_by(keys).aggregate(transitions=rows.count(), median_minutes=rows.minutes.median(), **firsts)

    def _pairs_by_rows(self, labels: ir.Table | list[str] | None, keys: list[str]) -> tuple[ir.Table, Any, Any, Any]:
        """The pairs (``keys``, transitions, customers, median_minutes, by node numbers), the labels
        of the numbers, and the functions of the pairs and of the pairs shown that count the
        customers with a transition and the customers of the pairs not shown: each pair's
        customers from its distinct (pair, customer) rows."""
        q = self.query
        # a journey of the customer scope is its customer: the customers with a transition are
        # the journeys' first transitions, counted with the pairs instead of a distinct count
        # over every transition (one read of the rows fewer)
        by_first = q.journey_is_customer and not q.include_ends
        rows, labels = self._coded_rows(labels, first=by_first)
        # the journey id of the customer scope is the customer id: read as the customer, it is
        # the one id column the window over every touchpoint carries (with both, the engine
        # carried two copies through its sort: 10M events, statement 3.3 -> 2.9 s)
        who = rows.journey_id if q.journey_is_customer else rows.customer_id
        rows = rows.select(*keys, "minutes", *(["_first"] if by_first else []), customer_id=who)
        firsts = {"_firsts": rows._first.sum()} if by_first else {}
        # each pair's customers: its distinct (pair, customer) rows counted, rather than a
        # distinct count inside the pairs' grouping; the same distinct rows give the customers
        # of the pairs not shown (below), so the rest reads them instead of every transition
        # (10M events: statement 3.30 -> 3.10 s, 3 rounds)
        seen = rows.select(*keys, "customer_id").distinct()
        by_pair = seen.group_by(keys).aggregate(customers=seen.customer_id.count())
        counted = self._counted(rows, keys, firsts)
        grouped = counted.join(by_pair, [counted[k].identical_to(by_pair[k]) for k in keys]).select(
            *[counted[k] for k in keys], "transitions", "customers", "median_minutes", *firsts)

        def customers(pairs: ir.Table) -> ir.Scalar:
            return pairs._firsts.sum() if by_first else seen.customer_id.nunique()

        def other(top: ir.Table) -> ir.Scalar:
            # the customers of the pairs not shown: an anti-join of the (pair, customer) rows
            # with the shown pairs, by the nodes' numbers
            rest = seen.anti_join(top, [seen[k] == top[k] for k in keys[:-2]] + [seen.from_node == top._from,
                                                                                  seen.to_node == top._to])
            return rest.customer_id.nunique()

        return grouped, labels, customers, other

    def _pairs_by_masks(self, labels: ir.Table | list[str] | None,
                        n_labels: int) -> tuple[ir.Table, Any, Any, Any]:
        """:meth:`_pairs_by_rows` with the customers counted on each customer's pair set
        (:func:`pair_masks`), for steps numbered by ``n_labels`` labels (no breakdown)."""
        q = self.query
        words = mask_words(n_labels)
        assert words is not None
        rows, labels = self._coded_rows(labels)
        who = rows.journey_id if q.journey_is_customer else rows.customer_id
        rows = rows.select("minutes", customer_id=who, _p=pair_code(rows.from_node, rows.to_node, n_labels))
        masks = pair_masks(rows, words)
        counted = self._counted(rows, ["_p"], {})
        # each pair's customers: the pair sets holding it (tens of pairs by a million sets)
        have = counted.select("_p").cross_join(masks)
        have = have.filter(mask_has(have, have._p, words))
        by_pair = have.group_by("_p").aggregate(customers=have.count())
        grouped = counted.join(by_pair, "_p")
        from_node, to_node = pair_nodes(grouped._p, n_labels)
        grouped = grouped.select(from_node=from_node, to_node=to_node, transitions=grouped.transitions,
                                 customers=grouped.customers, median_minutes=grouped.median_minutes)

        def customers(pairs: ir.Table) -> ir.Scalar:
            return masks.count()   # one set per customer with a transition

        def other(top: ir.Table) -> ir.Scalar:
            # the customers with a pair outside the shown pairs' set
            shown = pair_code(top._from, top._to, n_labels)
            rest = masks.filter(ibis.or_(*((masks[f"_w{k}"] & _bit(shown, k).bit_or().as_scalar()) != masks[f"_w{k}"]
                                           for k in range(words))))
            return rest.count()

        return grouped, labels, customers, other

    def calculate(self) -> TransitionsResult:
        q = self.query
        keys = ["breakdown", "from_node", "to_node"] if q.breakdown else ["from_node", "to_node"]
        # the customers by their numbers (ADR 0062): the window and the pairs' customers sort and
        # hash one integer, not the id (10M events: the command 5.0-5.6 -> 4.2-4.9 s), and the
        # nodes by numbers (node_codes): labelled again once grouped into pairs
        # the labels from the columns' declared values (no query) when they are enumerations; not
        # when they are too many for pair sets without a breakdown: the labels the data has may be few
        vocabulary = step_vocabulary(self.engine, q)
        few = vocabulary is not None and (bool(q.breakdown) or mask_words(len(vocabulary)) is not None)
        labels = vocabulary if few else step_labels(self.engine, q)
        n_labels = self._mask_labels(labels)
        if n_labels is not None:
            grouped, labels, customers, other = self._pairs_by_masks(labels, n_labels)
        else:
            grouped, labels, customers, other = self._pairs_by_rows(labels, keys)
        grouped = labelled_pairs(grouped, labels)
        out_w = ibis.window(group_by=[grouped[k] for k in keys[:-1]])
        pairs = grouped.mutate(share_of_from=grouped.transitions / grouped.transitions.sum().over(out_w))
        top = pairs.order_by([ibis.desc("transitions"), *keys]).limit(q.top)
        # ONE statement: the transition rows (the window over every touchpoint, the cost) are
        # computed once and read by the pairs, the totals and the rest (the engine keeps a
        # subquery read several times); written to a temporary table first and read three
        # times they cost ~45 % more CPU at 10M events (ADR 0035)
        got = self.engine.rows(top.mutate(
            _pairs=pairs.count().as_scalar(), _transitions=pairs.transitions.sum().as_scalar(),
            _customers=customers(pairs).as_scalar(), _other=other(top).as_scalar(),
        ).order_by([ibis.desc("transitions"), *keys]))
        if got:
            n_pairs, total, customers, other = (int(got[0][c]) for c in ("_pairs", "_transitions", "_customers",
                                                                           "_other"))
        else:  # no transitions at all: the scalars came with no row to carry them
            n_pairs = total = customers = other = 0
        # rows, not a pandas frame (analysis.rows): the command prints them
        columns = (*keys, "transitions", "customers", "share_of_from", "median_minutes")
        data = [tuple(r[c] for c in columns) for r in got]
        if n_pairs > len(data):
            other_row = {"from_node": f"other ({n_pairs - len(data)} coppie / pairs)", "to_node": "",
                         "transitions": total - sum(r["transitions"] for r in got), "customers": other}
            data.append(tuple(other_row.get(c) for c in columns))
        frame = Rows(columns, (*("str",) * len(keys), "Int64", "Int64", "float64", "float64"), data)
        return TransitionsResult(frame=frame, query=q, meta={"transitions": total, "customers": customers})

    def customers_expr(self, *, from_node: str | None = None, to_node: str | None = None, **selector: Any) -> ir.Table:
        if selector or (from_node is None and to_node is None):
            raise InputError("transitions drill-down takes from_node= and/or to_node=")
        rows = self._rows()
        if from_node is not None:
            rows = rows.filter(rows.from_node == from_node)
        if to_node is not None:
            rows = rows.filter(rows.to_node == to_node)
        return rows.select("customer_id").distinct()
