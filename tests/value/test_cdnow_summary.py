"""The calibration summary rebuilt by percorso's RFM code equals the published CDNOW summary."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from percorso.value.rfm import summary_expr

CDNOW = Path("/work/shared/data/cdnow")


def test_summary_equals_published(cdnow_engine):
    got = cdnow_engine.execute(summary_expr(cdnow_engine, date(1997, 9, 30)))
    got["ID"] = got["customer_id"].astype(int)
    got = got.set_index("ID").sort_index()
    pub = pd.read_csv(CDNOW / "cdnow_customers_summary.csv").set_index("ID").sort_index()
    pubm = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv").set_index("ID").sort_index()
    assert len(got) == len(pub) == 2357
    assert (got.index == pub.index).all()
    assert (got["frequency"].to_numpy() == pub["frequency"].to_numpy()).all()
    # published values are rounded to 2 decimals of weeks
    np.testing.assert_allclose(got["recency_days"] / 7, pub["recency"], atol=0.0051)
    np.testing.assert_allclose(got["T_days"] / 7, pub["T"], atol=0.0051)
    np.testing.assert_allclose(got["monetary"], pubm["zbar"], atol=0.0051)
