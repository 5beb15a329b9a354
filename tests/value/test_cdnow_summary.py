"""The calibration summary rebuilt by percorso's RFM code equals the published CDNOW summary."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from percorso.value.rfm import summary_expr
from tests.value.conftest import CDNOW_SUMMARY, CDNOW_SUMMARY_TX



def test_summary_equals_published(cdnow_engine):
    got = cdnow_engine.execute(summary_expr(cdnow_engine, date(1997, 9, 30)))
    got["ID"] = got["customer_id"].astype(int)
    got = got.set_index("ID").sort_index()
    pub = pd.read_csv(CDNOW_SUMMARY).set_index("ID").sort_index()
    pubm = pd.read_csv(CDNOW_SUMMARY_TX).set_index("ID").sort_index()
    assert len(got) == len(pub) == 2357
    assert (got.index == pub.index).all()
    assert (got["frequency"].to_numpy() == pub["frequency"].to_numpy()).all()
    # published values are rounded to 2 decimals of weeks
    np.testing.assert_allclose(got["recency_days"] / 7, pub["recency"], atol=0.0051)
    np.testing.assert_allclose(got["T_days"] / 7, pub["T"], atol=0.0051)
    np.testing.assert_allclose(got["monetary"], pubm["zbar"], atol=0.0051)
