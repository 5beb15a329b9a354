"""CLV as an analysis (query → runner → result) and the holdout validation result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from pydantic import Field

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.errors import InputError
from percorso.value.settings import value_settings

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


class CLVQuery(AnalysisQuery):
    """Fit BG/NBD + Gamma-Gamma and write ``customer_value``; the frame lists the estimates.

    ``horizon_months`` and ``monthly_discount_rate`` override ``[value.clv]`` for this fit.
    """

    kind: ClassVar[str] = "clv"
    calibration_end: date | None = None
    horizon_months: int | None = Field(None, ge=1, le=120)
    monthly_discount_rate: float | None = Field(None, ge=0.0, lt=1.0)


def param_frame(fit: Any) -> pd.DataFrame:
    """Estimates with standard errors, 95 % intervals and whether the data identify them.

    The interval is ``θ·exp(±1.96·SE/θ)``: the normal interval of log θ (the scale the
    optimiser works on) mapped back, so it stays positive like the parameters. ``identified``
    is false when :func:`percorso.value.clv._base.identification_problem` finds a reason (at a
    bound, no SE, SE larger than the estimate): such an estimate must not be read alone.
    """
    import numpy as np
    import pandas as pd

    from percorso.value.clv._base import identification_problem

    rows = []
    for m in (fit.bg, fit.gg):
        for k, v in m.params_.items():
            se = m.se_.get(k, np.nan)
            f = np.exp(1.96 * se / v) if v > 0 else np.nan
            rows.append({"model": m.model_name, "param": k, "estimate": v, "se": se,
                         "ci95_low": v / f, "ci95_high": v * f, "identified": identification_problem(v, se) is None})
    return pd.DataFrame(rows)


def predictions_page(engine: Any, settings: Any = None, *, decile: int | None = None, limit: int = 100,
                     offset: int = 0) -> tuple[Any, dict[str, Any]]:
    """A page of stored CLV predictions, highest first (``percorso clv predict``, the API).

    Returns the page (recency and T as ``recency_days`` and ``age_days``) and
    ``{"calibration_end", "horizon_months"}`` of the fit it comes from.
    """
    from percorso.errors import NotFound

    if not engine.has_table("customer_value"):
        raise NotFound("no CLV yet: run `percorso clv fit` first (nessun CLV calcolato)")
    t = decile_expr(engine.table("customer_value"))
    if decile is not None:
        t = t.filter(t.decile == decile)
    head = engine.execute(t.select("calibration_end", "horizon_months").limit(1))
    page = t.order_by([ibis.desc("clv"), "customer_id"]).limit(limit, offset=offset)
    about = ({"calibration_end": head.iloc[0, 0], "horizon_months": int(head.iloc[0, 1])} if len(head) else {})
    return engine.execute(_in_days(page.drop("calibration_end", "horizon_months"), settings)), about


def _in_days(t: Any, settings: Any) -> Any:
    """``customer_value``'s recency and T (in the model's ``time_unit``) as ``recency_days`` and
    ``age_days``: output keys name their unit (docs/architecture.md, "Machine output")."""
    from percorso.value.clv.pipeline import DAYS_PER_UNIT

    days = DAYS_PER_UNIT[value_settings(settings).clv.time_unit]
    named = {"recency": (t.recency * days).name("recency_days"), "T": (t["T"] * days).name("age_days")}
    return t.select([named.get(c, t[c]) for c in t.columns])


def decile_expr(cv: Any) -> Any:
    """``customer_value`` with its CLV decile (1 = highest CLV; ties broken by customer id, so
    the drill-down lists exactly the customers counted)."""
    return cv.mutate(decile=ibis.ntile(10).over(order_by=[ibis.desc(cv.clv), cv.customer_id]) + 1)


def decile_summary(engine: Any) -> pd.DataFrame:
    """Customers, average and total CLV and average P(alive) per decile of the stored fit.

    Read without refitting: the dashboard shows the last fit (``percorso clv fit``) this way,
    and the fit's own result uses the same table.
    """
    dec = decile_expr(engine.table("customer_value"))
    return engine.execute(dec.group_by("decile").aggregate(
        customers=dec.count(), avg_clv=dec.clv.mean(), total_clv=dec.clv.sum(),
        avg_p_alive=dec.p_alive.mean()).order_by("decile"))


@dataclass
class CLVResult(AnalysisResult):
    deciles: Any = None

    def figure(self) -> go.Figure:
        import plotly.express as px

        return px.bar(self.deciles, x="decile", y="avg_clv", hover_data=["customers", "avg_p_alive"],
                      title="CLV per decile (1 = top) / CLV per decile")


class CLVRunner(Runner[CLVQuery, CLVResult]):
    query_type = CLVQuery

    def calculate(self) -> CLVResult:
        from percorso.value.clv.pipeline import fit_clv

        q = self.query
        cfg = value_settings(self.settings).clv
        cfg = cfg.model_copy(update={k: v for k, v in (("horizon_months", q.horizon_months),
                                                        ("monthly_discount_rate", q.monthly_discount_rate))
                                     if v is not None})
        fit = fit_clv(self.engine, cfg, calibration_end=q.calibration_end, privacy=self.settings)
        return CLVResult(frame=param_frame(fit), query=q, deciles=decile_summary(self.engine),
                         meta={"loglik_bg_nbd": fit.bg.loglik_, "loglik_gamma_gamma": fit.gg.loglik_,
                               "calibration_end": str(fit.calibration_end), "horizon_months": cfg.horizon_months,
                               "warnings": fit.bg.warnings_ + fit.gg.warnings_, "timings": fit.timings,
                               # people with no per-person prediction: no profiling consent (percorso.privacy)
                               "left_out_without_profiling_consent": fit.left_out})

    def customers_expr(self, **selector: Any) -> Any:
        cv = self.engine.table("customer_value")
        dec = selector.pop("decile", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: decile")
        if dec is not None:
            cv = decile_expr(cv)
            cv = cv.filter(cv.decile == int(dec))
        return cv


class HoldoutQuery(AnalysisQuery):
    """Calibration/holdout check of the CLV models (``percorso clv validate --holdout 26w``)."""

    kind: ClassVar[str] = "clv_holdout"
    holdout: str = "26w"


@dataclass
class HoldoutResult(AnalysisResult):
    """Predicted vs actual purchases in the holdout, per calibration frequency bucket.

    ``frame``: bucket (repeat purchases in calibration, 7+ pooled), customers, predicted and
    actual purchases per customer and in total. ``meta``: calibration end, holdout window,
    totals over everyone, the relative error of the total and the fit's warnings.
    ``customers(bucket="7+")`` lists the customers of a bucket with their own predicted and
    actual purchases.
    """

    holdout_days: int = 0

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        f = go.Figure()
        f.add_bar(x=self.frame["bucket"], y=self.frame["actual"], name="actual / reale")
        f.add_scatter(x=self.frame["bucket"], y=self.frame["predicted"], name="predicted / previsto",
                      mode="lines+markers")
        f.update_layout(title=f"Holdout {self.holdout_days} giorni: acquisti previsti vs reali "
                              f"(predicted vs actual, total error {self.meta.get('total_error', 0):+.1%})",
                        xaxis_title="repeat purchases in calibration / acquisti ripetuti in calibrazione",
                        yaxis_title="purchases per customer in holdout / acquisti per cliente")
        return f


class HoldoutRunner(Runner[HoldoutQuery, HoldoutResult]):
    """Fits on all but the last ``holdout`` and compares; keeps the fit for the drill-down."""

    query_type = HoldoutQuery
    drill_by = ('bucket',)  # frame columns that name a cell's customers (selectors)
    _fit: Any = None
    _grp: Any = None

    def calculate(self) -> HoldoutResult:
        from percorso.value.clv.pipeline import holdout_report

        days = parse_duration_days(self.query.holdout)
        df, fit, grp = holdout_report(self.engine, days, value_settings(self.settings).clv)
        self._fit, self._grp = fit, grp
        df["predicted_total"] = df["predicted"] * df["customers"]
        df["actual_total"] = df["actual"] * df["customers"]
        pred, act = float(df["predicted_total"].sum()), float(df["actual_total"].sum())
        meta = {"calibration_end": str(fit.calibration_end), "holdout_days": days,
                "customers": int(df["customers"].sum()), "predicted_total": pred, "actual_total": act,
                "total_error": (pred - act) / act if act else float("nan"),
                "warnings": fit.bg.warnings_ + fit.gg.warnings_}
        return HoldoutResult(frame=df, query=self.query, meta=meta, holdout_days=days)

    def customers_expr(self, **selector: Any) -> Any:
        """``bucket``: a row of the table (``0`` … ``6``, ``7+``; ``7`` means ``7+``); without
        it, every calibration customer. Columns: customer_id, frequency, recency_days, T_days,
        bucket, predicted, actual: the same numbers the row averages."""
        from percorso.value.clv.pipeline import holdout_rows
        from percorso.value.rfm import summary_expr

        b = selector.pop("bucket", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: bucket")
        if self._fit is None:
            raise InputError("run the holdout check first (calculate), then drill down")
        summary = summary_expr(self.engine, self._fit.calibration_end)
        rows = holdout_rows(self.engine, summary, self._fit, self._grp, parse_duration_days(self.query.holdout))
        rows = rows.mutate(bucket=ibis.cases((rows.bucket >= 7, "7+"), else_=rows.bucket.cast("string")))
        if b is None:
            return rows
        label = str(b).strip()
        label = "7+" if label in ("7", "7+") else label
        valid = [str(i) for i in range(7)] + ["7+"]
        if label not in valid:
            raise InputError(f"unknown bucket '{b}'; valid: {', '.join(valid)}")
        return rows.filter(rows.bucket == label)


def validate_holdout(engine: Any, holdout: str, settings: Any = None) -> HoldoutResult:
    """Fit on all but the last ``holdout`` (like ``26w``, ``180d`` or ``6m``) and compare."""
    from percorso.analysis.base import run

    return run(engine, HoldoutQuery(holdout=holdout), settings)  # type: ignore[return-value]


def parse_duration_days(text: str) -> int:
    """``26w`` → 182, ``180d`` → 180, ``6m`` → 180 (a month is 30 days here)."""
    units = {"d": 1, "w": 7, "m": 30}
    t = text.strip().lower()
    if len(t) < 2 or t[-1] not in units or not t[:-1].isdigit() or int(t[:-1]) <= 0:
        raise InputError(f"bad duration '{text}'; use a number followed by d, w or m (e.g. 26w, 180d, 6m)")
    return int(t[:-1]) * units[t[-1]]
