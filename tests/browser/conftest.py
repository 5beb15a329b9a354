"""Browser fixtures: one demo project, one real ``percorso serve``, Debian's Chromium through Playwright.

Why these choices: the dashboard must be tried as a person would, in a real browser against a
real server on loopback, on a fresh machine through the project's own files only. Chromium is
Debian's (``make browser`` installs it with apt-get; ``playwright install`` downloads a browser
build and is never used), axe-core comes from npm pinned in ``tests/browser/package-lock.json``
(``npm ci``) and is injected into the page by Playwright.

The demo project (the server tests' 400-person demo, shared) and the server are made once per
session; each test gets a fresh browser context, so cookies never leak between roles.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Server, demo_template, percorso  # noqa: F401 - the shared demo

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
#: Headless, offline, quiet: no first-run UI, no background calls to any service.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SESSION_COOKIE = "percorso_session"


@dataclass
class Dashboard:
    """The running dashboard and what a test needs to log in and check answers against the CLI."""

    url: str
    root: Path
    admin_token: str
    viewer_token: str
    server: Server
    customer_ids: list[str]
    emails: list[str]
    phones: list[str]

    def cli(self, *args: str) -> Any:
        """A CLI command's ``--format json`` answer, through the running server (as a user's CLI)."""
        out = percorso(*args, "--project", str(self.root), "--format", "json").stdout
        return json.loads(out)


def _people(root: Path) -> tuple[list[str], list[str], list[str]]:
    """Every customer id and raw e-mail / phone of the demo (read before the server owns the file)."""
    from percorso.project import open_project

    with open_project(root) as p:
        c = p.engine.table("customers")
        from percorso.privacy.contacts import open_contacts  # sealed in the vault: opened for the test

        f = open_contacts(p.engine, p.settings, p.engine.execute(c.select("customer_id", "email_key", "phone_key")))
    clean = lambda col: sorted({str(v) for v in f[col] if isinstance(v, str) and len(v) >= 6})  # noqa: E731
    return clean("customer_id"), clean("email"), clean("phone")


def _require(path: Path, how: str) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: {how}", pytrace=False)


@pytest.fixture(scope="session")
def dashboard(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:  # noqa: F811
    """A copy of the server tests' demo project (built once per run) served by a real
    ``percorso serve`` on a free loopback port, with an admin and a viewer token."""
    root = tmp_path_factory.mktemp("browser") / "demo"
    shutil.copytree(demo_template, root, ignore=shutil.ignore_patterns(".percorso", "*.log"))
    viewer = percorso("token", "create", "--role", "viewer", "--name", "browser-viewer", "--project",
                      str(root)).stdout.decode().split()[0]
    admin = percorso("token", "create", "--role", "admin", "--name", "browser-admin", "--project",
                     str(root)).stdout.decode().split()[0]
    for example in ("cart_abandonment", "browse_abandonment"):  # the Attivazione page lists them (created off)
        percorso("journey", "create", "--example", example, "--project", str(root))
    ids, emails, phones = _people(root)
    server = Server.start(root)
    try:
        yield Dashboard(server.url, root, admin, viewer, server, ids, emails, phones)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (``make browser`` installs Chromium and axe-core)."""
    _require(CHROMIUM, "run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """A page plus every console error and uncaught exception it raised (a test asserts none)."""

    page: Any
    errors: list[str]


def _open(browser: Any, dashboard: Dashboard, token: str | None) -> Tab:
    context = browser.new_context(base_url=dashboard.url, locale="it-IT", timezone_id="Europe/Rome",
                                  viewport={"width": 1366, "height": 900})
    context.set_default_timeout(30_000)
    if token:
        login(context, dashboard.url, token)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    # the console says only "404"; this names the address
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.request.method} {r.url}")
            if r.status >= 400 else None)
    return Tab(page, errors)


def login(context: Any, url: str, token: str) -> None:
    """Log a browser context in with an API token through the log-in form (the server opens a session)."""
    import re

    form = context.request.get(url + "/login").text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, "no CSRF field on /login"
    answer = context.request.post(url + "/login", form={"token": token, "csrf": csrf.group(1), "next": "/"},
                                  max_redirects=0)
    assert answer.status == 303, f"log-in refused: HTTP {answer.status}"
    assert any(c["name"] == SESSION_COOKIE for c in context.cookies()), "no session cookie after log-in"


@pytest.fixture
def open_tab(browser: Any, dashboard: Dashboard) -> Iterator[Callable[[str | None], Tab]]:
    """``open_tab(token)``: a fresh browser context (logged in with ``token``, or not) and its page."""
    contexts: list[Any] = []

    def make(token: str | None) -> Tab:
        tab = _open(browser, dashboard, token)
        contexts.append(tab.page.context)
        return tab

    yield make
    for c in contexts:
        c.close()


@pytest.fixture
def admin_tab(open_tab: Callable[[str | None], Tab], dashboard: Dashboard) -> Tab:
    return open_tab(dashboard.admin_token)


@pytest.fixture
def viewer_tab(open_tab: Callable[[str | None], Tab], dashboard: Dashboard) -> Tab:
    return open_tab(dashboard.viewer_token)


def wait_drawn(page: Any) -> None:
    """Wait until the page has loaded and every chart on it is drawn by Plotly."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => [...document.querySelectorAll('[data-figure]')].every(e => e.hasAttribute('data-ready'))")


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core in the page; the violations of the given impacts (id, impact, help, first targets)."""
    _require(AXE, "run `make browser` (npm ci in tests/browser)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated through the DevTools protocol, not a <script> tag: the page's CSP stays in force
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"][:3]]}
            for v in found if v["impact"] in impacts]
