"""Fixtures of the value tests: the CDNOW sample loaded into a real DuckDB ``orders`` table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from percorso.build.schema import ORDER_COLUMNS
from percorso.engine import Engine

CDNOW = Path("/work/shared/data/cdnow")
_ARROW = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64(),
          "BOOLEAN": pa.bool_(), "INTEGER": pa.int32(), "BIGINT": pa.int64()}


def orders_table(df: pd.DataFrame) -> pa.Table:
    """An ``orders`` Arrow table from a frame holding some of its columns (others NULL)."""
    n = len(df)
    cols = []
    for name, typ in ORDER_COLUMNS:
        if name in df:
            cols.append(pa.array(df[name], type=_ARROW[typ]))
        else:
            cols.append(pa.nulls(n, type=_ARROW[typ]))
    return pa.Table.from_arrays(cols, names=[c for c, _ in ORDER_COLUMNS])


@pytest.fixture(scope="session")
def cdnow_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    if not CDNOW.exists():
        pytest.skip("CDNOW data not available")
    raw = pd.read_csv(CDNOW / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["cust", "sample_id", "date", "cds", "dollars"], dtype={"date": str})
    df = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(len(raw))],
        "customer_id": raw["sample_id"].astype(str),
        "occurred_at": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "revenue": raw["dollars"].astype(float),
        "n_items": raw["cds"].astype(float),
        "online": np.ones(len(raw), dtype=bool),
        "is_return": np.zeros(len(raw), dtype=bool),
    })
    engine = Engine(tmp_path_factory.mktemp("cdnow") / "cdnow.duckdb")
    engine.create_table("orders", orders_table(df))
    return engine


@pytest.fixture(scope="session")
def make_orders():
    """Function turning a partial frame into an ``orders`` Arrow table."""
    return orders_table


@pytest.fixture(scope="module")
def oracle_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """One real DuckDB file reused by the examples of a hypothesis test (tables are replaced)."""
    eng = Engine(tmp_path_factory.mktemp("oracle") / "oracle.duckdb")
    yield eng
    eng.close()
