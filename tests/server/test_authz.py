"""Who may call what: every route × every role × every kind of bad token (issue 16, must-show 2).

The matrix is built from the app's own routes, so a new route is covered the day it is added;
a route registered without a declared role makes the app refuse to start.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from percorso.engine import server_sql as S
from percorso.project import open_project
from percorso.server.app import create_app
from percorso.server.security import PUBLIC, WRITE_KEY, api_routes, check_every_route_declares_a_role, route_role
from percorso.server.tokens import Role, create_token, hash_token, revoke_token
from tests.server.conftest import Server

#: Path parameters and bodies that reach each route's own logic once authorised.
PATH_VALUES = {"kind": "paths_top", "job_id": "0000", "token": "no-such-token", "name": "no-such-segment",
               "table": "orders"}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/analyses/{kind}"): {"top": 3},
    ("POST", "/v1/analyses/{kind}/customers"): {"query": {}, "selector": {}, "limit": 5},
    ("POST", "/v1/tokens"): {"name": "matrix", "role": "viewer"},
    ("POST", "/v1/jobs/build"): {"not_a_field": 1},  # refused after authorisation: no build runs
    ("POST", "/v1/cli"): {"argv": ["--version"], "cwd": "/"},
    ("POST", "/v1/segments"): {"not_a_field": 1},
    ("POST", "/v1/restore"): {"file": "relative/path.duckdb"},
}
PARAMS: dict[tuple[str, str], dict[str, str]] = {("POST", "/v1/jobs/ingest"): {"source": "no-such-source",
                                                                            "filename": "x.csv"}}


def _tokens(root: Path) -> dict[str, str]:
    """One valid token per role, plus expired, revoked, unknown and malformed ones."""
    out = {}
    with open_project(root) as p:
        for role in Role:
            out[role.name], _ = create_token(p.engine, f"matrix-{role.name}", role)
        out["revoked"], _ = create_token(p.engine, "matrix-revoked", Role.admin)
        revoke_token(p.engine, "matrix-revoked")
        expired = "pct_0123456789ab_" + "x" * 43
        S.insert_token(p.engine, {"token_id": "0123456789ab", "name": "matrix-expired", "role": "admin",
                                  "token_hash": hash_token(expired), "created_at": datetime(2024, 1, 1),
                                  "expires_at": datetime(2024, 1, 1) + timedelta(days=1)})
        out["expired"] = expired
        customer_ids = set(p.engine.execute(p.engine.table("customers").select("customer_id"))["customer_id"])
        from percorso.privacy.vault import plain_vault  # the vault is sealed: its contact data, opened

        vault = plain_vault(p).to_pandas()["value"]
    out["unknown"] = "pct_fedcba987654_" + "y" * 43
    out["malformed"] = "not-a-token"
    pii = {v for v in vault.dropna() if isinstance(v, str) and len(v) >= 6}
    return out, customer_ids, pii


def _routes(root: Path) -> list[APIRoute]:
    return api_routes(create_app(root).routes)


def test_an_undeclared_route_refuses_the_app() -> None:
    router = APIRouter()

    @router.get("/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="forgotten"):
        check_every_route_declares_a_role(router.routes)


def test_every_route_every_role_every_bad_token(demo: Path) -> None:
    tokens, customer_ids, pii = _tokens(demo)
    routes = _routes(demo)
    assert len(routes) >= 15
    a_customer = sorted(customer_ids)[0]
    server = Server.start(demo)
    seen_viewer_bodies = []
    try:
        with server.client() as http:
            for route in routes:
                for method in sorted(route.methods):
                    path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), a_customer), route.path)
                    needed = route_role(route)
                    for who in (None, "malformed", "unknown", "expired", "revoked", *[r.name for r in Role]):
                        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
                        resp = http.request(method, path, headers=headers, json=BODIES.get((method, route.path)),
                                            params=PARAMS.get((method, route.path)))
                        where = f"{method} {route.path} as {who}: {resp.status_code} {resp.text[:200]}"
                        if needed == PUBLIC and route.path.startswith("/login/link/"):
                            assert resp.status_code == 410, where  # no such one-time code: spent or expired
                        elif needed == PUBLIC and route.path == "/v1/activation/unsubscribe":
                            assert resp.status_code == 422, where  # public, but only with a genuine signed token
                        elif needed == PUBLIC:
                            assert resp.status_code < 400, where
                        elif needed == WRITE_KEY:  # the tracking API takes a source's write key, no API token
                            assert resp.status_code == 401 and "write_key" in resp.text, where
                        elif who not in Role.__members__:
                            assert resp.status_code == 401, where
                            assert resp.headers["content-type"].startswith("application/problem+json"), where
                        elif Role[who] < needed:
                            assert resp.status_code == 403, where
                        elif route.endpoint.__module__ == "percorso.web.actions":
                            # a dashboard form: the role passes, then the missing CSRF field is refused
                            assert resp.status_code == 403 and resp.headers.get("x-refused") == "csrf", where
                        else:
                            assert resp.status_code not in (401, 403) and resp.status_code < 500, where
                        if who == "viewer":
                            seen_viewer_bodies.append((where, resp.text))
    finally:
        assert server.stop() == 0
    assert len(seen_viewer_bodies) >= len(routes)
    for where, body in seen_viewer_bodies:
        leaked = [c for c in customer_ids if c in body] + [v for v in pii if v in body]
        assert not leaked, (where, leaked[:3])
