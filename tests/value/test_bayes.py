"""The optional Bayesian fit: a clear error without the extra, no import of PyMC by default,
and (where pymc-marketing is installed) posteriors that agree with the maximum likelihood."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from percorso.value.clv.bayes import ExtraMissing, fit_bayes


def test_missing_extra_is_a_clear_error(monkeypatch, cdnow_engine):
    monkeypatch.setitem(sys.modules, "pymc_marketing", None)
    monkeypatch.setitem(sys.modules, "pymc_marketing.clv", None)
    with pytest.raises(ExtraMissing) as err:
        fit_bayes(cdnow_engine, calibration_end=date(1997, 9, 30))
    assert err.value.code == "extra_missing" and isinstance(err.value, ImportError)
    assert "pip install 'percorso[bayes]'" in str(err.value)


def test_default_import_does_not_load_pymc():
    code = ("import sys, percorso.cli, percorso.value.clv.bayes, percorso.value.clv.pipeline\n"
            "from typer.testing import CliRunner\n"
            "assert CliRunner().invoke(percorso.cli.app, ['clv', 'bayes', '--help']).exit_code == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymc', 'pymc_marketing', 'pytensor')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_posterior_agrees_with_maximum_likelihood(cdnow_engine):
    pytest.importorskip("pymc_marketing")
    res = fit_bayes(cdnow_engine, calibration_end=date(1997, 9, 30), draws=300, tune=300, chains=2, seed=3)
    df = res.to_frame().set_index(["model", "param"])
    assert len(df) == 7 and res.meta["customers"] == 2357 and res.meta["repeat_buyers"] == 946
    # weak default priors on 2,357 customers: the posterior mean sits within 2 sd of the MLE,
    # and the MLE inside the 94% HDI
    assert ((df["mean"] - df["mle"]).abs() <= 2 * df["sd"]).all(), df
    assert ((df["hdi_3%"] <= df["mle"]) & (df["mle"] <= df["hdi_97%"])).all(), df
    assert all("R-hat" in w for w in res.meta["warnings"])  # only convergence notes; the MLE is identified
