"""From ``orders`` to the ``customer_value`` table: summary → fit → per-customer CLV.

Why this shape: the engine builds the per-customer summary once, as a temporary table that
the fits and the final join share (a persistent table would cost a disk write nobody reads
again), and groups it by unique (frequency, recency, T) in whole days; only those grouped
rows and the repeat buyers' (x, mean spend) for Gamma-Gamma come out to numpy.
Predictions are computed once per unique triple (the hypergeometric part once per unique
(x, T)), sent back as Arrow, and joined to every customer in the statement that writes
``customer_value``.

``customer_value`` columns: customer_id, frequency, recency, T (in ``time_unit``), monetary,
p_alive, expected_purchases, expected_aov, clv, horizon_months, calibration_end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    from ibis.expr.types import Table

    from percorso.engine import Engine

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 30.4375}
TRIPLE = ["frequency", "recency_days", "T_days"]


@dataclass
class CLVFit:
    """The two fitted models and what they were fitted on."""

    bg: BetaGeo
    gg: GammaGamma
    calibration_end: date
    settings: CLVSettings
    timings: dict[str, float]
    fitted_at: datetime | None = None
    left_out: int = 0
    """Customers with no ``customer_value`` row: no profiling consent (percorso.privacy)."""


def last_order_day(engine: Engine) -> date:
    """Local day of the last order (the default end of calibration)."""
    o = engine.table("orders")
    d = engine.execute(o.occurred_at_local.max().date())
    # an empty table's max comes back as None, NaN or pandas' NaT (a datetime whose date() is NaT)
    if d is None or d != d or (isinstance(d, float) and np.isnan(d)):
        raise InputError("no orders yet: run `percorso build` (or load orders) before CLV")
    return d.date() if isinstance(d, datetime) else d


@contextmanager
def calibration_summary(engine: Engine, calibration_end: date) -> Iterator[Table]:
    """The per-customer summary (days) up to ``calibration_end`` as a temporary table."""
    t = engine.temp_table(summary_expr(engine, calibration_end))
    try:
        yield t
    finally:
        engine.drop_temp(t)


def grouped_summary(engine: Engine, summary: Table, unit_days: float) -> dict[str, np.ndarray]:
    """Customers per unique (frequency, recency_days, T_days): the BG/NBD sufficient statistics."""
    # ordered: the engine returns groups in any order, and the likelihood summed in another
    # order made two fits of the same data stop apart where it is flat (not identified)
    a = engine.to_arrow(summary.group_by(TRIPLE).aggregate(weights=summary.count()).order_by(TRIPLE))
    rec, T = a["recency_days"].to_numpy(), a["T_days"].to_numpy()
    return {
        "frequency": a["frequency"].to_numpy().astype(float), "recency_days": rec, "T_days": T,
        "recency": rec / unit_days, "T": T / unit_days, "weights": a["weights"].to_numpy().astype(float),
    }


def repeat_buyers(engine: Engine, summary: Table) -> dict[str, np.ndarray]:
    """(repeat purchases, mean repeat spend) of every repeat buyer: Gamma-Gamma's input."""
    s = summary
    a = engine.to_arrow(s.filter((s.frequency > 0) & (s.monetary > 0)).select("frequency", "monetary")
                        .order_by(["frequency", "monetary"]))
    return {"frequency": a["frequency"].to_numpy().astype(float), "monetary": a["monetary"].to_numpy()}


