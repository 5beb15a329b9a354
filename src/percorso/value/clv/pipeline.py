"""From ``orders`` to the ``customer_value`` table: summary → fit → per-customer CLV.

Why this shape: the engine builds the per-customer summary and groups it by unique
(frequency, recency, T) in whole days; only those grouped rows (and the repeat buyers'
(x, mean spend) for Gamma-Gamma) come out to numpy. Predictions are computed once per
unique triple, sent back as Arrow, and joined in the engine.

``customer_value`` columns: customer_id, frequency, recency, T (in ``time_unit``), monetary,
p_alive, expected_purchases, expected_aov, clv, horizon_months, calibration_end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pyarrow as pa

from percorso.errors import InputError
from percorso.value.clv.bg_nbd import BetaGeo
from percorso.value.clv.gamma_gamma import GammaGamma
from percorso.value.rfm import purchase_days, summary_expr
from percorso.value.settings import CLVSettings

if TYPE_CHECKING:
    from percorso.engine import Engine

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 30.4375}
SUMMARY_TABLE = "_value_summary"


@dataclass
class CLVFit:
    bg: BetaGeo
    gg: GammaGamma
    calibration_end: date
    settings: CLVSettings
    timings: dict[str, float]


def last_order_day(engine: Engine) -> date:
    o = engine.table("orders")
    d = engine.execute(o.occurred_at.max().date())
    if d is None or (isinstance(d, float) and np.isnan(d)):
        raise InputError("no orders yet: run `percorso build` (or load orders) before CLV")
    from datetime import datetime

    return d.date() if isinstance(d, datetime) else d


def build_summary(engine: Engine, calibration_end: date) -> None:
    """Materialise the per-customer summary (days) once; the fits and the join reuse it."""
    engine.create_table(SUMMARY_TABLE, summary_expr(engine, calibration_end))


def _grouped(engine: Engine, unit_days: float) -> dict[str, np.ndarray]:
    s = engine.table(SUMMARY_TABLE)
    g = s.group_by(["frequency", "recency_days", "T_days"]).aggregate(weights=s.count())
    a = engine.to_arrow(g)
    return {
        "frequency": a["frequency"].to_numpy().astype(float),
        "recency_days": a["recency_days"].to_numpy(),
        "T_days": a["T_days"].to_numpy(),
        "recency": a["recency_days"].to_numpy() / unit_days,
        "T": a["T_days"].to_numpy() / unit_days,
        "weights": a["weights"].to_numpy().astype(float),
    }


def _repeat_buyers(engine: Engine) -> dict[str, np.ndarray]:
    s = engine.table(SUMMARY_TABLE)
    a = engine.to_arrow(s.filter((s.frequency > 0) & (s.monetary > 0)).select("frequency", "monetary"))
    return {"frequency": a["frequency"].to_numpy().astype(float), "monetary": a["monetary"].to_numpy()}


def fit_clv(engine: Engine, settings: CLVSettings | None = None, *, calibration_end: date | None = None,
            write: bool = True) -> CLVFit:
    """Fit BG/NBD and Gamma-Gamma on the orders up to ``calibration_end`` (default: the last
    order day) and, when ``write``, (re)write ``customer_value``."""
    import time

    cfg = settings or CLVSettings()
    end = calibration_end or last_order_day(engine)
    tm: dict[str, float] = {}
    t0 = time.perf_counter()
    build_summary(engine, end)
    tm["summary_s"] = time.perf_counter() - t0
    unit = DAYS_PER_UNIT[cfg.time_unit]
    t0 = time.perf_counter()
    grp = _grouped(engine, unit)
    bg = BetaGeo().fit(grp)
    tm["bgnbd_fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gg = GammaGamma().fit(_repeat_buyers(engine))
    tm["gamma_gamma_fit_s"] = time.perf_counter() - t0
    fit = CLVFit(bg, gg, end, cfg, tm)
    if write:
        t0 = time.perf_counter()
        write_customer_value(engine, fit, grp)
        tm["predict_s"] = time.perf_counter() - t0
    return fit


def _predictions(fit: CLVFit, grp: dict[str, np.ndarray], horizon_months: int) -> pa.Table:
    cfg = fit.settings
    upm = DAYS_PER_UNIT["month"] / DAYS_PER_UNIT[cfg.time_unit]
    x, tx, T = grp["frequency"], grp["recency"], grp["T"]
    total, dcf = fit.bg.discounted_purchases(x, tx, T, months=horizon_months, unit_per_month=upm,
                                             monthly_rate=cfg.monthly_discount_rate)
    return pa.table({
        "frequency": pa.array(x.astype(np.int64)),
        "recency_days": pa.array(grp["recency_days"].astype(np.int64)),
        "T_days": pa.array(grp["T_days"].astype(np.int64)),
        "p_alive": pa.array(fit.bg.p_alive(x, tx, T)),
        "expected_purchases": pa.array(total),
        "discounted_purchases": pa.array(dcf),
    })


def write_customer_value(engine: Engine, fit: CLVFit, grp: dict[str, np.ndarray] | None = None) -> int:
    """Join per-triple predictions to every customer in the engine; write ``customer_value``."""
    cfg = fit.settings
    unit = DAYS_PER_UNIT[cfg.time_unit]
    grp = grp or _grouped(engine, unit)
    preds = engine.register_arrow("_value_preds", _predictions(fit, grp, cfg.horizon_months))
    try:
        s = engine.table(SUMMARY_TABLE)
        j = s.join(preds, ["frequency", "recency_days", "T_days"])
        p, q, g = (fit.gg.params_[k] for k in ("p", "q", "gamma"))
        pop = p * g / (q - 1) if q > 1 else 0.0
        x = j.frequency.cast("float64")
        aov = ibis.cases(((j.frequency > 0) & (j.monetary > 0), p * (g + x * j.monetary) / (p * x + q - 1)),
                         else_=pop)
        out = j.select(
            "customer_id", "frequency",
            recency=j.recency_days / unit, T=j.T_days / unit, monetary=j.monetary,
            p_alive=j.p_alive, expected_purchases=j.expected_purchases, expected_aov=aov,
            clv=cfg.margin * aov * j.discounted_purchases,
            horizon_months=ibis.literal(cfg.horizon_months),
            calibration_end=ibis.literal(fit.calibration_end),
        )
        return engine.create_table("customer_value", out)
    finally:
        engine.unregister("_value_preds")


def holdout_report(engine: Engine, holdout_days: int, settings: CLVSettings | None = None) -> Any:
    """Calibration/holdout check: mean predicted vs actual purchases per frequency bucket.

    The models are fitted on orders up to ``last day − holdout``; the actual count is the
    number of purchase days of each calibration customer inside the holdout window.
    """
    cfg = settings or CLVSettings()
    last = last_order_day(engine)
    end = last - timedelta(days=holdout_days)
    fit = fit_clv(engine, cfg, calibration_end=end, write=False)
    unit = DAYS_PER_UNIT[cfg.time_unit]
    grp = _grouped(engine, unit)
    pred = fit.bg.expected_purchases(holdout_days / unit, grp["frequency"], grp["recency"], grp["T"])
    tbl = pa.table({"frequency": grp["frequency"].astype(np.int64), "recency_days": grp["recency_days"],
                    "T_days": grp["T_days"], "predicted": pred})
    preds = engine.register_arrow("_value_holdout", tbl)
    try:
        s = engine.table(SUMMARY_TABLE)
        h = purchase_days(engine, start=end + timedelta(days=1), end=last)
        act = h.group_by("customer_id").aggregate(actual=h.count())
        j = s.join(preds, ["frequency", "recency_days", "T_days"]).left_join(act, "customer_id")
        bucket = ibis.least(j.frequency, 7)
        agg = j.group_by(bucket=bucket).aggregate(
            customers=j.count(), predicted=j.predicted.mean(), actual=j.actual.fill_null(0).mean())
        df = engine.execute(agg.order_by("bucket"))
    finally:
        engine.unregister("_value_holdout")
    df["bucket"] = df["bucket"].map(lambda b: f"{b}+" if b >= 7 else str(b))
    return df, fit
