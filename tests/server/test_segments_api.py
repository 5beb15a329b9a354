"""Segments and exports over REST: the same members as the Python API; contacts by role only."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd

from percorso.export.labels import LABELS
from percorso.project import open_project
from percorso.server.tokens import create_token
from percorso.value.segments.store import members, save_segment
from tests.server.conftest import Server

RULE = {"type": "behaviour", "action": "bought_in_store"}


def test_segments_and_exports_over_rest(demo: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(demo, twin)
    with open_project(twin) as p:
        want_size = save_segment(p.engine, "store_buyers", RULE, p.settings)
        want = sorted(p.engine.execute(members(p.engine, "store_buyers", p.settings))["customer_id"])
    with open_project(demo) as p:
        analyst, _ = create_token(p.engine, "analyst", "analyst")
        crm, _ = create_token(p.engine, "crm", "crm")
        n_orders = p.engine.count("orders")
    assert want_size > 0
    server = Server.start(demo)
    try:
        with server.client(analyst) as http:
            made = http.post("/v1/segments", json={"name": "store_buyers", "rule": RULE})
            assert made.status_code == 201 and made.json()["size"] == want_size
            listed = http.get("/v1/segments").json()["segments"]
            assert "store_buyers" in [r[0] for r in listed["rows"]]
            page = http.get("/v1/segments/store_buyers/members", params={"limit": 10_000}).json()["members"]
            assert sorted(r[page["columns"].index("customer_id")] for r in page["rows"]) == want
            plain = http.get("/v1/segments/store_buyers/export", params={"format": "csv"})
            assert plain.status_code == 200
            assert sorted(pd.read_csv(io.StringIO(plain.text))["customer_id"]) == want
            assert http.get("/v1/segments/store_buyers/export", params={"with_contacts": True}).status_code == 403
            assert http.get("/v1/exports/customers").status_code == 403  # raw contact data
            orders = http.get("/v1/exports/orders", params={"format": "parquet"})
            assert len(pd.read_parquet(io.BytesIO(orders.content))) == n_orders
            italian = http.get("/v1/exports/orders", params={"format": "csv_it"})
            assert italian.content.startswith(b"\xef\xbb\xbf") and b";" in italian.content.splitlines()[0]
        with server.client(crm) as http:
            rich = http.get("/v1/segments/store_buyers/export", params={"format": "xlsx", "with_contacts": True})
            assert rich.status_code == 200
            sheet = pd.read_excel(io.BytesIO(rich.content))  # for people: headers in the project's language
            headers = {LABELS[k][0] for k in ("email", "phone", "consent_marketing")}
            assert headers <= set(sheet.columns) and len(sheet) == want_size
            assert sheet[LABELS["email"][0]].dropna().str.contains("@").all()
        with server.client(server.admin_token) as http:
            actions = [r["action"] for r in http.get("/v1/audit").json()["audit"]]
            assert {"segment_create", "segment_members", "segment_export", "export"} <= set(actions)
    finally:
        assert server.stop() == 0
