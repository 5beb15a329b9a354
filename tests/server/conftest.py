"""Server fixtures: a small real demo project, and real ``percorso serve`` processes on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from percorso.server import runfile

ROOT = Path(__file__).resolve().parents[2]


def percorso(*args: str, cwd: Path | None = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real CLI in a separate process (as a user would), capturing its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "percorso", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"percorso {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return proc


@dataclass
class Server:
    """A ``percorso serve`` process on a free loopback port."""

    root: Path
    proc: subprocess.Popen
    url: str
    admin_token: str
    collector_url: str | None = None  # the intake workers' port (ADR 0030)

    @classmethod
    def start(cls, root: Path, timeout: float = 60) -> Server:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        log = open(root / "serve-test.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "percorso", "serve", "-p", str(root), "--port", "0"],
                                env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = runfile.read(root)
            if info and info.get("pid") == proc.pid:
                try:
                    if httpx.get(info["url"] + "/readyz", timeout=5).status_code == 200:
                        return cls(root, proc, info["url"], info["token"], info.get("collector_url"))
                except httpx.HTTPError:
                    pass
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {(root / 'serve-test.log').read_text()[-3000:]}")
            time.sleep(0.1)
        proc.kill()
        raise AssertionError("server did not become ready")

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def stop(self) -> int:
        """SIGTERM, wait; 0 when the server shut down cleanly (uvicorn re-raises the signal: -15)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)
        clean = self.proc.returncode in (0, -signal.SIGTERM) and runfile.read(self.root) is None
        return 0 if clean else (self.proc.returncode or 1)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built demo project (400 people), made once; tests copy it."""
    root = tmp_path_factory.mktemp("server") / "demo"
    percorso("demo", "--customers", "400", "--seed", "5", "--dir", str(root))
    return root


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the built demo project."""
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns(".percorso", "*.log"))
    return target
