"""The dashboard's server side: log-in and CSRF, roles, URL state, the numbers, escaping, exports.

The numbers are checked against the same query run through the Python API (never against text
copied from a page), and a viewer's pages are searched for every customer id of the project.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from html import unescape

from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.journeys.overview import OverviewQuery
from percorso.api import open_project, run
from percorso.export.columns import format_value
from percorso.web.pages import PAGES
from tests.web.conftest import get


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/login").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_login_sets_a_strict_httponly_cookie_and_refuses_a_post_without_csrf(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    client.cookies.clear()
    page = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    csrf = _csrf(client)
    refused = client.post("/login", data={"token": tokens["viewer"]}, follow_redirects=False)
    assert refused.status_code == 403 and "percorso_session" not in refused.headers.get("set-cookie", "")
    wrong = client.post("/login", data={"token": tokens["viewer"], "csrf": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    bad = client.post("/login", data={"token": "pct_000000000000_" + "z" * 43, "csrf": csrf}, follow_redirects=False)
    assert bad.status_code == 401 and "sconosciuto" in bad.text
    ok = client.post("/login", data={"token": tokens["viewer"], "csrf": csrf, "next": "//evil.example/x"},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # never to another host
    cookie = ok.headers["set-cookie"].lower()
    assert "percorso_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    session_id = client.cookies["percorso_session"]
    assert tokens["viewer"] not in ok.headers["set-cookie"]  # a session id, never the token itself
    home = client.get("/", headers={"Accept": "text/html"})
    assert home.status_code == 200 and "Panoramica" in home.text
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403  # no CSRF field
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and 'percorso_session=""' in out.headers["set-cookie"]
    client.cookies.clear()
    # a copy of the cookie taken before the log-out opens nothing: the server forgot the session
    client.cookies.set("percorso_session", session_id)
    assert client.get("/v1/segments").status_code == 401
    replay = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
    client.cookies.clear()


def test_a_page_needs_its_role_and_other_clients_get_problem_json(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    client.cookies.clear()
    assert client.get("/mappa").status_code == 401  # not a browser: the API's answer
    assert client.get("/mappa").headers["content-type"].startswith("application/problem+json")
    forbidden = client.get("/impostazioni", headers={"Authorization": f"Bearer {tokens['analyst']}",
                                                     "Accept": "text/html"})
    assert forbidden.status_code == 403 and "amministratore" in forbidden.text
    nav = get(client, "/", tokens["viewer"])
    assert 'href="/cliente' not in nav and 'href="/impostazioni' not in nav  # not offered to a viewer
    assert 'href="/impostazioni' in get(client, "/", tokens["admin"])


def test_overview_figures_equal_the_python_api(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    html = unescape(get(client, "/", tokens["analyst"]))
    with open_project(root) as p:
        pass
    from percorso.server.routes.analyses import _compute  # noqa: F401 - same path as REST

    resp = client.post("/v1/analyses/overview", json={}, headers={"Authorization": f"Bearer {tokens['analyst']}"})
    totals = dict(zip(resp.json()["fields"]["totals"]["__frame__"]["columns"],
                      resp.json()["fields"]["totals"]["__frame__"]["rows"][0]))
    for key, kind in (("with_touchpoints", "count"), ("buyers", "count"), ("online_only", "count"),
                      ("store_only", "count"), ("omnichannel", "count"), ("gross_revenue", "money"),
                      ("buyer_rate", "share")):
        assert f">{format_value(totals[key], kind, 'it')}<" in html.replace("\n", "") or \
            format_value(totals[key], kind, "it") in html, key
    assert totals["online_only"] + totals["store_only"] + totals["omnichannel"] == totals["buyers"]


def test_viewer_pages_hold_no_customer_id_nor_contact_data(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    with open_project(root) as p:
        ids = set(p.engine.execute(p.engine.table("customers").select("customer_id"))["customer_id"])
        from percorso.privacy.vault import plain_vault  # the vault is sealed: its contact data, opened

        vault = plain_vault(p).to_pandas()["value"]
    pii = {v for v in vault.dropna() if isinstance(v, str) and len(v) >= 6}
    analyst_home = get(client, "/", tokens["analyst"])
    assert "/clienti?" in analyst_home  # the analyst's figures link to their customers
    for page in PAGES:
        if page.role.name != "viewer":
            continue
        html = get(client, page.path, tokens["viewer"])
        leaked = [c for c in ids if c in html] + [v for v in pii if v in html]
        assert not leaked, (page.path, leaked[:3])
        assert "/clienti?" not in html, page.path


def test_every_control_is_in_the_url_and_the_filters_follow_to_every_page(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    html = unescape(get(client, "/", tokens["analyst"], **{"from": "2025-01-01", "to": "2025-06-30", "lang": "en"}))
    assert '<html lang="en">' in html and "Overview" in html
    assert 'name="from" value="2025-01-01"' in html and 'name="to" value="2025-06-30"' in html
    for page in PAGES:
        if page.role.name == "viewer":
            assert f'href="{page.path}?from=2025-01-01&to=2025-06-30&lang=en"' in html, page.path
    assert 'href="/?from=2025-01-01&to=2025-06-30&lang=it"' in html  # the language switch keeps the view
    bad = unescape(get(client, "/", tokens["analyst"], **{"from": "not-a-date"}))
    assert "non è una data" in bad  # reported on the page, never a traceback


def test_the_date_filter_changes_the_figures_like_the_api(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    with open_project(root) as p:
        whole = run(p.engine, OverviewQuery())
        part = run(p.engine, OverviewQuery(date_from="2025-07-01", date_to="2025-09-30"))
    assert part.totals["buyers"][0] < whole.totals["buyers"][0]
    html = get(client, "/", tokens["analyst"], **{"from": "2025-07-01", "to": "2025-09-30"})
    assert format_value(int(part.totals["buyers"][0]), "count", "it") in html
    assert "lug 2025" in html and "giu 2025" not in html


def test_tracking_data_is_escaped(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    canary = '"><script>alert(1)</script>'
    html = get(client, "/", tokens["analyst"], segment=canary)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_exports_are_italian_excel_csv_and_xlsx(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    html = unescape(get(client, "/", tokens["viewer"]))
    link = re.search(r'href="(/esporta\?[^"]+format=csv[^"]*)"', html).group(1)
    resp = client.get(link, headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert resp.status_code == 200 and resp.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["period", "customers", "buyers"]
    assert any("," in cell for row in rows[1:] for cell in row[5:])  # decimal comma in the revenue
    x = client.get(link.replace("format=csv", "format=xlsx"), headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert x.status_code == 200 and x.content[:2] == b"PK"


def test_drill_down_lists_the_same_customers_as_the_python_api(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    html = unescape(get(client, "/", tokens["analyst"]))
    link = re.search(r'href="(/clienti\?[^"]*group%22%3A%22omnichannel[^"]*)"', html)
    link = link or re.search(r'href="(/clienti\?[^"]*omnichannel[^"]*)"', html)
    page = unescape(get(client, link.group(1), tokens["analyst"]))
    with open_project(root) as p:
        expected = run(p.engine, OverviewQuery()).customers(group="omnichannel", limit=100)["customer_id"]
    shown = re.findall(r"/cliente\?id=(C[0-9a-f]{12})", page)
    assert shown == list(expected)
    assert client.get(link.group(1), headers={"Authorization": f"Bearer {tokens['viewer']}"}).status_code == 403


def test_a_damaged_drill_link_says_what_is_wrong(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    headers = {"Authorization": f"Bearer {tokens['analyst']}"}
    page = client.get("/clienti?kind=journey_map&q=%7Bnot-json&sel=%7B%7D", headers={**headers, "Accept": "text/html"})
    assert page.status_code == 400 and "Qualcosa non va" in page.text and "q/sel are not JSON" in page.text
    api = client.get("/clienti?kind=journey_map&q=%7B%7D&sel=%7B%22stage%22%3A%22awarenes%22%7D", headers=headers)
    assert api.status_code == 400 and api.headers["content-type"].startswith("application/problem+json")
    assert "awareness" in api.json()["detail"]  # the close valid value is named


def test_a_session_cookie_cannot_write_through_the_api_without_the_csrf_header(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    client.cookies.clear()
    csrf = _csrf(client)
    assert client.post("/login", data={"token": tokens["analyst"], "csrf": csrf}, follow_redirects=False).status_code == 303
    refused = client.post("/v1/analyses/overview", json={})  # the cookie alone, as another site's form would send it
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    assert client.post("/v1/analyses/overview", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/v1/analyses").status_code == 200  # reading needs no header
    client.cookies.clear()
    assert client.post("/v1/analyses/overview", json={},
                       headers={"Authorization": f"Bearer {tokens['analyst']}"}).status_code == 200  # API clients


def test_date_controls_show_the_day_in_the_page_language_and_the_address_keeps_iso(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    it = unescape(get(client, "/", tokens["analyst"], **{"from": "2025-07-01", "to": "2025-09-30"}))
    assert 'name="from" value="01/07/2025"' in it and 'name="to" value="30/09/2025"' in it
    assert 'placeholder="gg/mm/aaaa"' in it and 'type="date"' not in it  # Chromium draws type=date in its own UI language
    assert 'href="/mappa?from=2025-07-01&to=2025-09-30"' in it  # links carry ISO days
    en = unescape(get(client, "/", tokens["analyst"], **{"from": "2025-07-01", "lang": "en"}))
    assert 'name="from" value="2025-07-01"' in en and 'placeholder="yyyy-mm-dd"' in en
    # a day typed the Italian way (no JavaScript to turn it into ISO) filters the same
    with open_project(root) as p:
        part = run(p.engine, OverviewQuery(date_from="2025-07-01", date_to="2025-09-30"))
    typed = get(client, "/", tokens["analyst"], **{"from": "1/7/2025", "to": "30.09.2025"})
    assert format_value(int(part.totals["buyers"][0]), "count", "it") in typed and "lug 2025" in typed
    assert "non è una data (gg/mm/aaaa)" in unescape(get(client, "/", tokens["analyst"], **{"to": "31/02/2025"}))


@settings(max_examples=50, deadline=None)
@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_a_day_reads_back_from_every_form_a_control_shows_or_accepts(day: date) -> None:
    from percorso.web.i18n import DATE_INPUT, input_date, read_date

    assert read_date(day.isoformat()) == day
    assert read_date(f"{day.day}/{day.month}/{day.year}") == day == read_date(f"{day.day:02d}.{day.month:02d}.{day.year}")
    for locale in ("it", "en"):
        shown = input_date(day.isoformat(), locale)
        assert shown == day.strftime(DATE_INPUT[locale][0]) and read_date(shown) == day
