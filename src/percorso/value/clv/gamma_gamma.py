"""Gamma-Gamma model of spend per transaction (Fader & Hardie 2013), maximum likelihood.

Why: BG/NBD counts purchases; the value of each needs its own model. Gamma-Gamma assumes
spend is independent of frequency and shrinks each customer's mean towards the population.

Log-likelihood of a customer with x repeat purchases of mean value m::

    ll = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln γ + (px−1) ln m + px ln x − (px+q) ln(γ+xm)

Gradient::

    ∂/∂p = x (ψ(px+q) − ψ(px) + ln m + ln x − ln(γ+xm))
    ∂/∂q = ψ(px+q) − ψ(q) + ln γ − ln(γ+xm)
    ∂/∂γ = q/γ − (px+q)/(γ+xm)

Terms that depend only on x are computed once per distinct x; only ln(γ+xm) and
1/(γ+xm) touch every customer, so one evaluation is two vector operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln

from percorso.errors import InputError
from percorso.value.clv._base import Estimator, wsum


class GammaGamma(Estimator):
    """Gamma-Gamma spend estimator (fit on repeat buyers only: frequency > 0, monetary > 0)."""

    model_name = "gamma_gamma"
    param_names = ("p", "q", "gamma")
    required = ("frequency", "monetary")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = float(penalizer)

    def _hyper(self) -> dict[str, Any]:
        return {"penalizer": self.penalizer}

    @staticmethod
    def loglik_and_grad(theta: np.ndarray, x: np.ndarray, m: np.ndarray, w: np.ndarray,
                        _cache: dict[str, Any] | None = None) -> tuple[float, np.ndarray]:
        """Weighted log-likelihood and gradient in the natural parameters (p, q, γ)."""
        p, q, g = theta
        c = _cache if _cache is not None else {}
        if "ux" not in c:
            ux, inv = np.unique(x, return_inverse=True)
            lm = np.log(m)
            c.update(ux=ux, nx=np.bincount(inv, weights=w), lx=np.log(ux), xm=x * m,
                     s1=wsum(w, x * lm), s0=wsum(w, lm), wx=w * x)
        ux, nx, lx = c["ux"], c["nx"], c["lx"]
        px = p * ux
        s = c["xm"] + g
        L = np.log(s)
        R = np.reciprocal(s, out=s)
        sxL, sL = wsum(c["wx"], L), wsum(w, L)
        sxR, sR = wsum(c["wx"], R), wsum(w, R)
        n = nx.sum()
        ll = (wsum(nx, gammaln(px + q) - gammaln(px) + px * lx) - n * gammaln(q) + n * q * np.log(g)
              + p * c["s1"] - c["s0"] - (p * sxL + q * sL))
        dpq = digamma(px + q)
        gp = wsum(nx, ux * (dpq - digamma(px) + lx)) + c["s1"] - sxL
        gq = wsum(nx, dpq) - n * digamma(q) + n * np.log(g) - sL
        gg = n * q / g - (p * sxR + q * sR)
        return float(ll), np.array([gp, gq, gg])

    def fit(self, data: Mapping[str, Any]) -> GammaGamma:
        """Fit on ``frequency`` (repeat purchases, > 0) and ``monetary`` (their mean, > 0)."""
        d = self._validate_cols(data)
        keep = (d["frequency"] > 0) & (d["monetary"] > 0) & (d["weights"] > 0)
        x, m, w = d["frequency"][keep], d["monetary"][keep], d["weights"][keep]
        if len(x) < 3:
            raise InputError("gamma_gamma: needs at least 3 repeat buyers with positive spend")
        cache: dict[str, Any] = {}
        x0 = np.log([1.0, 1.0, max(float(np.average(m, weights=w)), 1e-3)])
        self._maximise(lambda th: self.loglik_and_grad(th, x, m, w, cache), x0, float(w.sum()),
                       ftol=1e-12, maxiter=1000)
        return self

    def expected_value(self, frequency: Any, monetary: Any) -> np.ndarray:
        """E[spend per transaction | x, m]; the population mean pγ/(q−1) when x = 0."""
        self._check_fitted()
        p, q, g = (self.params_[k] for k in self.param_names)
        x = np.asarray(frequency, float)
        m = np.asarray(monetary, float)
        pop = p * g / (q - 1) if q > 1 else np.nan
        return np.where(x > 0, p * (g + x * m) / (p * x + q - 1), pop)
