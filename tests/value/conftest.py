"""Fixtures of the value tests: the CDNOW sample loaded into a real DuckDB ``orders`` table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from percorso.build.schema import ORDER_COLUMNS
from percorso.engine import Engine

#: The CDNOW sample and its published summaries, in the repository (tests/data/cdnow/README.md).
CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow"
CDNOW_SAMPLE = CDNOW / "CDNOW_sample.txt.gz"
CDNOW_SUMMARY = CDNOW / "cdnow_customers_summary.csv.gz"
CDNOW_SUMMARY_TX = CDNOW / "cdnow_customers_summary_with_transactions.csv.gz"


def read_cdnow_sample() -> pd.DataFrame:
    """The raw CDNOW purchase log: cust, sample_id, date (yyyymmdd text), cds, dollars."""
    return pd.read_csv(CDNOW_SAMPLE, sep=r"\s+", header=None,
                       names=["cust", "sample_id", "date", "cds", "dollars"], dtype={"date": str})
_ARROW = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64(),
          "BOOLEAN": pa.bool_(), "INTEGER": pa.int32(), "BIGINT": pa.int64()}


def orders_table(df: pd.DataFrame) -> pa.Table:
    """An ``orders`` Arrow table from a frame holding some of its columns (others NULL).

    Times are those of a UTC project: ``occurred_at_local`` defaults to ``occurred_at``.
    """
    n = len(df)
    if "occurred_at" in df and "occurred_at_local" not in df:
        df = df.assign(occurred_at_local=df["occurred_at"])
    cols = []
    for name, typ in ORDER_COLUMNS:
        if name in df:
            cols.append(pa.array(df[name], type=_ARROW[typ]))
        else:
            cols.append(pa.nulls(n, type=_ARROW[typ]))
    return pa.Table.from_arrays(cols, names=[c for c, _ in ORDER_COLUMNS])


@pytest.fixture(scope="session")
def cdnow_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    raw = read_cdnow_sample()
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
