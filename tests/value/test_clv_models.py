"""BG/NBD and Gamma-Gamma reproduce the published CDNOW estimates; gradients are right."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from percorso.errors import InputError
from percorso.value.clv import BetaGeo, GammaGamma
from tests.value.conftest import CDNOW_SUMMARY, CDNOW_SUMMARY_TX



@pytest.fixture(scope="module")
def summary():
    return pd.read_csv(CDNOW_SUMMARY)


@pytest.fixture(scope="module")
def bg(summary):
    return BetaGeo().fit(summary.rename(columns={"recency": "recency"}))


def test_bgnbd_published(bg):
    p = bg.params_
    for k, v in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert abs(p[k] - v) < 0.005, (k, p[k])
    assert abs(bg.loglik_ - (-9582.4)) < 0.1
    assert all(np.isfinite(v) and v > 0 for v in bg.se_.values())


def test_bgnbd_grouped_equals_ungrouped(summary, bg):
    g = summary.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
    assert len(g) < len(summary)
    bg2 = BetaGeo().fit(g)
    assert abs(bg2.loglik_ - bg.loglik_) < 1e-6
    for k in bg.params_:
        assert abs(bg2.params_[k] - bg.params_[k]) < 1e-4


def test_bgnbd_gradient_matches_finite_differences(summary):
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = np.ones(len(x))
    th = np.array([0.5, 3.0, 1.3, 2.0])
    _, g = BetaGeo.loglik_and_grad(th, x, tx, T, w)
    fd = approx_fprime(th, lambda t: BetaGeo.loglik_and_grad(t, x, tx, T, w)[0], 1e-6)
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-3)


def test_bgnbd_predictions_hand_formula(bg):
    r, al, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    x, tx, T, t = 2.0, 30.43, 38.86, 39.0
    # formula (10) of Fader, Hardie & Lee (2005), written out directly
    num = (a + b + x - 1) / (a - 1) * (1 - ((al + T) / (al + T + t)) ** (r + x)
                                       * hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t)))
    den = 1 + a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x)
    assert bg.expected_purchases(t, [x], [tx], [T])[0] == pytest.approx(num / den, rel=1e-10)
    assert bg.p_alive([0], [0], [T])[0] == 1.0
    assert bg.p_alive([x], [tx], [T])[0] == pytest.approx(1 / den)


def test_discounted_purchases(bg):
    x, tx, T = np.array([0, 2, 5.0]), np.array([0, 30.43, 20.0]), np.array([38.86, 38.86, 30.0])
    upm = 30.4375 / 7
    total, dcf = bg.discounted_purchases(x, tx, T, months=12, unit_per_month=upm, monthly_rate=0.0)
    np.testing.assert_allclose(total, bg.expected_purchases(12 * upm, x, tx, T))
    np.testing.assert_allclose(dcf, total)
    e = [bg.expected_purchases(m * upm, x, tx, T) for m in range(13)]
    want = sum((e[m] - e[m - 1]) / 1.01 ** m for m in range(1, 13))
    _, dcf1 = bg.discounted_purchases(x, tx, T, months=12, unit_per_month=upm, monthly_rate=0.01)
    np.testing.assert_allclose(dcf1, want)


def test_gamma_gamma_published():
    d = pd.read_csv(CDNOW_SUMMARY_TX)
    d = d[d["x"] > 0]
    assert len(d) == 946
    gg = GammaGamma().fit({"frequency": d["x"], "monetary": d["zbar"]})
    for k, v in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert abs(gg.params_[k] - v) < 0.05, (k, gg.params_[k])
    x, m, w = d["x"].to_numpy(float), d["zbar"].to_numpy(float), np.ones(len(d))
    th = np.array([3.0, 2.0, 10.0])
    _, g = GammaGamma.loglik_and_grad(th, x, m, w)
    fd = approx_fprime(th, lambda t: GammaGamma.loglik_and_grad(t, x, m, w)[0], 1e-6)
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-3)
    p, q, gam = (gg.params_[k] for k in ("p", "q", "gamma"))
    assert gg.expected_value([2], [22.35])[0] == pytest.approx(p * (gam + 2 * 22.35) / (2 * p + q - 1))


def test_save_load_roundtrip(tmp_path, bg):
    bg.save(tmp_path / "m.json")
    bg2 = BetaGeo.load(tmp_path / "m.json")
    assert bg2.params_ == bg.params_ and bg2.se_ == bg.se_
    with pytest.raises(InputError, match="not a gamma_gamma"):
        GammaGamma.load(tmp_path / "m.json")


def test_missing_columns_named():
    with pytest.raises(InputError, match="recency"):
        BetaGeo().fit({"frequency": [1], "T": [2]})


def _bgnbd_ll_direct(th, x, tx, T):
    """FHL (2005) eq. (6) per customer, written out with no rearrangement (the oracle)."""
    from scipy.special import betaln, gammaln

    r, al, a, b = th
    out = []
    for xi, txi, Ti in zip(x, tx, T, strict=True):
        base = gammaln(r + xi) - gammaln(r) + r * np.log(al)
        t1 = betaln(a, b + xi) - betaln(a, b) - (r + xi) * np.log(al + Ti)
        if xi > 0:
            t2 = betaln(a + 1, b + xi - 1) - betaln(a, b) - (r + xi) * np.log(al + txi)
            out.append(base + np.logaddexp(t1, t2))
        else:
            out.append(base + t1)
    return np.array(out)


def test_bgnbd_loglik_equals_direct_formula():
    rng = np.random.default_rng(5)
    n = 300
    x = rng.integers(0, 150, n).astype(float)          # up to 150 repeats: the second term dominates
    T = rng.uniform(0.5, 400, n)
    tx = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    w = rng.integers(1, 4, n).astype(float)
    for th in ([0.243, 4.414, 0.793, 2.426], [3.0, 0.05, 0.2, 9.0], [0.02, 300.0, 6.0, 0.4]):
        th = np.array(th)
        ll, _ = BetaGeo.loglik_and_grad(th, x, tx, T, w)
        assert ll == pytest.approx(float(w @ _bgnbd_ll_direct(th, x, tx, T)), rel=1e-12)
        assert np.isfinite(ll)


def test_standard_errors_match_numerical_hessian(summary, bg):
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = np.ones(len(x))
    th = np.array([bg.params_[k] for k in bg.param_names])

    def ll(t):
        return BetaGeo.loglik_and_grad(t, x, tx, T, w)[0]

    # Hessian from second differences of the log-likelihood value alone (no gradient used)
    k, H = len(th), np.empty((4, 4))
    h = 1e-4 * th
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = (ll(th + ei + ej) - ll(th + ei - ej) - ll(th - ei + ej) + ll(th - ei - ej)) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    np.testing.assert_allclose([bg.se_[p] for p in bg.param_names], se, rtol=1e-3)


def _no_dropout_summary(n: int = 1500, seed: int = 1) -> pd.DataFrame:
    """Customers who buy as Poisson processes and never drop out: BG/NBD's dropout parameters
    a and b have nothing to be estimated from (only a/(a+b) ≈ 0 is)."""
    rng = np.random.default_rng(seed)
    big_t = rng.uniform(30, 100, n)
    lam = rng.gamma(0.5, 1 / 5, n)
    x, tx = [], []
    for i in range(n):
        t = np.sort(rng.uniform(0, big_t[i], rng.poisson(lam[i] * big_t[i])))
        x.append(len(t))
        tx.append(t[-1] if len(t) else 0.0)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": big_t})


def test_identification_rule_by_hand():
    from percorso.value.clv._base import identification_problem

    assert identification_problem(0.79, 0.19) is None                     # CDNOW a: relative SE 0.23
    assert identification_problem(64_727.0, 137_612.0) == "SE 137612 > the estimate (relative SE 2.1)"  # the demo's a
    assert "no standard error" in identification_problem(2.0, float("nan"))
    assert "edge of the search range" in identification_problem(float(np.exp(11.8)), 1.0)
    assert "edge of the search range" in identification_problem(float(np.exp(-11.9)), 1e-9)
    assert identification_problem(3.0, 3.0) is None                        # SE = estimate: still read


def test_identified_on_cdnow_not_without_dropout(bg):
    """CDNOW identifies every parameter (no warning, ``identified`` everywhere); a population
    that never drops out leaves a and b unidentified, and the fit says so by name."""
    from types import SimpleNamespace

    from percorso.value.clv.analysis import param_frame

    d = pd.read_csv(CDNOW_SUMMARY_TX)
    d = d[d["x"] > 0]
    gg = GammaGamma().fit({"frequency": d["x"], "monetary": d["zbar"]})
    assert bg.warnings_ == [] and gg.warnings_ == []
    assert param_frame(SimpleNamespace(bg=bg, gg=gg))["identified"].all()
    loose = BetaGeo().fit(_no_dropout_summary())
    assert len(loose.warnings_) == 1 and loose.warnings_[0].startswith("bg_nbd: not identified by the data")
    assert "; a = " in loose.warnings_[0] or ": a = " in loose.warnings_[0]
    assert "; b = " in loose.warnings_[0] and " r = " not in loose.warnings_[0] and "alpha" not in loose.warnings_[0]
    pf = param_frame(SimpleNamespace(bg=loose, gg=gg)).set_index(["model", "param"])["identified"]
    assert not pf[("bg_nbd", "a")] and not pf[("bg_nbd", "b")] and pf[("bg_nbd", "r")] and pf[("bg_nbd", "alpha")]


def test_warning_numbers_read_the_same_in_every_locale():
    """`alpha = 92,802` in a warning printed under an Italian table showing 92.802,18 read as 92.8."""
    from percorso.value.clv._base import _num

    assert (_num(92802.18), _num(1723.79), _num(0.79221), _num(68.66)) == ("92802", "1724", "0.7922", "68.66")
