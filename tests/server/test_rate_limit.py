"""Each token has its own request budget; past it, 429 with Retry-After."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from percorso.project import open_project
from percorso.server.app import create_app
from percorso.server.security import RateLimiter
from percorso.server.tokens import create_token


def test_bucket_refills_with_time(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr("percorso.server.security.time.monotonic", lambda: now[0])
    limiter = RateLimiter(per_minute=3)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") > 0  # the fourth in the same instant waits
    assert limiter.take("b") == 0.0  # another token has its own bucket
    now[0] += 20  # one request's worth (60 s / 3)
    assert limiter.take("a") == 0.0


def test_past_the_budget_a_token_gets_429(demo: Path) -> None:
    with open_project(demo) as p:
        a, _ = create_token(p.engine, "busy", "viewer")
        b, _ = create_token(p.engine, "calm", "viewer")
    with TestClient(create_app(demo, rate_limit_per_minute=2)) as http:
        auth = {"Authorization": f"Bearer {a}"}
        assert [http.get("/v1/analyses", headers=auth).status_code for _ in range(2)] == [200, 200]
        refused = http.get("/v1/analyses", headers=auth)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["code"] == "rate_limited"
        assert http.get("/v1/analyses", headers={"Authorization": f"Bearer {b}"}).status_code == 200
