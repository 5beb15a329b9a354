"""Screenshots of the dashboard's pages on a demo project, for the README (docs/img/*.png).

Usage::

    python scripts/screenshots.py [--demo DIR] [--customers N] [--out docs/img] [--pages mappa,funnel]

Builds the demo in DIR when it is not there (``percorso demo``), starts ``percorso serve`` on a
free loopback port, opens every page in Debian's Chromium (``make browser``) logged in with the
run's local admin token, waits for the charts to be drawn and saves one PNG per page. Prints one
JSON object: the files written and the seconds each page took.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def start_server(demo: Path) -> tuple[subprocess.Popen, dict]:
    """``percorso serve`` on a free port; its run file (address and local admin token)."""
    sys.path.insert(0, str(ROOT / "src"))
    from percorso.server import runfile

    proc = subprocess.Popen([sys.executable, "-m", "percorso", "serve", "-p", str(demo), "--port", "0"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = runfile.read(demo)
        if info and info.get("pid") == proc.pid:
            return proc, info
        if proc.poll() is not None:
            raise SystemExit(f"percorso serve exited {proc.returncode}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("percorso serve did not start in 120 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=ROOT / "demo")
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--pages", default="", help="comma-separated page keys (default: every page)")
    ap.add_argument("--lang", default="it")
    args = ap.parse_args()
    if not (args.demo / "demo.json").exists():
        subprocess.run([sys.executable, "-m", "percorso", "demo", "--customers", str(args.customers), "--dir",
                        str(args.demo)], env=_env(), check=True, stdout=subprocess.DEVNULL)
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "src"))
    from percorso.web.pages import PAGES

    wanted = [p for p in PAGES if not args.pages or p.key in args.pages.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    proc, info = start_server(args.demo)
    written, seconds = [], {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1,
                                          locale="it-IT")
            context.add_cookies([{"name": "percorso_session", "value": info["token"], "url": info["url"],
                                  "httpOnly": True, "sameSite": "Strict"}])
            page = context.new_page()
            for p in wanted:
                t0 = time.monotonic()
                page.goto(f"{info['url']}{p.path}?lang={args.lang}", wait_until="networkidle", timeout=300_000)
                page.wait_for_function("() => [...document.querySelectorAll('[data-figure]')]"
                                       ".every(e => e.hasAttribute('data-ready'))", timeout=120_000)
                target = args.out / f"{p.key}.png"
                page.screenshot(path=str(target), full_page=False)
                written.append(str(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target))
                seconds[p.key] = round(time.monotonic() - t0, 2)
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    print(json.dumps({"files": written, "seconds": seconds}))


if __name__ == "__main__":
    main()
