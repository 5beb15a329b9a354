"""Path variants: which sequences of touchpoints customers went through, and how often.

Why: "which touchpoints did my customers go through before buying" is answered by the most
common paths, with their share and conversion, and an explicit *other* row so that the
variants not shown are counted, never hidden. Paths are cut at an optional start and end
node (e.g. everything before an in-store receipt) and at ``max_steps``; a longer journey
shows a trailing ``…`` so a truncated path is never mistaken for a complete one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import Field

from percorso.analysis.base import AnalysisResult, Runner
from percorso.analysis.rows import Rows, float_sum
from percorso.build.schema import REVENUE_DECIMAL, REVENUE_DIGITS
from percorso.engine.dialect import first_collected, ordered_collect
from percorso.errors import InputError
from percorso.journeys.controls import (
    AnchoredQuery, anchor_match, journey_steps, step_codes, step_order, step_vocabulary,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

ARROW = " → "
MORE = "…"
OTHER = "other"


class PathsQuery(AnchoredQuery):
    """Top path variants.

    ``start`` / ``end``: a journey starts at its first ``start`` node and ends at its first
    ``end`` node (inclusive); journeys without them are left out. Besides a node label, either
    may be ``purchase:any``, ``purchase:online`` or ``purchase:store`` (a purchase of that kind,
    whatever the node). A journey converts when it has a purchase anywhere between its anchors,
    also past ``max_steps`` (the path shown is cut, not the journey); ``converting_only`` keeps
    those.
    """

    kind: ClassVar[str] = "paths_top"
    max_steps: int = Field(6, ge=1, le=50)
    top: int = Field(20, ge=1, le=1000)
    converting_only: bool = False


def anchored_steps(steps: ir.Table, start: str | None, end: str | None) -> ir.Table:
    """Steps from each journey's first ``start`` node to its first ``end`` node, renumbered from 1.

    The end is searched after the start, so "from A to B" means the first B after the first A.
    """
    s = steps
    if start is not None:
        first = s.filter(anchor_match(s, start)).group_by("journey_id").aggregate(_from=ibis._.step.min())
        s = s.join(first, "journey_id")
        s = s.filter(s.step >= s._from).mutate(step=s.step - s._from + 1).drop("_from")
    if end is not None:
        stop = s.filter(anchor_match(s, end)).group_by("journey_id").aggregate(_to=ibis._.step.min())
        s = s.join(stop, "journey_id")
        s = s.filter(s.step <= s._to).drop("_to")
    return s


def journey_revenue(steps: ir.Table) -> ir.Scalar:
    """A journey's purchases summed as ``REVENUE_DECIMAL`` (kept a decimal: the paths add them up again).

    Why: a sum of doubles depends on the order the engine's threads meet the rows, so the
    revenue of ``paths top`` changed in its last digit from run to run (13223.34 against
    13223.339999999998); as decimals every sum is exact and the same in any order, as
    ``customers.revenue`` (``build.schema.REVENUE_DECIMAL``). The path and total sums are
    doubles again (:func:`_revenue_sum`).
    """
    return steps.revenue.cast(REVENUE_DECIMAL).sum(where=steps.is_purchase)


def _revenue_sum(per: ir.Table) -> ir.Scalar:
    """The journeys' revenues (:func:`journey_revenue`), an exact sum, as a double."""
    return per.revenue.sum().cast("float64")


def journey_paths(steps: ir.Table, max_steps: int) -> ir.Table:
    """One row per journey: its path (first ``max_steps`` nodes), customer, purchase, revenue.

    ``converting`` and ``revenue`` are the whole journey's: cutting the *path shown* at
    ``max_steps`` must not cut its purchase (a store receipt at step 9 of a 6-step path made
    1,364 of 3,153 store buyers "not converting" in ``paths top --end receipt``).
    """
    kept = steps.filter(steps.step <= max_steps)
    per = kept.group_by("journey_id").aggregate(
        customer_id=kept.customer_id.min(),
        breakdown=kept.breakdown.argmin(kept.step),
        _path=ordered_collect(kept.node, [kept.step]).join(ARROW),
    )
    length = steps.group_by("journey_id").aggregate(
        _len=steps.step.max(), converting=steps.is_purchase.any(), revenue=journey_revenue(steps))
    per = per.join(length, "journey_id")
    path = (per._len > max_steps).ifelse(per._path + ARROW + MORE, per._path)
    return per.mutate(path=path).drop("_path", "_len")


