"""Churn risk: P(alive) from BG/NBD and each customer's silence against their own rhythm.

Why both: P(alive) is the model's view; ``overdue`` (days since the last purchase divided by
the customer's mean gap between purchases) is the explainable view a CRM manager can check.

Rules (documented, first match wins), on ``customer_value`` (run CLV first):

* ``high``: P(alive) < 0.3, or overdue ≥ 3;
* ``medium``: P(alive) < 0.6, or overdue ≥ 1.5;
* ``low``: otherwise.

``clv_at_stake`` = the CLV the customer would have if surely alive, times (1 − P(alive)):
``clv / p_alive × (1 − p_alive)``.
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
    """Per customer: p_alive, mean gap, overdue ratio, risk level, CLV at stake."""
    cv = engine.table("customer_value")
    gap = ibis.cases((cv.frequency > 0, cv.recency / cv.frequency), else_=ibis.null("float64"))
    t = cv.mutate(mean_gap=gap, silence=cv["T"] - cv.recency)
    t = t.mutate(overdue=t.silence / t.mean_gap)
    over = t.overdue.fill_null(0.0)
    level = ibis.cases(
        ((t.p_alive < 0.3) | (over >= 3), "high"),
        ((t.p_alive < 0.6) | (over >= 1.5), "medium"),
        else_="low",
    )
    stake = ibis.cases((t.p_alive > 0, t.clv / t.p_alive * (1 - t.p_alive)), else_=0.0)
    return t.mutate(churn_risk=1 - t.p_alive, risk_level=level, clv_at_stake=stake)


class ChurnQuery(AnalysisQuery):
    kind: ClassVar[str] = "churn"


@dataclass
class ChurnResult(AnalysisResult):
    def figure(self) -> go.Figure:
        import plotly.express as px

        return px.bar(self.frame, x="risk_level", y="clv_at_stake", text="customers",
                      title="CLV at stake by churn risk / CLV a rischio per livello")


class ChurnRunner(Runner[ChurnQuery, ChurnResult]):
    query_type = ChurnQuery

    def calculate(self) -> ChurnResult:
        t = churn_expr(self.engine)
        df = self.engine.execute(t.group_by("risk_level").aggregate(
            customers=t.count(), avg_p_alive=t.p_alive.mean(), avg_overdue=t.overdue.mean(),
            clv=t.clv.sum(), clv_at_stake=t.clv_at_stake.sum()))
        df = df.sort_values("risk_level", key=lambda s: s.map({v: i for i, v in enumerate(LEVELS)}))
        return ChurnResult(frame=df.reset_index(drop=True), query=self.query)

    def customers_expr(self, **selector: Any) -> Table:
        t = churn_expr(self.engine)
        lvl = selector.pop("risk_level", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: risk_level")
        if lvl is not None:
            if lvl not in LEVELS:
                raise InputError(f"unknown risk level '{lvl}'; {suggest(lvl, LEVELS)}")
            t = t.filter(t.risk_level == lvl)
        return t.order_by(ibis.desc("clv_at_stake"))
