"""A number's customers in the browser are the CLI's customers for the same cell.

Why both ends as a user has them: the dashboard's drill-down link carries the page's query and
the cell's selector; the CLI (``percorso journey-map --customers stage=…,channel=…``,
``percorso funnel … --dropped N``, through the running server) is the other face of the same
query. The browser follows the link, downloads the list as CSV, and the two lists must be equal.
"""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, urlparse

from tests.browser.conftest import wait_drawn


def _link(page, kind: str, want) -> tuple[str, dict, dict]:  # type: ignore[no-untyped-def]
    for href in page.locator(f"a[href^='/clienti?kind={kind}']").evaluate_all("as => as.map(a => a.getAttribute('href'))"):
        qs = parse_qs(urlparse(href).query)
        query, sel = json.loads(qs["q"][0]), json.loads(qs["sel"][0])
        if want(sel):
            return href, query, sel
    raise AssertionError(f"no {kind} drill-down link matching on the page")


def _listed_in_browser(page, href: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Follow the link as a click would, then read every customer from its CSV download."""
    page.locator(f"a[href='{href}']").first.click()
    page.wait_for_url(lambda u: "/clienti?" in u)
    wait_drawn(page)
    csv_href = page.locator("a[href*='format=csv']").first.get_attribute("href")
    body = page.request.get(csv_href).text().lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body), delimiter=";" if body.count(";") > body.count(",") else ","))
    at = rows[0].index(next(h for h in rows[0] if h.lower() in ("customer_id", "cliente", "id cliente", "customer")))
    return sorted(r[at] for r in rows[1:] if r)


def _ids(rows) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(str(r["customer_id"]) for r in rows)


def test_a_journey_map_cell_lists_the_cli_customers(admin_tab, dashboard) -> None:
    page = admin_tab.page
    page.goto("/mappa")
    wait_drawn(page)
    href, query, sel = _link(page, "journey_map", lambda s: set(s) == {"stage", "channel"})
    shown = _listed_in_browser(page, href)
    cli = dashboard.cli("journey-map", "--customers", f"stage={sel['stage']},channel={sel['channel']}",
                        "--min-customers", str(query.get("min_customers", 20)), "--limit", "100000")
    assert shown == _ids(cli) and shown
    assert admin_tab.errors == []


def test_a_funnel_step_lists_the_cli_customers(admin_tab, dashboard) -> None:
    page = admin_tab.page
    page.goto("/funnel?step=page_view&step=add_to_cart&step=purchase&window=30")
    wait_drawn(page)
    href, query, sel = _link(page, "funnel", lambda s: s.get("dropped") is True and s.get("step") == 2)
    shown = _listed_in_browser(page, href)
    cli = dashboard.cli("funnel", *query["steps"], "--window", "30d", "--order", query.get("order", "ordered"),
                        "--dropped", "2", "--limit", "100000")
    assert shown == _ids(cli) and shown
    assert admin_tab.errors == []
