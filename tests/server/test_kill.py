"""A server killed with SIGKILL during an import or a build loses nothing (issue 16, must-show 4).

After each kill the server restarts on the same file: the database opens, the interrupted job
is reported failed (or done, if it finished first), and running it again gives exactly the
counts of an uninterrupted run.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from percorso.project import open_project
from tests.server.conftest import Server, percorso

COUNTED = ("events", "quarantine", "campaign_costs", "customers", "touchpoints", "orders", "identity_map")


def _fresh(template: Path, where: Path) -> Path:
    """An empty project with the demo's settings (same secret, so the same keys)."""
    where.mkdir(parents=True)
    shutil.copy(template / "percorso.toml", where / "percorso.toml")
    shutil.copytree(template / "rules", where / "rules")
    return where


def _counts(root: Path) -> dict[str, int]:
    with open_project(root, read_only=True) as p:
        return {t: p.engine.count(t) for t in COUNTED}


def _wait(http: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def _ingest_and_build(server: Server, files: list[Path]) -> None:
    with server.client(server.admin_token) as http:
        for f in files:
            job = http.post("/v1/jobs/ingest", params={"source": "web", "filename": f.name}, content=f.read_bytes())
            assert _wait(http, job.json()["job_id"])["status"] == "done"
        assert _wait(http, http.post("/v1/jobs/build", json={}).json()["job_id"])["status"] == "done"


def test_kill_during_ingest_and_build_then_rerun(demo_template: Path, tmp_path: Path) -> None:
    web = demo_template / "sources" / "web_events.jsonl"
    clean = _fresh(demo_template, tmp_path / "clean")
    server = Server.start(clean)
    _ingest_and_build(server, [web])
    server.stop()
    want = _counts(clean)
    assert want["events"] > 1000 and want["customers"] > 0

    interrupted = []
    for kind, delay in (("ingest", 0.0), ("ingest", 0.2), ("build", 0.1), ("build", 0.8)):
        root = _fresh(demo_template, tmp_path / f"{kind}-{delay}")
        server = Server.start(root)
        with server.client(server.admin_token) as http:
            if kind == "build":  # import first, cleanly; the build is what gets killed
                job = http.post("/v1/jobs/ingest", params={"source": "web", "filename": web.name},
                                content=web.read_bytes())
                assert _wait(http, job.json()["job_id"])["status"] == "done"
                killed = http.post("/v1/jobs/build", json={}).json()["job_id"]
            else:
                killed = http.post("/v1/jobs/ingest", params={"source": "web", "filename": web.name},
                                   content=web.read_bytes()).json()["job_id"]
            while http.get(f"/v1/jobs/{killed}").json()["status"] == "queued":
                time.sleep(0.01)
            time.sleep(delay)  # into the running job
        server.kill()

        server = Server.start(root)  # the database opens after the kill
        with server.client(server.admin_token) as http:
            job = http.get(f"/v1/jobs/{killed}").json()
            assert job["status"] in ("failed", "done"), job
            if job["status"] == "failed":
                assert "interrupted" in job["error"]
                interrupted.append(kind)
        server.stop()
        server = Server.start(root)
        _ingest_and_build(server, [web] if kind == "ingest" else [])
        server.stop()
        assert _counts(root) == want, (kind, delay)
    assert {"ingest", "build"} <= set(interrupted), interrupted  # the kills did land mid-job
    # the CLI sees the same after the server is gone
    assert b"Traceback" not in percorso("check", "-p", str(root), check=False).stderr
