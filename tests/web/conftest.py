"""Dashboard fixtures: the server tests' built demo project, an app on it, and a token per role."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from percorso.project import open_project
from percorso.server.tokens import Role, create_token
from tests.server.conftest import demo_template  # noqa: F401 - the shared 400-person demo


@pytest.fixture(scope="module")
def site(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], Path]]:  # noqa: F811
    """(client, token per role, project root): one app per test module on a private copy."""
    root = tmp_path_factory.mktemp("web") / "demo"
    shutil.copytree(demo_template, root, ignore=shutil.ignore_patterns(".percorso", "*.log"))
    tokens = {}
    with open_project(root) as p:
        for role in Role:
            tokens[role.name], _ = create_token(p.engine, f"web-{role.name}", role)
    from percorso.server.app import create_app

    with TestClient(create_app(root), base_url="http://127.0.0.1") as client:
        yield client, tokens, root


def get(client: TestClient, path: str, token: str, **params: str) -> str:
    """A page as a browser asks for it; fails on any status but 200."""
    resp = client.get(path, params=params or None, headers={"Authorization": f"Bearer {token}", "Accept": "text/html"})
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
    return resp.text
