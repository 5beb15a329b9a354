"""CLV as an analysis (query → runner → result) and the holdout validation result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.errors import InputError
from percorso.value.settings import value_settings

if TYPE_CHECKING:
    import plotly.graph_objects as go


class CLVQuery(AnalysisQuery):
    """Fit BG/NBD + Gamma-Gamma and write ``customer_value``; the frame lists the estimates."""

    kind: ClassVar[str] = "clv"
    calibration_end: date | None = None


@dataclass
class CLVResult(AnalysisResult):
    deciles: Any = None

    def figure(self) -> go.Figure:
        import plotly.express as px

        return px.bar(self.deciles, x="decile", y="avg_clv", title="CLV per decile / CLV per decile")


class CLVRunner(Runner[CLVQuery, CLVResult]):
    query_type = CLVQuery

    def calculate(self) -> CLVResult:
        import pandas as pd

        from percorso.value.clv.pipeline import fit_clv

        cfg = value_settings(self.settings).clv
        fit = fit_clv(self.engine, cfg, calibration_end=self.query.calibration_end)
        rows = [{"model": m.model_name, "param": k, "estimate": v, "se": m.se_[k]}
                for m in (fit.bg, fit.gg) for k, v in m.params_.items()]
        cv = self.engine.table("customer_value")
        dec = cv.mutate(decile=ibis.ntile(10).over(order_by=ibis.desc(cv.clv)) + 1)
        deciles = self.engine.execute(dec.group_by("decile").aggregate(
            customers=dec.count(), avg_clv=dec.clv.mean(), avg_p_alive=dec.p_alive.mean()).order_by("decile"))
        return CLVResult(frame=pd.DataFrame(rows), query=self.query, deciles=deciles,
                         meta={"loglik_bg_nbd": fit.bg.loglik_, "loglik_gamma_gamma": fit.gg.loglik_,
                               "calibration_end": str(fit.calibration_end), "timings": fit.timings})

    def customers_expr(self, **selector: Any) -> Any:
        cv = self.engine.table("customer_value")
        dec = selector.pop("decile", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: decile")
        if dec is not None:
            cv = cv.mutate(decile=ibis.ntile(10).over(order_by=ibis.desc(cv.clv)) + 1)
            cv = cv.filter(cv.decile == int(dec))
        return cv


@dataclass
class HoldoutResult:
    frame: Any
    holdout_days: int

    def to_frame(self) -> Any:
        return self.frame.copy()

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        f = go.Figure()
        f.add_bar(x=self.frame["bucket"], y=self.frame["actual"], name="actual / reale")
        f.add_scatter(x=self.frame["bucket"], y=self.frame["predicted"], name="predicted / previsto",
                      mode="lines+markers")
        f.update_layout(title=f"Holdout {self.holdout_days} giorni: acquisti previsti vs reali",
                        xaxis_title="purchases in calibration / acquisti in calibrazione",
                        yaxis_title="purchases per customer in holdout")
        return f


def validate_holdout(engine: Any, holdout: str, settings: Any = None) -> HoldoutResult:
    """``holdout`` like ``26w``, ``180d`` or ``6m``."""
    from percorso.value.clv.pipeline import holdout_report

    days = parse_duration_days(holdout)
    df, _ = holdout_report(engine, days, value_settings(settings).clv)
    return HoldoutResult(frame=df, holdout_days=days)


def parse_duration_days(text: str) -> int:
    units = {"d": 1, "w": 7, "m": 30}
    t = text.strip().lower()
    if len(t) < 2 or t[-1] not in units or not t[:-1].isdigit() or int(t[:-1]) <= 0:
        raise InputError(f"bad duration '{text}'; use a number followed by d, w or m (e.g. 26w, 180d, 6m)")
    return int(t[:-1]) * units[t[-1]]