def fit_models(engine: Engine, summary: Table, cfg: CLVSettings, calibration_end: date,
               timings: dict[str, float]) -> tuple[CLVFit, dict[str, np.ndarray]]:
    """Fit BG/NBD on the grouped summary and Gamma-Gamma on the repeat buyers."""
    t0 = time.perf_counter()
    grp = grouped_summary(engine, summary, DAYS_PER_UNIT[cfg.time_unit])
    bg = BetaGeo().fit(grp)
    timings["bgnbd_fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gg = GammaGamma().fit(repeat_buyers(engine, summary))
    timings["gamma_gamma_fit_s"] = time.perf_counter() - t0
    return CLVFit(bg, gg, calibration_end, cfg, timings), grp


def fit_clv(engine: Engine, settings: CLVSettings | None = None, *, calibration_end: date | None = None,
            write: bool = True, privacy: Any = None) -> CLVFit:
    """Fit BG/NBD and Gamma-Gamma on the orders up to ``calibration_end`` (default: the last
    order day) and, when ``write``, (re)write ``customer_value``.

    ``timings`` holds the seconds of each step: ``summary_s``, ``bgnbd_fit_s``,
    ``gamma_gamma_fit_s`` and (when writing) ``predict_s``.

    The models are fitted on every buyer (an aggregate), but per-person predictions are written
    only for people allowed the ``profiling`` purpose now (``privacy``: the project's
    :class:`~percorso.privacy.settings.PrivacySettings`, default legal bases when None); the
    fit's ``left_out`` says how many were left out.
    """
    cfg = settings or CLVSettings()
    end = calibration_end or last_order_day(engine)
    tm: dict[str, float] = {}
    t0 = time.perf_counter()
    with calibration_summary(engine, end) as summary:
        tm["summary_s"] = time.perf_counter() - t0
        fit, grp = fit_models(engine, summary, cfg, end, tm)
        if write:
            t0 = time.perf_counter()
            fit.left_out = write_customer_value(engine, fit, summary, grp, privacy=privacy)
            tm["predict_s"] = time.perf_counter() - t0
    if write:
        save_models(engine, fit)
    return fit


_MODELS = (("fitted_at", "TIMESTAMP"), ("calibration_end", "DATE"), ("model", "VARCHAR"),
           ("definition", "VARCHAR"), ("settings", "VARCHAR"))


def save_models(engine: Engine, fit: CLVFit) -> None:
    """Append both fitted models (JSON, as :meth:`Estimator.to_dict`) to ``clv_models``.

    Why: ``customer_value`` holds the predictions; the estimates, their standard errors and
    the settings that produced them must survive too, so ``percorso clv models`` can show
    them later and a fit can be reloaded without refitting.
    """
    import json

    engine.create_empty_table("clv_models", _MODELS, replace=False)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # stored times are UTC
    engine.append_arrow("clv_models", pa.table({
        "fitted_at": pa.array([now, now], pa.timestamp("us")),
        "calibration_end": pa.array([fit.calibration_end] * 2, pa.date32()),
        "model": [fit.bg.model_name, fit.gg.model_name],
        "definition": [json.dumps(m.to_dict()) for m in (fit.bg, fit.gg)],
        "settings": [fit.settings.model_dump_json()] * 2,
    }))
    from percorso.value.artefacts import clear_stale

    clear_stale(engine, "clv")


def _fits(engine: Engine, all_fits: bool) -> list[CLVFit]:
    import json

    from percorso.errors import NotFound

    if not engine.has_table("clv_models"):
        raise NotFound("no CLV fit yet: run `percorso clv fit` first (nessun modello CLV)")
    t = engine.table("clv_models")
    df = engine.execute((t if all_fits else t.filter(t.fitted_at == t.fitted_at.max())).order_by("fitted_at"))
    fits = []
    for at, rows in df.groupby("fitted_at", sort=True):  # one group per stored fit (a handful)
        by = {r.model: r for r in rows.itertuples()}
        end = by[BetaGeo.model_name].calibration_end
        fits.append(CLVFit(BetaGeo.from_dict(json.loads(by[BetaGeo.model_name].definition)),
                           GammaGamma.from_dict(json.loads(by[GammaGamma.model_name].definition)),
                           end.date() if isinstance(end, datetime) else end,
                           CLVSettings.model_validate_json(by[BetaGeo.model_name].settings), {}, at))
    return fits


def load_models(engine: Engine) -> CLVFit:
    """The last fit stored by :func:`fit_clv` (NotFound before the first)."""
    return _fits(engine, all_fits=False)[-1]


def models_frame(engine: Engine, *, all_fits: bool = False) -> Any:
    """Estimates, SEs and 95 % intervals of the last fit (or of every stored fit)."""
    import pandas as pd

    from percorso.value.clv.analysis import param_frame

    parts = []
    for f in _fits(engine, all_fits):
        pf = param_frame(f)
        pf.insert(0, "calibration_end", str(f.calibration_end))
        pf.insert(0, "fitted_at", f.fitted_at)
        pf["warnings"] = "; ".join(f.bg.warnings_ + f.gg.warnings_)
        parts.append(pf)
    return pd.concat(parts, ignore_index=True)


def _triple_table(grp: dict[str, np.ndarray], **columns: np.ndarray) -> pa.Table:
    """Arrow table keyed by the (frequency, recency_days, T_days) triple, to join in the engine."""
    key = {"frequency": pa.array(grp["frequency"].astype(np.int64)),
           "recency_days": pa.array(grp["recency_days"].astype(np.int64)),
           "T_days": pa.array(grp["T_days"].astype(np.int64))}
    return pa.table({**key, **{k: pa.array(v) for k, v in columns.items()}})


def _predictions(fit: CLVFit, grp: dict[str, np.ndarray], horizon_months: int) -> pa.Table:
    """p_alive, expected purchases and their discounted sum, once per unique triple."""
    cfg = fit.settings
    upm = DAYS_PER_UNIT["month"] / DAYS_PER_UNIT[cfg.time_unit]
    x, tx, T = grp["frequency"], grp["recency"], grp["T"]
    total, dcf = fit.bg.discounted_purchases(x, tx, T, months=horizon_months, unit_per_month=upm,
                                             monthly_rate=cfg.monthly_discount_rate)
    return _triple_table(grp, p_alive=fit.bg.p_alive(x, tx, T), expected_purchases=total,
                         discounted_purchases=dcf)


def write_customer_value(engine: Engine, fit: CLVFit, summary: Table, grp: dict[str, np.ndarray], *,
                         privacy: Any = None) -> int:
    """Join per-triple predictions to every customer allowed ``profiling``; write ``customer_value``.

    Returns how many customers of the summary were left out for lack of profiling consent.
    """
    from percorso.privacy.consent import allowed
    from percorso.privacy.settings import privacy_settings

    cfg = fit.settings
    unit = DAYS_PER_UNIT[cfg.time_unit]
    preds = engine.register_arrow("_value_preds", _predictions(fit, grp, cfg.horizon_months))
    try:
        everyone = summary.join(preds, TRIPLE)
        ok = allowed(engine, "profiling", settings=privacy_settings(privacy), population=summary.select("customer_id"))
        j = everyone.semi_join(ok, "customer_id")
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
        written = engine.create_table("customer_value", out)
        return int(engine.execute(everyone.count())) - written
    finally:
        engine.unregister("_value_preds")


def holdout_rows(engine: Engine, summary: Table, fit: CLVFit, grp: dict[str, np.ndarray],
                 holdout_days: int) -> Table:
    """Per calibration customer: frequency bucket, predicted and actual holdout purchases.

    Columns: customer_id, frequency, recency_days, T_days, bucket (repeat purchases in
    calibration, 7 for 7 or more), predicted, actual. The predictions are computed once per
    unique triple and joined in the engine; the actual count is the number of purchase days
    of each customer after ``fit.calibration_end`` up to ``calibration_end + holdout_days``.
    """
    unit = DAYS_PER_UNIT[fit.settings.time_unit]
    pred = fit.bg.expected_purchases(holdout_days / unit, grp["frequency"], grp["recency"], grp["T"])
    preds = ibis.memtable(_triple_table(grp, predicted=pred))
    end = fit.calibration_end
    h = purchase_days(engine, start=end + timedelta(days=1), end=end + timedelta(days=holdout_days))
    act = h.group_by("customer_id").aggregate(actual=h.count())
    j = summary.join(preds, TRIPLE).left_join(act, "customer_id")
    return j.select("customer_id", "frequency", "recency_days", "T_days", bucket=ibis.least(j.frequency, 7),
                    predicted=j.predicted, actual=j.actual.fill_null(0))


def holdout_report(engine: Engine, holdout_days: int, settings: CLVSettings | None = None) -> Any:
    """Calibration/holdout check: mean predicted vs actual purchases per frequency bucket.

    The models are fitted on orders up to ``last day − holdout``; the actual count is the
    number of purchase days of each calibration customer inside the holdout window.
    Returns the frame, the fit and the grouped summary (for :func:`holdout_rows`).
    """
    cfg = settings or CLVSettings()
    end = last_order_day(engine) - timedelta(days=holdout_days)
    with calibration_summary(engine, end) as summary:
        fit, grp = fit_models(engine, summary, cfg, end, {})
        j = holdout_rows(engine, summary, fit, grp, holdout_days)
        agg = j.group_by("bucket").aggregate(customers=j.count(), predicted=j.predicted.mean(),
                                             actual=j.actual.mean())
        df = engine.execute(agg.order_by("bucket"))
    df["bucket"] = df["bucket"].map(bucket_label)
    return df, fit, grp


def bucket_label(b: int) -> str:
    """The label of a frequency bucket: ``0`` … ``6``, then ``7+``."""
    return f"{b}+" if b >= 7 else str(b)
