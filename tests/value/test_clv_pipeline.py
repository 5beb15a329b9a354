"""From orders in DuckDB to customer_value, on CDNOW; and the holdout report."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from percorso.analysis.base import run
from percorso.errors import InputError
from percorso.value.clv.analysis import CLVQuery, parse_duration_days, validate_holdout
from percorso.value.clv.pipeline import fit_clv


def test_fit_from_orders_matches_published(cdnow_engine):
    fit = fit_clv(cdnow_engine, calibration_end=date(1997, 9, 30))
    p = fit.bg.params_
    for k, v in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert abs(p[k] - v) < 0.005
    for k, v in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert abs(fit.gg.params_[k] - v) < 0.05
    cv = cdnow_engine.execute(cdnow_engine.table("customer_value")).set_index("customer_id")
    assert len(cv) == 2357
    c = cv.loc["1"]  # x=2, t_x=213 days, T=272 days
    assert c.frequency == 2 and c.recency == pytest.approx(213 / 7) and c["T"] == pytest.approx(272 / 7)
    assert c.p_alive == pytest.approx(fit.bg.p_alive([2], [213 / 7], [272 / 7])[0])
    upm = 30.4375 / 7
    e = [fit.bg.expected_purchases(m * upm, [2], [213 / 7], [272 / 7])[0] for m in range(13)]
    assert c.expected_purchases == pytest.approx(e[12])
    aov = fit.gg.expected_value([2], [c.monetary])[0]
    assert c.expected_aov == pytest.approx(aov)
    dcf = sum((e[m] - e[m - 1]) / 1.01 ** m for m in range(1, 13))
    assert c.clv == pytest.approx(aov * dcf)
    assert (cv["clv"] >= 0).all() and cv["p_alive"].between(0, 1).all()


def test_holdout_report(cdnow_engine):
    res = validate_holdout(cdnow_engine, "39w")
    df = res.to_frame()
    assert list(df["bucket"])[:2] == ["0", "1"] and df["customers"].sum() == 2357
    # BG/NBD tracks the CDNOW holdout within ~12% in aggregate (it under-predicts slightly, FHL 2005)
    tot_pred = (df["predicted"] * df["customers"]).sum()
    tot_act = (df["actual"] * df["customers"]).sum()
    assert abs(tot_pred - tot_act) / tot_act < 0.15
    assert len(res.figure().data) == 2


def test_clv_query(cdnow_engine):
    res = run(cdnow_engine, CLVQuery(calibration_end=date(1997, 9, 30)))
    fr = res.to_frame()
    assert set(fr["param"]) == {"r", "alpha", "a", "b", "p", "q", "gamma"}
    assert res.deciles["customers"].sum() == 2357
    top = res.customers(decile=1, limit=1000)
    assert len(top) == res.deciles.loc[0, "customers"]
    assert np.isfinite(fr["se"]).all()


def test_duration_parse():
    assert parse_duration_days("26w") == 182
    with pytest.raises(InputError, match="26x"):
        parse_duration_days("26x")


def test_holdout_drill_down_lists_the_customers_behind_each_row(cdnow_engine):
    """Each bucket's customers, predictions and actual counts are the ones the row averages;
    actual counts are checked against the raw CDNOW log (purchase days in the holdout)."""
    import pandas as pd

    from tests.value.conftest import read_cdnow_sample

    res = validate_holdout(cdnow_engine, "39w")
    df = res.to_frame().set_index("bucket")
    end = pd.Timestamp(res.meta["calibration_end"])
    raw = read_cdnow_sample()
    day = pd.to_datetime(raw["date"], format="%Y%m%d")
    hold = raw[(day > end) & (day <= end + pd.Timedelta(days=res.meta["holdout_days"]))]
    oracle = hold.assign(day=day).groupby(hold["sample_id"].astype(str))["day"].nunique()
    for bucket in ("0", "1", "7+"):
        rows = res.customers(bucket=bucket, limit=5000)
        assert len(rows) == df.loc[bucket, "customers"]
        assert rows["predicted"].mean() == pytest.approx(df.loc[bucket, "predicted"])
        assert rows["actual"].mean() == pytest.approx(df.loc[bucket, "actual"])
        expect = oracle.reindex(rows["customer_id"]).fillna(0).to_numpy()
        assert (rows["actual"].to_numpy() == expect).all()
    assert len(res.customers(bucket="7", limit=5000)) == df.loc["7+", "customers"]
    with pytest.raises(InputError, match="valid: 0, 1"):
        res.customers(bucket="9")


def test_fit_without_orders_says_so(tmp_path):
    """A project with touchpoints and no order: `clv fit` was an internal error (a NaT calibration end)."""
    from percorso.testing import journeys_for

    e = journeys_for(tmp_path, {"a": [("page_view", "2024-01-01 10:00")]})
    try:
        assert e.execute(e.table("orders").count()) == 0
        with pytest.raises(InputError, match="no orders yet"):
            fit_clv(e)
    finally:
        e.close()
