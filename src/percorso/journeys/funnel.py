"""Funnels: how many journeys go through steps 1 → 2 → … → N within a window, and who drops off.

Semantics (documented in docs/journeys.md, checked by the oracle tests):

- a journey *enters* at any touchpoint matching step 1; from each entry the furthest step
  reached within ``window`` of the entry counts, and the journey keeps its best entry (most
  steps; on a tie the earliest entry). A step may list alternatives: ``"a|b"``;
- ``ordered``: each next step is a later touchpoint of the journey (other touchpoints in
  between are allowed); ``strict``: the next step must be the very next touchpoint;
  ``any``: steps 2..N may come in any order after the entry. The window is inclusive: a
  step exactly ``window`` after the entry counts;
- an *exclusion* ``(node, i, j)`` voids progress past step ``i`` when ``node`` occurs after the
  touchpoint of step ``i`` and before the touchpoint of step ``j`` (before the window ends
  when step ``j`` is not reached): such a journey counts as reaching at most step ``j - 1``;
- a breakdown splits journeys by a node definition's value at the journey's first
  touchpoint (``first_touch``), at the last step it reached (``last_touch``) or at step ``N``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis
import ibis.expr.types as ir
from pydantic import Field, field_validator, model_validator

from percorso.analysis.base import AnalysisResult, Runner
from percorso.analysis.rows import FrameField, Rows
from percorso.engine.dialect import epoch_seconds, first_after, first_by
from percorso.errors import InputError
from percorso.journeys.controls import JourneyQuery, journey_steps, node_column_check, numbered_by_columns

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

_WINDOW = re.compile(r"^\s*(\d+)\s*([dhmw])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
TIME_BUCKETS = ((60, "< 1 h"), (6 * 60, "1–6 h"), (24 * 60, "6–24 h"), (3 * 1440, "1–3 g/d"), (7 * 1440, "3–7 g/d"),
                (14 * 1440, "7–14 g/d"), (30 * 1440, "14–30 g/d"))
#: The time to convert past the last of :data:`TIME_BUCKETS`.
LAST_BUCKET = "> 30 g/d"
#: The columns of a funnel's table, and their pandas dtypes (in ``any`` order there is no median
#: from the previous step: a column of nothing).
FUNNEL_COLUMNS = ("breakdown", "step", "label", "reached", "conversion_from_previous", "conversion_overall", "dropped",
                  "median_minutes_from_previous", "median_minutes_from_start")
FUNNEL_DTYPES = {any_order: ("str", "int64", "str", "int64", "float64", "float64", "int64",
                             "object" if any_order else "float64", "float64") for any_order in (False, True)}


def parse_window(value: str | timedelta) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w`` → timedelta; also ISO 8601 (``P7D``), the query's JSON form."""
    if isinstance(value, timedelta):
        return value
    if str(value).startswith("P"):
        from pydantic import TypeAdapter, ValidationError

        try:
            parsed = TypeAdapter(timedelta).validate_python(str(value))
        except ValidationError:
            parsed = timedelta(0)
        if parsed > timedelta(0):
            return parsed
    m = _WINDOW.match(str(value))
    if not m or int(m.group(1)) == 0:
        raise InputError(f"window {value!r} is not valid; use a number and a unit: 30m, 12h, 7d, 2w")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class FunnelQuery(JourneyQuery):
    """Funnel of 2–10 steps (node labels, ``a|b`` for alternatives)."""

    kind: ClassVar[str] = "funnel"
    steps: tuple[str, ...] = Field(min_length=2, max_length=10)
    window: timedelta = timedelta(days=30)
    order: Literal["ordered", "strict", "any"] = "ordered"
    exclusions: tuple[tuple[str, int, int], ...] = ()
    breakdown: str | None = None
    breakdown_attribution: str = "first_touch"

    def typed_steps(self) -> tuple[str, ...]:
        return (*(n for step in self.steps for n in step.split("|")), *(x[0] for x in self.exclusions))

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> timedelta:
        return parse_window(value)

    @field_validator("breakdown_attribution")
    @classmethod
    def _attribution(cls, value: str) -> str:
        if value in ("first_touch", "last_touch") or re.fullmatch(r"step:\d+", value):
            return value
        raise ValueError(f"breakdown attribution {value!r}: use first_touch, last_touch or step:N")

    @model_validator(mode="after")
    def _check(self) -> FunnelQuery:
        n = len(self.steps)
        for node, i, j in self.exclusions:
            if not 1 <= i < j <= n:
                raise ValueError(f"exclusion {node}:{i}:{j}: need 1 ≤ i < j ≤ {n} (between steps i and j)")
        if self.breakdown:
            for part in self.breakdown.split("+"):
                node_column_check(part)
        if self.breakdown_attribution.startswith("step:") and not 1 <= int(self.breakdown_attribution[5:]) <= n:
            raise ValueError(f"breakdown step must be between 1 and {n}")
        return self


