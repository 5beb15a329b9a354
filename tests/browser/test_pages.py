"""Every dashboard page in Chromium: loads with no console error, passes axe-core (no serious or
critical violation), keeps every control in the URL (a reload restores the view), and shows a
viewer no customer id and none of the demo's raw e-mails or phones.

Why a real browser: HTMX swaps, Plotly drawing, the Content Security Policy and the keyboard
and screen-reader structure only exist in a browser; a server-side test sees none of them.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from percorso.web.pages import PAGES
from tests.browser.conftest import axe_violations, wait_drawn

VIEWER_PAGES = [p for p in PAGES if p.role.name == "viewer"]


def _params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query, keep_blank_values=True)


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_page_loads_without_console_errors_and_passes_axe(admin_tab, page) -> None:
    tab = admin_tab.page
    response = tab.goto(page.path)
    assert response is not None and response.status == 200
    wait_drawn(tab)
    assert tab.locator("main h1").first.is_visible()
    assert tab.locator("main .error[role=alert]").count() == 0, tab.locator("main .error").all_inner_texts()
    assert admin_tab.errors == []
    assert axe_violations(tab) == []


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_every_control_is_in_the_url_and_a_reload_restores_it(admin_tab, page) -> None:
    """Each select of the page's own forms and of the global filters, and each tab, changes the
    address; reloading that address shows the same choice."""
    tab = admin_tab.page
    tab.goto(page.path)
    wait_drawn(tab)
    tried = 0
    tab_href = tab_title = None
    for link in tab.locator("main nav.tabs a:not([aria-current])").all()[:3]:
        tab_href, tab_title = link.get_attribute("href"), link.inner_text()
        link.click()
        tab.wait_for_url(lambda u, h=tab_href: u.endswith(h))  # noqa: B023
        wait_drawn(tab)
        tried += 1
    chosen: dict[str, str] = {}
    names = tab.eval_on_selector_all("form.controls:not([method=post]) select, form.filters select",
                                     "els => els.filter(e => e.options.length > 1).map(e => e.name)")
    for name in dict.fromkeys(names):
        select = tab.locator(f"select[name='{name}']").first
        current = select.input_value()
        options = [o for o in select.locator("option").evaluate_all("os => os.map(o => o.value)") if o != current]
        value = next((o for o in options if o), options[0])
        select.select_option(value)
        try:  # forms that update as you change them do it themselves; others need their button
            tab.wait_for_url(lambda u, n=name, v=value: _params(u).get(n) == [v], timeout=1500)  # noqa: B023
        except Exception:
            select.locator("xpath=ancestor::form").locator("button[type=submit]").first.click()
            tab.wait_for_url(lambda u, n=name, v=value: _params(u).get(n) == [v])  # noqa: B023
        wait_drawn(tab)
        chosen[name] = value
        tried += 1
    tab.reload()  # the address alone restores every choice made above
    wait_drawn(tab)
    for name, value in chosen.items():
        assert _params(tab.url).get(name) == [value], name
        assert tab.locator(f"select[name='{name}']").first.input_value() == value, name
    if tab_title:
        assert tab.locator("main nav.tabs a[aria-current]").inner_text() == tab_title
    assert admin_tab.errors == []
    if page.key in {"valore", "qualita", "segmenti"}:
        assert tried >= 1  # pages known to have controls must have been exercised


def test_date_filter_follows_the_reader_to_another_page(admin_tab) -> None:
    tab = admin_tab.page
    tab.goto("/valore")
    # typed and shown as Italians write a day, whatever the browser's own language; ISO in the address
    assert tab.get_attribute("form.filters input[name=from]", "placeholder") == "gg/mm/aaaa"
    tab.fill("form.filters input[name=from]", "1/1/2024")
    tab.locator("form.filters button[type=submit]").click()
    tab.wait_for_url(re.compile(r"from=2024-01-01"))
    assert tab.input_value("form.filters input[name=from]") == "01/01/2024"
    tab.locator("nav.pages a[href^='/personas']").click()
    tab.wait_for_url(re.compile(r"/personas\?.*from=2024-01-01"))
    tab.reload()
    assert tab.input_value("form.filters input[name=from]") == "01/01/2024"
    tab.locator("nav.lang a[hreflang=en]").click()
    tab.wait_for_url(re.compile(r"lang=en"))
    assert tab.input_value("form.filters input[name=from]") == "2024-01-01"
    assert admin_tab.errors == []


def test_a_customer_search_by_e_mail_finds_the_demo_customer(admin_tab, dashboard) -> None:
    profile = None
    for email in dashboard.emails[:20]:  # the first e-mail of a customer the CLI finds too
        try:
            profile = dashboard.cli("customer", "show", email)
            break
        except AssertionError:
            continue
    assert profile is not None
    tab = admin_tab.page
    tab.goto("/cliente")
    tab.fill("input[name=q]", email)
    tab.press("input[name=q]", "Enter")
    tab.wait_for_url(re.compile(r"q="))
    wait_drawn(tab)
    assert profile["customer_id"] in tab.inner_text("main")
    assert tab.locator("#why-one").is_visible()
    assert tab.locator("ol.timeline li").count() == min(100, profile["total_touchpoints"])
    assert admin_tab.errors == []


def test_a_viewer_sees_no_customer_id_no_e_mail_no_phone_on_any_page(viewer_tab, dashboard) -> None:
    tab = viewer_tab.page
    seen = []
    for page in VIEWER_PAGES:  # the HTML as the browser receives it, with the viewer's session cookie
        html = tab.request.get(page.path, headers={"Accept": "text/html"}).text()
        seen.append((page.path, html))
        for tab_href in re.findall(r'<nav class="tabs".*?</nav>', html, flags=re.S):
            for href in re.findall(r'href="([^"]+)"', tab_href):
                seen.append((href, tab.request.get(href.replace("&amp;", "&"), headers={"Accept": "text/html"}).text()))
    assert len(seen) >= len(VIEWER_PAGES)
    for where, html in seen:
        leaked = [v for v in (*dashboard.customer_ids, *dashboard.emails, *dashboard.phones) if v in html]
        assert not leaked, (where, leaked[:5])
    forbidden = tab.goto("/cliente")
    assert forbidden is not None and forbidden.status == 403
    assert f"HTTP 403: GET {dashboard.url}/cliente" in viewer_tab.errors
    assert all("403" in e for e in viewer_tab.errors), viewer_tab.errors
