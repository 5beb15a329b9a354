"""Segment's analytics.js (``@segment/analytics-next`` from npm, its UMD build) on a shop page in
Chromium posts to the collector of a real ``percorso serve`` on another origin (CORS): the page
view with its UTM campaign, the identify and the order arrive once, identified as one customer,
and show in the customer view within seconds (issue 17, Deliver 6).
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from percorso.project import init_project, open_project
from tests.browser.conftest import _require
from tests.server.conftest import Server
from tests.server.test_collector import write_key

AJS = Path(__file__).resolve().parent / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"

PAGE = """<!doctype html><html lang="it"><head><meta charset="utf-8"><title>Materassi</title>
<script src="/analytics-next/bundles/index.js"></script>
<script>
  const analytics = AnalyticsNext.AnalyticsBrowser.load({
    writeKey: "%(key)s", cdnURL: location.origin,
    cdnSettings: {integrations: {"Segment.io": {apiKey: "%(key)s", apiHost: "%(host)s/v1", protocol: "http"}}},
  });
  window.sent = (async () => {
    await analytics.page("Materassi");
    await analytics.identify("browser-user-1", {email: "Browser.User@Example.it"});
    await analytics.track("Order Completed", {revenue: 450, order_id: "WEB-1", currency: "EUR"});
    return "ok";
  })();
</script></head><body><h1>Materassi</h1></body></html>"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _shop(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    """The shop's own site (another origin than the collector): the page and analytics.js's files."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_analytics_js_in_chromium_reaches_the_customer_view(browser: Any, tmp_path: Path) -> None:
    _require(AJS / "index.js", "run `make browser` (npm ci in tests/browser)")
    site = tmp_path / "site"
    shutil.copytree(AJS, site / "analytics-next" / "bundles")
    shop, origin = _shop(site)
    root = tmp_path / "project"
    init_project(root, name="browser-collector")
    with open(root / "percorso.toml", "a", encoding="utf-8") as fh:
        fh.write(f'\n[collector]\nallowed_origins = ["{origin}"]\nbatch_seconds = 0.5\n')
    key = write_key(root)
    server = Server.start(root)
    try:
        host = server.url.removeprefix("http://")
        (site / "materassi.html").write_text(PAGE % {"key": key, "host": host}, encoding="utf-8")
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        page.goto(f"{origin}/materassi.html?utm_source=google&utm_medium=cpc&utm_campaign=materassi_primavera")
        assert page.evaluate("() => window.sent") == "ok"
        context.close()
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}) as http:
            deadline, view = time.monotonic() + 120, {}
            # both the order and the summary (the view reads its tables one after the other)
            while time.monotonic() < deadline and not (view.get("orders") and view["summary"]["n_orders"]):
                resp = http.get("/v1/customers/browser-user-1")
                view = resp.json() if resp.status_code == 200 else {}
                time.sleep(0.2)
        assert not errors, errors
        assert view["summary"]["revenue"] == 450 and view["summary"]["first_channel"] == "Paid Search"
    finally:
        shop.shutdown()
        assert server.stop() == 0
    with open_project(root, read_only=True) as p:
        ev = p.engine.execute(p.engine.table("events"))
        customers = p.engine.execute(p.engine.table("customers"))
    assert sorted(ev.event_type) == ["identify", "page_view", "purchase"]  # each once
    assert ev.source_key.is_unique and len(customers) == 1  # the anonymous page view joined the buyer
    pv = ev[ev.event_type == "page_view"].iloc[0]
    assert (pv.utm_source, pv.utm_medium, pv.utm_campaign) == ("google", "cpc", "materassi_primavera")
    assert pv.page_url.startswith(f"{origin}/materassi.html?utm_source=google")
    assert "Chrome" in pv.user_agent and pv.ip_key is not None
