"""The Python client gives a notebook the same results against a server as against a project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from percorso.analysis import run
from percorso.client import Client
from percorso.errors import AccessDenied, InputError
from percorso.journeys.funnel import FunnelQuery
from percorso.journeys.omnichannel import OmnichannelQuery
from percorso.project import open_project
from percorso.server.tokens import create_token
from tests.server.conftest import Server


def test_client_results_are_the_local_results(demo: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(demo, twin)
    queries = [FunnelQuery(steps=("page_view", "add_to_cart", "purchase")), OmnichannelQuery()]
    with open_project(twin) as p:
        local = [run(p.engine, q, p.settings) for q in queries]
        col = str(local[1].frame.columns[0])
        cell = {col: str(local[1].frame.iloc[0, 0])}
        local_ids = local[1].customers(limit=20, **cell)["customer_id"].tolist()
    with open_project(demo) as p:
        viewer, _ = create_token(p.engine, "notebook-viewer", "viewer")
    server = Server.start(demo)
    try:
        with Client(server.url, server.admin_token) as api:
            assert "funnel" in api.analyses()
            for q, want in zip(queries, local):
                got = api.run(q)
                assert type(got) is type(want) and got.query == want.query
                pd.testing.assert_frame_equal(got.to_frame(), want.to_frame(), check_dtype=False, rtol=1e-9)
                assert got.figure() is not None
            remote = api.run(queries[1])
            assert remote.customers(limit=20, **cell)["customer_id"].tolist() == local_ids
            with pytest.raises(InputError):
                remote.customers(limit=5, **{col: "no such group"})
        with Client(server.url, viewer) as api:
            aggregate = api.run(queries[0])  # aggregates: allowed
            assert len(aggregate.to_frame()) == 3
            with pytest.raises(AccessDenied):
                aggregate.customers(step=1)
    finally:
        assert server.stop() == 0
