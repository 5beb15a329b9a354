"""The browser test rig itself: Chromium runs, the session cookie logs a role in, axe-core runs.

Why: every dashboard test stands on these fixtures; a rig that silently ran no browser, sent
no cookie or injected no axe would make every later assertion meaningless.
"""

from __future__ import annotations

from tests.browser.conftest import axe_violations


def test_the_session_cookie_carries_each_role(open_tab, dashboard) -> None:
    admin = open_tab(dashboard.admin_token).page
    viewer = open_tab(dashboard.viewer_token).page
    anonymous = open_tab(None).page
    assert admin.request.get("/v1/tokens").status == 200
    assert viewer.request.get("/v1/tokens").status == 403  # viewer may not list tokens
    assert viewer.request.get("/v1/segments").status == 200
    assert anonymous.request.get("/v1/segments").status == 401


def test_a_server_page_runs_its_scripts_in_chromium(admin_tab) -> None:
    response = admin_tab.page.goto("/docs")
    assert response is not None and response.status == 200
    admin_tab.page.wait_for_selector(".swagger-ui .info .title")  # drawn by the page's JavaScript
    assert "percorso" in admin_tab.page.inner_text(".swagger-ui .info .title")


def test_console_errors_exceptions_and_failed_requests_are_collected(admin_tab) -> None:
    page = admin_tab.page
    page.goto("/readyz")
    page.evaluate("() => { console.error('boom'); setTimeout(() => { throw new Error('kaput'); }); "
                  "return fetch('/v1/tokens-nowhere'); }")
    page.wait_for_timeout(200)
    joined = "\n".join(admin_tab.errors)
    assert "console.error: boom" in joined
    assert "pageerror: kaput" in joined
    assert "HTTP 404: GET " + admin_tab.page.url.rsplit("/", 1)[0] + "/v1/tokens-nowhere" in joined


def test_axe_core_runs_in_the_page_and_reports_what_it_finds(admin_tab) -> None:
    page = admin_tab.page
    page.set_content('<html lang="it"><head><title>t</title></head><body><main>'
                     '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><button></button></main></body></html>')
    found = {v["id"]: v["impact"] for v in axe_violations(page)}
    assert found == {"image-alt": "critical", "button-name": "critical"}
    page.set_content('<html lang="it"><head><title>t</title></head><body><main>'
                     '<img alt="logo" src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><button>Invia</button>'
                     '</main></body></html>')
    assert axe_violations(page) == []
