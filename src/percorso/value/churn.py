"""Churn risk: P(alive) from BG/NBD and each customer's silence against their own rhythm.

Why both: P(alive) is the model's view; ``overdue`` (time since the last purchase divided by
the customer's mean gap between purchases) is the explainable view a CRM manager can check.
BG/NBD gives every one-time buyer P(alive) = 1 (in the model a customer can only drop out
right after a repeat purchase), so for them the model alone would call someone who bought
once two years ago "safe". Their rhythm is therefore the **typical gap**: the median mean gap
of the repeat buyers (``rhythm = "typical"``; ``"own"`` for repeat buyers).

Rules (documented, first match wins), on ``customer_value`` (run CLV first):

* ``high``: P(alive) < 0.3, or overdue ≥ 3;
* ``medium``: P(alive) < 0.6, or overdue ≥ 1.5;
* ``low``: otherwise (also when no rhythm is known: nobody has bought twice).

``clv_if_alive`` = ``clv / p_alive``: the CLV the customer would have if surely still active;
``clv_at_stake`` = ``clv_if_alive × (1 − p_alive)``: the part of it the dropout probability
takes away, i.e. what keeping the customer would recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.errors import InputError, suggest

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

    from percorso.engine import Engine

LEVELS = ("high", "medium", "low")


def churn_expr(engine: Engine) -> Table:
    """Per customer: p_alive, rhythm (own or typical gap), overdue ratio, risk level, CLV at stake."""
    cv = engine.table("customer_value")
    own = cv.recency / cv.frequency
    typical = cv.filter(cv.frequency > 0).select(g=own).g.median().as_scalar()
    t = cv.mutate(
        mean_gap=ibis.cases((cv.frequency > 0, own), else_=typical),
        rhythm=ibis.cases((cv.frequency > 0, "own"), else_="typical"),
        silence=cv["T"] - cv.recency,
    )
    t = t.mutate(overdue=ibis.cases((t.mean_gap > 0, t.silence / t.mean_gap), else_=ibis.null("float64")))
    over = t.overdue.fill_null(0.0)
    level = ibis.cases(
        ((t.p_alive < 0.3) | (over >= 3), "high"),
        ((t.p_alive < 0.6) | (over >= 1.5), "medium"),
        else_="low",
    )
    if_alive = ibis.cases((t.p_alive > 0, t.clv / t.p_alive), else_=0.0)
    return t.mutate(churn_risk=1 - t.p_alive, risk_level=level, clv_if_alive=if_alive,
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

    def _churn(self) -> Table:
        from percorso.value.segments.store import in_segment

        return in_segment(self.engine, churn_expr(self.engine), self.query.segment, self.settings)

    def calculate(self) -> ChurnResult:
        t = self._churn()
        df = self.engine.execute(t.group_by("risk_level").aggregate(
            customers=t.count(), one_time_buyers=(t.rhythm == "typical").cast("int64").sum(),
            avg_p_alive=t.p_alive.mean(), avg_overdue=t.overdue.mean(),
            clv=t.clv.sum(), clv_if_alive=t.clv_if_alive.sum(), clv_at_stake=t.clv_at_stake.sum()))
        df = df.sort_values("risk_level", key=lambda s: s.map({v: i for i, v in enumerate(LEVELS)}))
        return ChurnResult(frame=df.reset_index(drop=True), query=self.query)

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
