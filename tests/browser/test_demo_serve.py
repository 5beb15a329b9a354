"""``percorso demo --serve``: the quick start ends in the browser, logged in, and Ctrl-C stops it.

Why in the browser: the printed link must work as a person uses it (clicked from a terminal,
the cookie set by the answer, the dashboard opened); a one-time link must not open anything a
second time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from percorso.server import runfile
from tests.server.conftest import ROOT


def _start_demo(folder: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "percorso", "demo", "--customers", "80", "--seed", "3",
                             "--dir", str(folder), "--serve", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    deadline = time.monotonic() + 240
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+/login/link/[A-Za-z0-9_-]+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("no login link printed:\n" + "".join(seen)[-3000:])


def test_demo_serve_links_in_once_ctrl_c_stops_and_plain_demo_just_exits(browser, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    proc, link = _start_demo(folder)
    try:
        base = link.split("/login/")[0]
        context = browser.new_context()
        page = context.new_page()
        page.goto(link)
        page.wait_for_url(base + "/")  # the answer moves on to the dashboard by itself
        cookie = next(c for c in context.cookies() if c["name"] == "percorso_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.request.get(base + "/v1/tokens").status == 200  # logged in as admin
        again = browser.new_context()
        spent = again.new_page().goto(link)
        assert spent is not None and spent.status == 410  # once only
        assert not [c for c in again.cookies() if c["name"] == "percorso_session"]
        context.close()
        again.close()
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        rc = proc.wait(timeout=120)
    assert rc in (0, 130, -signal.SIGINT)
    assert runfile.read(folder) is None  # stopped cleanly: the run file is gone

    # without --serve the same command stops after the summary (the re-run reuses the built demo)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    again_run = subprocess.run([sys.executable, "-m", "percorso", "demo", "--customers", "80", "--seed", "3",
                                "--dir", str(folder)], env=env, capture_output=True, text=True, timeout=240)
    assert again_run.returncode == 0, again_run.stderr[-2000:]
    assert "prossimi passi / next steps" in again_run.stdout
    assert "/login/link/" not in again_run.stdout
    assert runfile.read(folder) is None