def funnel_labels(q: FunnelQuery) -> list[str]:
    """The node labels a funnel looks for (its steps' alternatives and its exclusions), sorted."""
    return sorted({n for step in q.steps for n in step.split("|")} | {x[0] for x in q.exclusions})


def _node_in(ev: ir.Table, q: FunnelQuery, labels: list[str]) -> ir.BooleanValue:
    """Whether each step of ``ev`` (:func:`funnel_steps`) has one of ``labels``: compared by their
    positions among :func:`funnel_labels` when the steps carry those numbers."""
    if ev.node.type().is_integer():
        wanted = funnel_labels(q)
        return ev.node.isin([wanted.index(x) for x in labels])
    return ev.node.isin(labels)


def _matches(ev: ir.Table, q: FunnelQuery, step: str) -> ir.BooleanValue:
    return _node_in(ev, q, step.split("|"))


def funnel_steps(engine: Any, q: FunnelQuery, *, numbers: bool = False) -> ir.Table:
    """The steps a funnel looks at: its step and exclusion nodes (and each journey's first step
    when a first-touch breakdown needs it).

    Step numbers come from the whole journey, so strict mode still sees what lies between, and
    a breakdown can find the touchpoint at a step. Otherwise steps are only compared (a later
    step, the earliest one, one before another): numbering just the wanted nodes keeps their
    order and sorts a fraction of the touchpoints (``only_nodes`` of :func:`journey_steps`).
    ``numbers``: the customers by their numbers (:func:`journey_steps`), for the counts.

    With ``only_nodes`` and a node numbered by its columns, each step's ``node`` is its label's
    position among :func:`funnel_labels` (``vocabulary`` of :func:`journey_steps`): the steps are
    picked and told apart by comparing event types and names, not label texts (10M events, the
    statement's CPU 1.8 -> 1.5 s, SQL, 2026-12-07).
    """
    wanted = funnel_labels(q)
    only = wanted if q.order != "strict" and not q.breakdown and not q.collapse_repeats else None
    vocabulary = wanted if only is not None and numbered_by_columns(q) else None
    s = journey_steps(engine, q, breakdown=q.breakdown, only_nodes=only, numbers=numbers, vocabulary=vocabulary)
    # a journey of the customer scope is its customer (:func:`progress` puts the id back)
    who = [] if q.journey_is_customer else ["customer_id"]
    ev = s.select("journey_id", *who, "step", "occurred_at", "node", "breakdown")
    if q.breakdown and q.breakdown_attribution == "first_touch":
        return ev.filter(_node_in(ev, q, wanted) | (ev.step == 1))  # the first touchpoint carries the breakdown
    return ev.filter(_node_in(ev, q, wanted))


#: Entries of a journey are ranked by one integer, ``(N - reached) · ENTRY_SPAN + s1``: most steps
#: first, then the earliest entry. A step number is a position among one customer's touchpoints,
#: far below 2**40, so the two parts never overlap; a power of two, so the division that takes
#: them apart (compiled through a double) is exact.
ENTRY_SPAN = 2**40


