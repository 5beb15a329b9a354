"""Churn risk: P(alive) from BG/NBD and each customer's silence against their own rhythm.

Why both: P(alive) is the model's view; ``overdue`` (time since the last purchase divided by
the customer's mean gap between purchases) is the explainable view a CRM manager can check.
BG/NBD gives every one-time buyer P(alive) = 1 (in the model a customer can only drop out
right after a repeat purchase), so for them the model alone would call someone who bought
once two years ago "safe". Their rhythm is therefore the **typical gap**: the median mean gap
of the repeat buyers (``rhythm = "typical"``; ``"own"`` for repeat buyers).

One probability, two sources of evidence, so that the levels are ordered by risk:

* ``p_alive_model``: the BG/NBD P(alive) from ``customer_value`` (run CLV first);
* ``p_alive_rhythm``: ``2 ** -(overdue - 1)`` once the silence exceeds the customer's usual
  gap (1 before): each further mean gap of silence halves the chance that the customer is
  still buying (the hiatus heuristic of Wübben & Wangenheim 2008, made a probability);
* ``p_alive`` = the smaller of the two: the customer is as much at risk as the more worried
  source says. ``churn_risk`` = 1 − ``p_alive``.

Levels are cuts of that one number (so the mean P(alive) strictly decreases from ``low`` to
``high``; a rule that says "P(alive) < 0.3 *or* overdue ≥ 3" put one-time buyers with a
model P(alive) of 1 in ``high`` and gave it a higher mean P(alive) than ``medium``):

* ``high``: ``p_alive`` < 0.3 (for the rhythm alone: overdue > 2.74 gaps);
* ``medium``: ``p_alive`` < 0.6 (overdue > 1.74 gaps);
* ``low``: otherwise (also when no rhythm is known: nobody has bought twice).

``clv_if_alive`` = ``clv / p_alive_model``: the CLV the customer would have if surely still
active (the model's CLV already weighs its own P(alive)); ``clv_at_stake`` = ``clv_if_alive ×
(1 − p_alive)``: the part of it the dropout takes away, i.e. what keeping the customer would
recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.build.definitions import BUYERS, named
from percorso.errors import InputError, NotFound, suggest

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

    from percorso.engine import Engine

LEVELS = ("high", "medium", "low")
#: ``(level, p_alive below which it applies)``, most at risk first; ``low`` is the rest.
THRESHOLDS = (("high", 0.3), ("medium", 0.6))
#: mean gaps of silence past the usual one after which the rhythm's P(alive) halves
HALF_LIFE_GAPS = 1.0


def risk_level(p_alive: Any) -> Any:
    """The level of a ``p_alive`` column: the first threshold it falls below, else ``low``."""
    return ibis.cases(*((p_alive < cut, lvl) for lvl, cut in THRESHOLDS), else_="low")


def churn_expr(engine: Engine) -> Table:
    """Per customer: P(alive) of the model, of the rhythm and their minimum, the rhythm (own or
    typical gap), overdue ratio, risk level, CLV at stake."""
    if not engine.has_table("customer_value"):  # the engine's own message said "run `percorso build` first?"
        raise NotFound("no CLV fit yet (table customer_value): run `percorso clv fit` first, then `percorso churn`",
                       code="clv_not_fitted")
    cv = engine.table("customer_value")
    own = cv.recency / cv.frequency
    typical = cv.filter(cv.frequency > 0).select(g=own).g.median().as_scalar()
    t = cv.mutate(
        mean_gap=ibis.cases((cv.frequency > 0, own), else_=typical),
        rhythm=ibis.cases((cv.frequency > 0, "own"), else_="typical"),
        silence=cv["T"] - cv.recency,
    )
    t = t.mutate(overdue=ibis.cases((t.mean_gap > 0, t.silence / t.mean_gap), else_=ibis.null("float64")))
    late = (t.overdue.fill_null(0.0) - 1).clip(lower=0) / HALF_LIFE_GAPS
    t = t.rename(p_alive_model="p_alive").mutate(p_alive_rhythm=ibis.literal(2.0).pow(-late))
    t = t.mutate(p_alive=ibis.least(t.p_alive_model, t.p_alive_rhythm))
    if_alive = ibis.cases((t.p_alive_model > 0, t.clv / t.p_alive_model), else_=0.0)
    return t.mutate(churn_risk=1 - t.p_alive, risk_level=risk_level(t.p_alive), clv_if_alive=if_alive,
                    clv_at_stake=if_alive * (1 - t.p_alive))

class ChurnQuery(AnalysisQuery):
    """Customers, value and CLV at stake per churn risk level (``segment``: only its members)."""

    kind: ClassVar[str] = "churn"


@dataclass
class ChurnResult(AnalysisResult):
    def figure(self) -> go.Figure:
        import plotly.express as px

        return px.bar(self.frame, x="risk_level", y="clv_at_stake", text="customers",
                      title="CLV at stake by churn risk / CLV a rischio per livello")


class ChurnRunner(Runner[ChurnQuery, ChurnResult]):
    query_type = ChurnQuery
    drill_by = ('risk_level',)  # frame columns that name a cell's customers (selectors)

    def _churn(self) -> Table:
        from percorso.value.segments.store import in_segment

        return in_segment(self.engine, churn_expr(self.engine), self.query.segment, self.settings)

    def calculate(self) -> ChurnResult:
        t = self._churn()
        df = self.engine.execute(t.group_by("risk_level").aggregate(
            customers=t.count(), one_time_buyers=(t.rhythm == "typical").cast("int64").sum(),
            avg_p_alive=t.p_alive.mean(), avg_p_alive_model=t.p_alive_model.mean(),
            avg_overdue=t.overdue.mean(),
            clv=t.clv.sum(), clv_if_alive=t.clv_if_alive.sum(), clv_at_stake=t.clv_at_stake.sum()))
        df = df.sort_values("risk_level", key=lambda s: s.map({v: i for i, v in enumerate(LEVELS)}))
        return ChurnResult(frame=df.reset_index(drop=True), query=self.query,
                           meta={"definitions": named(customers=BUYERS)})  # the CLV fit's buyers

    def customers_expr(self, **selector: Any) -> Table:
        t = self._churn()
        lvl = selector.pop("risk_level", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: risk_level")
        if lvl is not None:
            if lvl not in LEVELS:
                raise InputError(f"unknown risk level '{lvl}'; {suggest(lvl, LEVELS)}")
            t = t.filter(t.risk_level == lvl)
        return t.order_by(ibis.desc("clv_at_stake"))