def whole_journey_paths(steps: ir.Table, max_steps: int, *, per_customer: bool = False) -> ir.Table:
    """:func:`journey_paths` of whole journeys without a breakdown, from their touchpoints in time order.

    Why: without anchors no step number is needed: a journey's path is its first ``max_steps``
    nodes in the order that numbers them (time, then event id), its length is its count. One
    grouping that collects each journey's nodes in order costs about half of numbering every
    touchpoint of every journey first (a sort of all of them) and collecting the kept ones
    (ADR 0035). Same rows as :func:`journey_paths` (``tests/journeys_paths``).

    ``per_customer``: the journeys are whole customers (``scope="customer"``), whose id is the
    journey's: no aggregate of the customer id over every touchpoint (a string ``min`` over
    10M rows, a quarter of the statement).
    """
    order = step_order(steps)
    first = first_collected(steps.node, order[0], max_steps) if len(order) == 1 \
        else ordered_collect(steps.node, order)[:max_steps]
    per = steps.group_by("journey_id").aggregate(
        **({} if per_customer else {"customer_id": steps.customer_id.min()}),
        breakdown=ibis.null().cast("string"),
        _path=first.join(ARROW),
        _len=steps.count(), converting=steps.is_purchase.any(), revenue=journey_revenue(steps))
    path = (per._len > max_steps).ifelse(per._path + ARROW + MORE, per._path)
    per = per.mutate(path=path).drop("_path", "_len")
    if per_customer:
        per = per.mutate(customer_id=per.journey_id).select("journey_id", "customer_id", *per.columns[1:])
    return per


def coded_journey_paths(steps: ir.Table, max_steps: int) -> ir.Table:
    """:func:`whole_journey_paths` of whole customers (``per_customer``) whose steps carry label
    numbers (:func:`~percorso.journeys.controls.journey_steps` with ``codes``): the path as the
    list of its first ``max_steps`` numbers (``_codes``) and whether the journey is longer
    (``_more``), made text by :func:`named_paths` once grouped.

    Why: the grouping per journey is the statement of ``paths top``; keeping six small integers
    per journey (and grouping the journeys by them) instead of six texts joined into one, and
    numbering the steps by their event type and name instead of making each one's label text:
    10M events, the statement 0.68-0.73 -> 0.51-0.52 s (SQL, 2026-12-07).
    """
    per = steps.group_by("journey_id").aggregate(
        breakdown=ibis.null().cast("string"), _codes=first_collected(steps.node, steps.seq, max_steps),
        _more=steps.count() > max_steps, converting=steps.is_purchase.any(), revenue=journey_revenue(steps))
    return per.mutate(customer_id=per.journey_id).select("journey_id", "customer_id", *per.columns[1:])


def named_paths(per: ir.Table, codes: ir.Table | Sequence[str]) -> ir.Table:
    """The journeys of :func:`coded_journey_paths` grouped by path, as :meth:`PathsRunner._calculate`
    groups the text paths of whole customers: path, journeys, customers, converting, revenue.

    The numbers are grouped first (one row per list of numbers), then made the path's text
    (``codes`` gives each number its label: :func:`~percorso.journeys.controls.step_codes`, or the
    vocabulary the steps were numbered by, a number its position) and grouped again by that text:
    two lists whose texts are the same (a label holding ``" → "``) are one path, as before. The
    revenues stay exact decimals through both sums (:func:`journey_revenue`).
    """
    by_codes = per.group_by(["_codes", "_more"]).aggregate(
        journeys=per.count(), converting=per.converting.sum().cast("int64"), revenue=per.revenue.sum())
    if isinstance(codes, ir.Table):
        labels = codes.select("node", "_code").distinct()
        named = by_codes.cross_join(labels.aggregate(_names=labels.node.collect(order_by=labels._code)))
        names = named._names
    else:
        named, names = by_codes, ibis.literal(list(codes), type="array<string>")
    text = named._codes.map(lambda code: names[code]).join(ARROW)
    named = named.mutate(path=named._more.ifelse(text + ARROW + MORE, text))
    return named.group_by("path").aggregate(
        journeys=named.journeys.sum(), customers=named.journeys.sum(),
        converting=named.converting.sum().cast("int64"), revenue=named.revenue.sum().cast("float64"))


def _num(value: Any) -> float:
    """An engine aggregate as a number: NULL / NaN (nothing to add up) count as 0."""
    import math

    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@dataclass