def progress(engine: Any, q: FunnelQuery, ev: ir.Table | None = None) -> ir.Table:
    """One row per journey that entered: journey_id, s1, customer_id, t1, s2, t2, … sN, tN, reached (1..N), breakdown."""
    ev = funnel_steps(engine, q) if ev is None else ev
    n = len(q.steps)
    window = ibis.interval(seconds=int(q.window.total_seconds()))
    # a journey of the customer scope is its customer: the id is put back at the end, not carried
    carried = [] if q.journey_is_customer else ["customer_id"]
    if q.order == "ordered":
        chain = _ordered_chain(ev, q, carried, window)
    else:
        chain = _chain(ev, q, carried, window)
    reached = ibis.literal(1)
    for i in range(2, n + 1):
        done = chain[f"s{i}"].notnull()
        if q.order == "any":
            reached = (done & (reached == i - 1)).ifelse(i, reached)
        else:
            reached = done.ifelse(i, reached)
    chain = chain.mutate(reached=reached)
    chain = _apply_exclusions(chain, ev, q, window)
    # each journey keeps its entry with the most steps, on a tie the earliest (steps are numbered
    # in time order: the smallest s1 is the earliest t1): one integer ranks them, and the entry's
    # values are those of the smallest rank (an aggregate per journey, not a sort of the entries)
    rank = (n - chain.reached).cast("int64") * ENTRY_SPAN + chain.s1.cast("int64")
    keep = [c for c in chain.columns if c not in ("journey_id", "s1", "reached")]
    best = chain.group_by("journey_id").aggregate(_rank=rank.min(), **{c: first_by(chain[c], rank) for c in keep})
    best = best.mutate(s1=(best._rank % ENTRY_SPAN).cast(chain.s1.type()),
                       reached=(n - best._rank // ENTRY_SPAN).cast("int32"))
    if not carried:
        best = best.mutate(customer_id=best.journey_id)
    best = best.select("journey_id", "s1", "customer_id", "t1", *(c for i in range(2, n + 1) for c in (f"s{i}", f"t{i}")),
                       "reached")
    return _with_breakdown(best, ev, q)


def _ordered_chain(ev: ir.Table, q: FunnelQuery, carried: list[str], window: Any) -> ir.Table:
    """:func:`_chain` of an ordered funnel, built from its last step back.

    Each next step is the earliest one after the previous step within the window. Steps are
    numbered in time order, so the earliest after a step is its *first* one after it: when that
    one is past the window, every later one is too (or has no time, as it has). So each step's
    touchpoint takes the chain that follows it (:func:`~percorso.engine.dialect.first_after`:
    a purchase, then the cart before it, then the entry), and the steps past the entry's
    window are cut afterwards. Why: one match per row as the engine merges each step's rows
    in order, where the forward chain joined every entry with every later step and grouped
    them to keep the earliest (:func:`percorso.engine.dialect.first_after` gives figures).
    """
    n = len(q.steps)

    def step_rows(i: int) -> ir.Table:
        r = ev.filter(_matches(ev, q, q.steps[i - 1]))
        return r.select("journey_id", *(carried if i == 1 else []), **{f"s{i}": r.step, f"t{i}": r.occurred_at})

    chain = step_rows(n)
    for i in range(n - 1, 0, -1):
        chain = first_after(step_rows(i), chain, "journey_id", f"s{i}", f"s{i + 1}")
    # the times of a chain never decrease: a step past the window (or without a time) cuts the rest
    end = chain.t1 + window
    return chain.mutate(**{c: ibis.cases((chain[f"t{i}"] <= end, chain[c])) for i in range(2, n + 1)
                           for c in (f"s{i}", f"t{i}")})


def _chain(ev: ir.Table, q: FunnelQuery, carried: list[str], window: Any) -> ir.Table:
    """One row per entry (a touchpoint of step 1): journey_id, the carried columns, s1, t1, …, sN,
    tN, the steps it reached within the window (NULL from the first one it did not)."""
    n = len(q.steps)
    first = ev.filter(_matches(ev, q, q.steps[0]))
    chain = first.select("journey_id", *carried, s1=first.step, t1=first.occurred_at)
    for i in range(2, n + 1):
        cand = ev.filter(_matches(ev, q, q.steps[i - 1])).select(
            "journey_id", _cs=ev.step, _ct=ev.occurred_at)
        if q.order == "strict":
            cond = [chain.journey_id == cand.journey_id, cand._cs == chain[f"s{i - 1}"] + 1]
        else:
            cond = [chain.journey_id == cand.journey_id,
                    cand._cs > (chain["s1"] if q.order == "any" else chain[f"s{i - 1}"])]
        cond.append(cand._ct <= chain.t1 + window)
        if q.order == "any":
            cond.append(chain[f"s{i - 1}"].notnull())
        j = chain.left_join(cand, cond)
        # the earliest matching touchpoint after the previous step keeps the most options open
        # steps are numbered in time order, so the earliest step is also the earliest time
        # (a plain min, much cheaper than an ordered arg_min); one chain row per entry: its
        # columns are the group (all fixed by the entry), cheaper than carrying them by min()
        chain = j.group_by(list(chain.columns)).aggregate(**{f"s{i}": j._cs.min(), f"t{i}": j._ct.min()})
    return chain


def _apply_exclusions(chain: ir.Table, ev: ir.Table, q: FunnelQuery, window: Any) -> ir.Table:
    for k, (node, i, j) in enumerate(q.exclusions):
        ex = ev.filter(_node_in(ev, q, [node])).select("journey_id", _xs=ev.step, _xt=ev.occurred_at)
        upper = chain[f"s{j}"].fill_null(10**12)
        cond = [chain.journey_id == ex.journey_id, ex._xs > chain[f"s{i}"], ex._xs < upper,
                ex._xt <= chain.t1 + window]
        flagged = chain.left_join(ex, cond)
        key = [c for c in chain.columns]
        hit = flagged.group_by(key).aggregate(**{f"_x{k}": flagged._xs.notnull().any()})
        chain = hit.mutate(reached=(hit[f"_x{k}"] & (hit.reached >= j)).ifelse(j - 1, hit.reached)).drop(f"_x{k}")
    return chain


def _with_breakdown(best: ir.Table, ev: ir.Table, q: FunnelQuery) -> ir.Table:
    if not q.breakdown:
        return best.mutate(breakdown=ibis.literal("(all)"))
    how = q.breakdown_attribution
    if how == "first_touch":
        pick = ev.filter(ev.step == 1).select("journey_id", _b=ev.breakdown)
        return best.left_join(pick, "journey_id").drop("journey_id_right").rename(breakdown="_b")
    n = len(q.steps)
    if how == "last_touch":
        at = ibis.cases(*((best.reached == i, best[f"s{i}"]) for i in range(n, 0, -1)))
    else:
        at = best[f"s{int(how[5:])}"]
    best = best.mutate(_at=at)
    pick = ev.select("journey_id", _at=ev.step, _b=ev.breakdown)
    joined = best.left_join(pick, ["journey_id", "_at"])
    cols = [c for c in best.columns if c != "_at"]
    return joined.select(*cols, breakdown=joined._b.fill_null("(none)"))


@dataclass
class FunnelResult(AnalysisResult):
    """``frame``: per breakdown and step: reached, conversion from previous and overall, dropped,
    median minutes from previous step and from step 1. ``time_to_convert``: completers by time."""

    time_to_convert: pd.DataFrame | None = FrameField(None)  # type: ignore[assignment]
    steps: tuple[str, ...] = field(default_factory=tuple)

    def sections(self) -> dict[str, pd.DataFrame]:
        """Secondary tables the CLI prints after the main one."""
        return {"tempo alla conversione / time to convert": self.time_to_convert}

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        fig = go.Figure()
        # no customer entered the first step (a type the data does not have yet): an empty result,
        # charted as each step at zero, as the command's note says
        parts = self.frame.groupby("breakdown", sort=False) if "breakdown" in self.frame.columns else ()
        if not len(self.frame):
            fig.add_trace(go.Funnel(y=[f"{i}. {s}" for i, s in enumerate(self.steps, 1)], x=[0] * len(self.steps)))
        for value, part in parts:
            fig.add_trace(go.Funnel(name=str(value), y=[f"{r.step}. {r.label}" for r in part.itertuples()],
                                    x=list(part["reached"]), textinfo="value+percent initial+percent previous"))
        fig.update_layout(title="Funnel: conversione e abbandoni / conversion and drop-off")
        return fig


class FunnelRunner(Runner[FunnelQuery, FunnelResult]):
    query_type = FunnelQuery
    drill_by = ('step', 'breakdown')  # frame columns that name a cell's customers (selectors)
    gives_rows = True

    def calculate(self) -> FunnelResult:
        # DuckDB reads the funnel's steps inside the progress statement (a subquery read once
        # per step, which it keeps itself): 10M events, 3.3M steps written to a temporary table
        # and read back cost 1.36-1.61 s against 1.11-1.27 s in one statement. Spark recomputes
        # a subquery at each read: there the steps stay a temporary table.
        ev = funnel_steps(self.engine, self.query, numbers=True)   # its journeys are joined and grouped by number
        if self.engine.kind != "duckdb":
            ev = self.engine.temp_table(ev)
        try:
            return self._calculate(progress(self.engine, self.query, ev))
        finally:
            if self.engine.kind != "duckdb":
                self.engine.drop_temp(ev)

    def _calculate(self, p: ir.Table) -> FunnelResult:
        """The steps' counts and medians per breakdown, and the completers' time to convert, from one
        read of the journeys' progress (:func:`progress`).

        Why one statement: the time to convert is a count per bucket of the journeys that reached
        the last step; counted per breakdown with the steps (one conditional count per bucket) and
        added up here, it needs no second read of the progress, so the progress is not written to
        a temporary table first (10M events: 2M journeys written and read twice).
        """
        q = self.query
        n = len(q.steps)
        # each completer's bucket, a number computed once per journey (a column below the grouping:
        # compared with each bucket inside the sums, it was computed once per bucket)
        minutes = (epoch_seconds(p[f"t{n}"]) - epoch_seconds(p.t1)) / 60.0
        bucket = ibis.cases(*((minutes < limit, k) for k, (limit, _) in enumerate(TIME_BUCKETS)),
                            else_=len(TIME_BUCKETS))
        p = p.mutate(_bucket=ibis.cases((p.reached == n, bucket)))
        aggs: dict[str, Any] = {}
        for i in range(1, n + 1):
            aggs[f"r{i}"] = (p.reached >= i).sum()
            if i > 1:
                if q.order != "any":  # in any order "the previous step" has no time meaning
                    prev_min = (epoch_seconds(p[f"t{i}"]) - epoch_seconds(p[f"t{i - 1}"])) / 60.0
                    aggs[f"mp{i}"] = _median_where(prev_min, p.reached >= i)
                aggs[f"ms{i}"] = _median_where((epoch_seconds(p[f"t{i}"]) - epoch_seconds(p.t1)) / 60.0, p.reached >= i)
        buckets = [*(label for _, label in TIME_BUCKETS), LAST_BUCKET]
        aggs |= {f"_b{k}": (p._bucket == k).sum() for k in range(len(buckets))}
        # rows, not a pandas frame (analysis.rows): the command prints them
        wide = self.engine.rows(p.group_by("breakdown").aggregate(**aggs).order_by([ibis.desc("r1"), "breakdown"]))
        rows = []
        for d in wide:
            for i in range(1, n + 1):
                reached = int(d[f"r{i}"] or 0)
                prev = int(d[f"r{i - 1}"] or 0) if i > 1 else reached
                first = int(d["r1"] or 0)
                rows.append((d["breakdown"], i, q.steps[i - 1], reached, reached / prev if prev else 0.0,
                             reached / first if first else 0.0, prev - reached if i > 1 else 0, d.get(f"mp{i}"),
                             d.get(f"ms{i}")))
        # no journey: no column either (the frame of no rows that the steps made)
        frame = Rows(FUNNEL_COLUMNS if rows else (), FUNNEL_DTYPES[q.order == "any"] if rows else (), rows)
        completed = [(label, sum(int(d[f"_b{k}"] or 0) for d in wide)) for k, label in enumerate(buckets)]
        time_to_convert = Rows(("bucket", "journeys"), ("str", "int64"), [(b, c) for b, c in completed if c])
        return FunnelResult(frame=frame, query=q, time_to_convert=time_to_convert, steps=q.steps,
                            meta={"journeys": sum(int(d["r1"] or 0) for d in wide)})

    def customers_expr(self, *, step: int | None = None, dropped: bool = False, breakdown: str | None = None,
                       **selector: Any) -> ir.Table:
        n = len(self.query.steps)
        if selector or step is None or not 1 <= int(step) <= n:
            raise InputError(f"funnel drill-down takes step=1..{n} and dropped=True|False (breakdown=… optional)")
        p = progress(self.engine, self.query)
        if breakdown is not None:
            p = p.filter(p.breakdown == breakdown)
        cond = (p.reached == int(step) - 1) if dropped else (p.reached >= int(step))
        return p.filter(cond).select("customer_id").distinct()


def _median_where(value: ir.NumericColumn, where: ir.BooleanColumn) -> ir.NumericScalar:
    """Median of ``value`` over the rows where ``where`` holds, as NULL-masking (medians skip
    NULLs everywhere). Why not ``median(where=…)``: Ibis's Spark compiler masks the 0.5 too,
    and Spark refuses a percentile that is not a constant."""
    return where.ifelse(value, ibis.null()).median()
