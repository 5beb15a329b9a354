"""Optional Bayesian BG/NBD and Gamma-Gamma through pymc-marketing (``pip install 'percorso[bayes]'``).

Why optional: PyMC pulls a large tree (pytensor, arviz, numba) and compiles models at run
time; the default install fits by maximum likelihood (:mod:`percorso.value.clv.pipeline`),
which reproduces the published estimates in well under a second. The Bayesian fit adds
**credible intervals** for the parameters (posterior mean, sd and 94 % HDI, with R-hat),
next to the maximum-likelihood estimate and its 95 % interval for comparison.

pymc-marketing models one row per customer and has no weights, so the fit runs on a
deterministic sample of customers (the first ``sample`` by ``hash(customer_id)``), built
from the same calibration summary as the maximum-likelihood fit. pymc-marketing is imported
only inside :func:`fit_bayes`; without it the call fails at once with :class:`ExtraMissing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from percorso.errors import PercorsoError

if TYPE_CHECKING:
    import pandas as pd

    from percorso.engine import Engine

INSTALL_HINT = ("the Bayesian CLV fit needs the optional extra: pip install 'percorso[bayes]' "
                "(il fit bayesiano richiede l'extra [bayes]: pymc-marketing)")
#: pymc-marketing's parameter names → percorso's.
PARAMS = {"bg_nbd": {"r": "r", "alpha": "alpha", "a": "a", "b": "b"},
          "gamma_gamma": {"p": "p", "q": "q", "v": "gamma"}}


class ExtraMissing(PercorsoError, ImportError):
    """An optional extra (here ``percorso[bayes]``) is not installed."""

    code = "extra_missing"
    exit_code = 2


def require_pymc_marketing() -> Any:
    """``pymc_marketing.clv``, or :class:`ExtraMissing` with the install command."""
    try:
        import pymc_marketing.clv as clv
    except ImportError:
        raise ExtraMissing(INSTALL_HINT) from None
    return clv


@dataclass
class BayesResult:
    """Posterior summaries (``frame``) and the fitted pymc-marketing models."""

    frame: pd.DataFrame
    models: dict[str, Any]
    meta: dict[str, Any]

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()


def fit_bayes(engine: Engine, settings: Any = None, *, calibration_end: date | None = None, sample: int = 20_000,
              draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 0) -> BayesResult:
    """MCMC fit of BG/NBD (all sampled customers) and Gamma-Gamma (their repeat buyers).

    Parameters
    ----------
    sample
        Customers in the fit (deterministic: by ``hash(customer_id)``).
    draws, tune, chains, seed
        NUTS settings (chains run one after the other: the 2-core machine class).
    """
    clv = require_pymc_marketing()
    import pandas as pd

    from percorso.value.clv.analysis import param_frame
    from percorso.value.clv.pipeline import DAYS_PER_UNIT, calibration_summary, fit_models, last_order_day
    from percorso.value.settings import value_settings

    cfg = value_settings(settings).clv
    end = calibration_end or last_order_day(engine)
    unit = DAYS_PER_UNIT[cfg.time_unit]
    with calibration_summary(engine, end) as s:
        mle, _ = fit_models(engine, s, cfg, end, {})
        pick = s.mutate(_h=s.customer_id.hash()).order_by(["_h", "customer_id"]).limit(sample)
        df = engine.execute(pick.select("customer_id", "frequency", "recency_days", "T_days", "monetary"))
    data = pd.DataFrame({"customer_id": range(len(df)), "frequency": df["frequency"].astype(float),
                         "recency": df["recency_days"] / unit, "T": df["T_days"] / unit})
    spend = df[(df["frequency"] > 0) & (df["monetary"] > 0)]
    gg_data = pd.DataFrame({"customer_id": range(len(spend)), "frequency": spend["frequency"].astype(float).values,
                            "monetary_value": spend["monetary"].values})
    kw = {"draws": draws, "tune": tune, "chains": chains, "cores": 1, "random_seed": seed, "progressbar": False}
    models = {"bg_nbd": clv.BetaGeoModel(data=data), "gamma_gamma": clv.GammaGammaModel(data=gg_data)}
    rows = []
    mle_rows = param_frame(mle).set_index(["model", "param"])
    for name, model in models.items():
        model.fit(method="mcmc", **kw)
        summ = model.fit_summary()
        for theirs, ours in PARAMS[name].items():
            r = summ.loc[theirs]
            m = mle_rows.loc[(name, ours)]
            rows.append({"model": name, "param": ours, "mean": r["mean"], "sd": r["sd"], "hdi_3%": r["hdi_3%"],
                         "hdi_97%": r["hdi_97%"], "r_hat": r.get("r_hat"), "mle": m["estimate"],
                         "mle_ci95_low": m["ci95_low"], "mle_ci95_high": m["ci95_high"]})
    frame = pd.DataFrame(rows)
    bad = frame[frame["r_hat"].astype(float) > 1.01]
    warnings = [f"{r.model}: R-hat {r.r_hat:.2f} for {r.param} > 1.01: the chains disagree, do not trust its "
                "interval (more --tune/--draws, or the data do not identify it)" for r in bad.itertuples()]
    meta = {"calibration_end": str(end), "customers": len(data), "repeat_buyers": len(gg_data),
            "draws": draws, "tune": tune, "chains": chains, "warnings": warnings + mle.bg.warnings_ + mle.gg.warnings_}
    return BayesResult(frame=frame, models=models, meta=meta)
