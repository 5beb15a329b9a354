"""What the CLV estimators share: input checks, standard errors, JSON persistence.

Why JSON and not pickle: a saved model must be readable by any later percorso version
and safe to load from a file someone else wrote; it is four numbers plus metadata.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize

from percorso.errors import InputError, NotFound

FORMAT_VERSION = 1
#: Search range of every log-parameter: parameters live in [e^-12, e^12].
LOG_BOUND = 12.0
#: A parameter whose SE exceeds its estimate is not pinned down by the data: its 95 % interval
#: spans a factor of e^(2·1.96) ≈ 50 or more. On CDNOW the largest relative SE is 0.29 (BG/NBD b);
#: on the demo BG/NBD a = 64,727 ± 137,612 (2.1) and b alike, a ridge where only a/(a+b) is known.
MAX_RELATIVE_SE = 1.0


def _num(v: float) -> str:
    """A number for the fit's warnings, read the same in every locale: no thousands separator
    (``alpha = 92,802`` read as 92.8 next to an Italian table's ``92.802,18``)."""
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def identification_problem(value: float, se: float) -> str | None:
    """Why the data do not identify a parameter (at the edge of the search range, no standard
    error, or a standard error larger than the estimate), or None when they do. The one rule
    behind the fit's warnings and the ``identified`` column of the parameter tables."""
    if value <= 0 or abs(np.log(value)) > LOG_BOUND - 0.5:
        return "at the edge of the search range"
    if not np.isfinite(se):
        return "no standard error (the likelihood is flat in some direction)"
    if se / value > MAX_RELATIVE_SE:
        return f"SE {_num(se)} > the estimate (relative SE {se / value:.2g})"
    return None


def wsum(w: np.ndarray, v: np.ndarray) -> float:
    """Weighted sum Σ w·v. einsum, not ``@``: a threaded BLAS dot on a busy 2-core machine
    was 100× slower than this single pass."""
    return float(np.einsum("i,i->", w, v))


class Estimator:
    """Base: ``__init__`` takes hyperparameters only; ``fit`` sets attributes ending in ``_``."""

    model_name: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()

    params_: dict[str, float]
    se_: dict[str, float]
    loglik_: float
    n_: float
    converged_: bool
    warnings_: list[str]

    def _validate_cols(self, data: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return the required columns (plus ``weights``) as float arrays; fail clearly."""
        cols = list(getattr(data, "columns", None) if hasattr(data, "columns") else data.keys())
        missing = [c for c in self.required if c not in cols]
        if missing:
            raise InputError(
                f"{self.model_name}: missing columns {missing}; needed {list(self.required)} "
                f"(optional 'weights'), got {cols}"
            )
        out = {c: np.asarray(data[c], dtype=float) for c in self.required}
        n = len(next(iter(out.values())))
        out["weights"] = np.asarray(data["weights"], dtype=float) if "weights" in cols else np.ones(n)
        for c, v in out.items():
            if not np.all(np.isfinite(v)) or np.any(v < 0):
                raise InputError(f"{self.model_name}: column '{c}' must be finite and ≥ 0")
        if n == 0 or out["weights"].sum() <= 0:
            raise InputError(f"{self.model_name}: no rows to fit")
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise InputError(f"{self.model_name}: call fit() or load() first")

    def _maximise(self, loglik_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray,
                  n: float, *, ftol: float, maxiter: int) -> None:
        """Maximum likelihood on log-parameters with L-BFGS-B; set the fitted attributes.

        ``params_``, ``se_`` (from the observed information), ``loglik_``, ``n_``,
        ``converged_`` and ``warnings_``: the reasons the estimates should not be trusted
        (no convergence, a parameter at the edge of the search range, no standard error),
        which on retail data usually means too few repeat buyers to identify the model.
        """
        pen = float(getattr(self, "penalizer", 0.0))

        def obj(lp: np.ndarray) -> tuple[float, np.ndarray]:
            th = np.exp(lp)
            ll, g = loglik_and_grad(th)
            ll -= pen * float(th @ th)
            g = g - 2 * pen * th
            return -ll / n, -(g * th) / n

        res = minimize(obj, x0, jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * len(x0),
                       options={"ftol": ftol, "gtol": 1e-9, "maxiter": maxiter})
        th = np.exp(res.x)
        self.params_ = dict(zip(self.param_names, map(float, th), strict=True))
        ll, g0 = loglik_and_grad(th)
        self.loglik_ = float(ll)
        se = self._standard_errors(lambda t: loglik_and_grad(t)[1], th, g0)
        self.se_ = dict(zip(self.param_names, map(float, se), strict=True))
        self.n_ = float(n)
        self.converged_ = bool(res.success)
        warn = [] if res.success else [f"{self.model_name}: the optimiser did not converge ({res.message})"]
        loose = [(k, why) for k in self.param_names if (why := identification_problem(self.params_[k], self.se_[k]))]
        if loose:
            reasons = dict.fromkeys(why for _, why in loose)  # the same reason once, its parameters together
            warn.append(f"{self.model_name}: not identified by the data, do not read alone: "
                        + "; ".join(", ".join(f"{k} = {_num(self.params_[k])}" for k, w in loose if w == why)
                                    + f": {why}" for why in reasons)
                        + " (too few repeat buyers, or a ridge where only a combination of parameters is known)")
        self.warnings_ = warn

    @staticmethod
    def _standard_errors(grad: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                         grad0: np.ndarray) -> np.ndarray:
        """SE from the inverse of the observed information (Hessian of the log-likelihood).

        The Hessian is the forward-difference Jacobian of the *analytic* gradient, reusing
        the gradient at the optimum (``grad0``): one gradient per parameter. Its relative error
        is about the step (1e-6 of each parameter), far below what an SE is reported to.
        NaN everywhere when the information is not positive definite (no covariance exists).
        """
        k = len(theta)
        hess = np.empty((k, k))
        for i in range(k):
            h = 1e-6 * max(abs(theta[i]), 1e-3)
            up = theta.copy()
            up[i] += h
            hess[:, i] = (grad(up) - grad0) / h
        info = -(hess + hess.T) / 2
        if not np.all(np.isfinite(info)) or np.any(np.linalg.eigvalsh(info) <= 0):
            return np.full(k, np.nan)
        return np.sqrt(np.diag(np.linalg.inv(info)))

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"model": self.model_name, "format_version": FORMAT_VERSION, "params": self.params_,
                "se": self.se_, "loglik": self.loglik_, "n": self.n_, "hyper": self._hyper(),
                "converged": getattr(self, "converged_", True), "warnings": getattr(self, "warnings_", [])}

    def _hyper(self) -> dict[str, Any]:
        return {}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        if d.get("model") != cls.model_name:
            raise InputError(f"not a {cls.model_name} model: model = {d.get('model')!r}")
        if d.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{cls.model_name}: unsupported format_version {d.get('format_version')!r}; "
                             f"this percorso reads {FORMAT_VERSION}")
        obj = cls(**d.get("hyper", {}))
        obj.params_ = {k: float(d["params"][k]) for k in cls.param_names}
        obj.se_ = {k: float(v) for k, v in d.get("se", {}).items()}
        obj.loglik_ = float(d.get("loglik", np.nan))
        obj.n_ = float(d.get("n", np.nan))
        obj.converged_ = bool(d.get("converged", True))
        obj.warnings_ = [str(w) for w in d.get("warnings", [])]
        return obj

    @classmethod
    def load(cls, path: str | Path) -> Any:
        p = Path(path)
        if not p.exists():
            raise NotFound(f"no saved model at {p}; run `percorso clv fit` first")
        return cls.from_dict(json.loads(p.read_text(encoding="utf-8")))