class PathsResult(AnalysisResult):
    """``frame``: path, journeys, customers, share, converting, conversion_rate, revenue; last row *other*."""

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        f = self.frame.iloc[::-1]
        fig = go.Figure(go.Bar(x=f["journeys"], y=f["path"], orientation="h",
                               customdata=f[["share", "conversion_rate"]],
                               hovertemplate="%{y}<br>%{x} percorsi, %{customdata[0]:.1%}, conversione "
                                             "%{customdata[1]:.1%}<extra></extra>"))
        fig.update_layout(title="Percorsi più frequenti / top paths", xaxis_title="percorsi / journeys",
                          height=max(400, 28 * len(f)), margin=dict(l=20))
        return fig


class PathsRunner(Runner[PathsQuery, PathsResult]):
    query_type = PathsQuery
    drill_by = ('path',)  # frame columns that name a cell's customers (selectors)
    gives_rows = True

    def _paths(self, *, numbers: bool = False) -> ir.Table:
        """One row per journey (:func:`journey_paths`); ``numbers``: its ids are the customers'
        numbers (:func:`journey_steps`), for the counts; the drill-down reads the ids."""
        q = self.query
        if q.start is None and q.end is None and not q.breakdown and not q.collapse_repeats:
            per = whole_journey_paths(journey_steps(self.engine, q, numbered=False, numbers=numbers), q.max_steps,
                                      per_customer=q.journey_is_customer)
            return per.filter(per.converting) if q.converting_only else per
        steps = anchored_steps(journey_steps(self.engine, q, breakdown=q.breakdown, numbers=numbers), q.start, q.end)
        per = journey_paths(steps, q.max_steps)
        return per.filter(per.converting) if q.converting_only else per

    def calculate(self) -> PathsResult:
        q = self.query
        if q.journey_is_customer and not q.breakdown:
            # the journeys are read by one statement (the top, the variants and the totals):
            # no temporary table of them (10M events: 1.07M journeys written, then read twice)
            whole = q.start is None and q.end is None and not q.collapse_repeats and not q.exclude
            # the labels from the columns' declared values (no query), else from their distinct values
            codes: ir.Table | list[str] | None = None
            if whole and self.engine.kind == "duckdb":
                codes = step_vocabulary(self.engine, q) or step_codes(self.engine, q)
            if codes is None or "seq" not in self.engine.columns("touchpoints"):
                return self._calculate(self._paths(numbers=True))
            steps = journey_steps(self.engine, q, numbered=False, numbers=True,
                                  **({"vocabulary": codes} if isinstance(codes, list) else {"codes": codes}))
            per = coded_journey_paths(steps, q.max_steps)
            return self._calculate(per.filter(per.converting) if q.converting_only else per, codes)
        per = self.engine.temp_table(self._paths(numbers=True))
        try:
            return self._calculate(per)
        finally:
            self.engine.drop_temp(per)

    def _calculate(self, per: ir.Table, codes: ir.Table | list[str] | None = None) -> PathsResult:
        """The top paths, the *other* row and the totals from one row per journey; ``codes``: the
        journeys are :func:`coded_journey_paths` of those label numbers."""
        q = self.query
        keys = ["breakdown", "path"] if q.breakdown else ["path"]
        # a journey of the customer scope is its customer: counting journeys counts customers,
        # no distinct count of ids (per path and in total: a third of the queries after the paths)
        one_each = q.journey_is_customer
        customers = per.count() if one_each else per.customer_id.nunique()
        if codes is not None:
            grouped = named_paths(per, codes)
        else:
            grouped = per.group_by(keys).aggregate(
                journeys=per.count(), customers=customers,
                converting=per.converting.sum().cast("int64"), revenue=_revenue_sum(per),
            )
        ranked = grouped.order_by([ibis.desc("journeys"), *keys])
        sums = {"journeys": per.count(), "customers": customers,
                "converting": per.converting.sum().cast("int64"), "revenue": _revenue_sum(per)}
        if q.breakdown:
            top = self.engine.rows(ranked.limit(q.top))
            variants = (per.breakdown.fill_null("") + "\x00" + per.path).nunique()
            totals = self.engine.rows(per.aggregate(**sums, variants=variants))[0]
            totals = {k: _num(v) for k, v in totals.items()}
        else:
            # the variants are the groups the top is ranked from (counted with it: no distinct
            # count of every journey's path text); the totals come with them, one statement
            top = self.engine.rows(ranked.limit(q.top).mutate(
                _variants=grouped.filter(grouped.path.notnull()).count().as_scalar(),
                # one customer per journey: the same count twice made the engine's answer
                # lose a column name (Ibis)
                **{f"_{k}": v.as_scalar() for k, v in sums.items() if not (one_each and k == "customers")}))
            variants = int(top[0]["_variants"]) if top else 0
            # no row: no journey (every journey is in a group), every total is zero
            got = [k for k in sums if not (one_each and k == "customers")]
            totals = {k: _num(top[0][f"_{k}"]) if top else 0.0 for k in got}
            if one_each:
                totals["customers"] = totals["journeys"]
        n_variants = int(totals["variants"]) if q.breakdown else variants
        rest = max(n_variants - len(top), 0)
        for r in top:
            r["revenue"] = _num(r["revenue"])
        shown = {k: sum(r[k] for r in top) for k in ("journeys", "converting")}
        # the sums are exact to the millionth: so is their difference (0.9 - 0.6 is 0.3, not 0.30000000000000004)
        other_revenue = round(totals["revenue"] - float_sum([r["revenue"] for r in top]), REVENUE_DIGITS)
        if not rest:
            other_customers = 0
        elif one_each and not q.breakdown:  # the journeys on the paths not shown, one customer each
            other_customers = int(totals["journeys"]) - shown["journeys"]
        else:
            other_customers = self._other_customers(per, top)
        top.append({"breakdown": None, "path": f"{OTHER} ({rest} varianti / variants)",
                    "journeys": int(totals["journeys"]) - shown["journeys"], "customers": other_customers,
                    "converting": int(totals["converting"]) - shown["converting"], "revenue": other_revenue})
        total_journeys = int(totals["journeys"])
        # rows, not a pandas frame (analysis.rows): the command prints them
        columns = (*(["breakdown"] if q.breakdown else []), "path", "journeys", "customers", "share", "converting",
                   "conversion_rate", "revenue")
        for r in top:
            r["share"] = r["journeys"] / total_journeys if total_journeys else 0.0
            r["conversion_rate"] = r["converting"] / r["journeys"] if r["journeys"] > 0 else 0.0
        dtypes = {"breakdown": "str", "path": "str", "share": "float64", "conversion_rate": "float64",
                  "revenue": "float64"}
        frame = Rows(columns, tuple(dtypes.get(c, "int64") for c in columns),
                     [tuple(r[c] for c in columns) for r in top])
        return PathsResult(frame=frame, query=q, meta={
            "journeys": total_journeys, "customers": int(totals["customers"]), "variants": n_variants})

    def _other_customers(self, per: ir.Table, top: list[dict[str, Any]]) -> int:
        if self.query.breakdown:
            shown = per.breakdown.fill_null("") + "\x00" + per.path
            rest = per.filter(~shown.isin([f"{r['breakdown'] or ''}\x00{r['path']}" for r in top]))
        else:
            rest = per.filter(~per.path.isin([r["path"] for r in top]))
        return int(self.engine.rows(rest.aggregate(n=rest.customer_id.nunique()))[0]["n"])

    def customers_expr(self, *, path: str | None = None, breakdown: str | None = None, **selector: Any) -> ir.Table:
        """``path='A → B'`` (and ``breakdown=`` with a breakdown): the customers on that path;
        ``path='other'`` (or the other row's full label): those on the variants not shown."""
        if selector or path is None:
            got = sorted(selector) or "nothing"
            raise InputError(f"paths drill-down takes path='A → B' or path='other'; got {got}")
        per = self._paths()
        if breakdown is not None:
            if not self.query.breakdown:
                raise InputError("breakdown= needs a query with a breakdown")
            per = per.filter(per.breakdown == breakdown)
        if path == OTHER or path.startswith(f"{OTHER} ("):
            keys = ["breakdown", "path"] if self.query.breakdown else ["path"]
            grouped = per.group_by(keys).aggregate(journeys=per.count())
            shown = grouped.order_by([ibis.desc("journeys"), *keys]).limit(self.query.top).select(*keys, _shown=True)
            per = per.left_join(shown, keys).select(*per.columns, "_shown")
            return per.filter(per._shown.isnull()).select("customer_id").distinct()
        return per.filter(per.path == path).select("customer_id").distinct()
