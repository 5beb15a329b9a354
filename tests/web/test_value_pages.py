"""Valore, Personas, Segmenti, Cliente 360, Qualità dei dati, Impostazioni on the server side.

Numbers are checked against the Python API or a slow obvious computation over the project's
own tables (never against text copied from a page); writes (segments, tokens) are checked by
reading them back through the functions the CLI uses.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from percorso.api import RFMQuery, open_project, run
from percorso.export.columns import format_value
from percorso.web.views.valore import VIEWS
from tests.web.conftest import get


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_every_section_and_page_renders_without_error(site, lang: str) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    for path in [f"/valore?vista={v}" for v in VIEWS] + ["/personas", "/segmenti", "/qualita", "/impostazioni",
                                                          "/cliente?q=gmail"]:
        html = get(client, path, tokens["admin"], lang=lang)
        assert 'role="alert"' not in html, (path, re.findall(r'role="alert">([^<]*)', html))


def test_rfm_section_shows_the_api_counts_and_links_each_segment(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    html = unescape(get(client, "/valore", tokens["analyst"], vista="rfm"))
    with open_project(root) as p:
        frame = run(p.engine, RFMQuery(), p.settings).frame
    for row in frame.to_dict("records"):
        assert f">{format_value(row['customers'], 'count', 'it')}<" in html.replace("\n", ""), row["segment"]
    assert html.count('href="/clienti?kind=rfm') == len(frame)  # one drill-down per segment row


def test_segment_builder_counts_like_the_profile_table_and_saves(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    with open_project(root) as p:
        customers = p.engine.execute(p.engine.table("customers").select("n_orders", "city"))
    city = customers["city"].dropna().mode()[0]
    expected = int(((customers["n_orders"] >= 1) & (customers["city"] == city)).sum())  # the slow obvious count
    html = get(client, "/segmenti", tokens["viewer"], f1="n_orders", op1="ge", v1="1", f2="city", op2="eq", v2=city)
    assert f'<span class="count">{format_value(expected, "count", "it")}</span>' in html
    assert 'action="/segmenti/salva"' not in html  # a viewer counts but does not save
    page = get(client, "/segmenti", tokens["analyst"], f1="city", op1="eq", v1=city)
    rule = unescape(re.search(r'name="rule" value="([^"]+)"', page).group(1))
    headers = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": "text/html"}
    saved = client.post("/segmenti/salva", headers=headers, follow_redirects=False,
                        data={"csrf": _csrf(page), "name": "web_city", "rule": rule, "lang": "it"})
    assert saved.status_code == 303 and saved.headers["location"].startswith("/segmenti?seg=web_city")
    shown = get(client, "/segmenti", tokens["analyst"], seg="web_city")
    members = int((customers["city"] == city).sum())
    assert "segment-web_city" in shown and format_value(members, "count", "it") in shown


def test_each_customer_view_is_audited_and_found_by_e_mail(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    with open_project(root) as p:
        from percorso.privacy.contacts import open_contacts  # the e-mail is sealed in the vault: opened for the test

        c = p.engine.execute(p.engine.table("customers").select("customer_id", "email_key").order_by("customer_id"))
        c = open_contacts(p.engine, p.settings, c)
    who = c.dropna().iloc[0]
    for _ in range(2):
        html = get(client, "/cliente", tokens["analyst"], q=who["email"])
        assert who["customer_id"] in html and "timeline" in html
    views = client.get("/v1/audit", headers={"Authorization": f"Bearer {tokens['admin']}"}).json()["audit"]
    mine = [v for v in views if v["action"] == "customer_view" and who["customer_id"] in str(v.get("query"))]
    assert len(mine) >= 2  # every opening is written, none served from a cache


def test_tokens_created_and_revoked_from_settings_show_at_once(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root = site
    headers = {"Authorization": f"Bearer {tokens['admin']}", "Accept": "text/html"}
    page = get(client, "/impostazioni", tokens["admin"])
    made = client.post("/impostazioni/token", headers=headers,
                       data={"csrf": _csrf(page), "name": "web-tablet", "role": "viewer", "lang": "it"})
    token = re.search(r"(pct_[A-Za-z0-9_-]+)", made.text).group(1)
    assert made.status_code == 200 and "web-tablet" in get(client, "/impostazioni", tokens["admin"])
    assert client.get("/v1/segments", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    gone = client.post("/impostazioni/revoca", headers=headers, follow_redirects=False,
                       data={"csrf": _csrf(page), "token_id": "web-tablet", "lang": "it"})
    assert gone.status_code == 303
    assert client.get("/v1/segments", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    listed = client.get("/v1/tokens", headers={"Authorization": f"Bearer {tokens['admin']}"}).json()
    assert any(t["name"] == "web-tablet" and t["state"] == "revoked" for t in listed["tokens"])


def test_quality_page_totals_equal_the_quarantine_and_a_viewer_sees_counts_only(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    with open_project(root) as p:
        q = p.engine.execute(p.engine.table("quarantine").select("reason_code", "raw_text"))
    html = get(client, "/qualita", tokens["viewer"], motivo=str(q["reason_code"].iloc[0]))
    assert format_value(len(q), "count", "it") in html
    assert not any(str(t) in html for t in q["raw_text"].dropna() if len(str(t)) > 20)
    analyst = get(client, "/qualita", tokens["analyst"], motivo=str(q["reason_code"].iloc[0]))
    assert analyst.count("<tr>") > html.count("<tr>")  # the analyst sees the reason's rows


def test_reading_stored_personas_keeps_every_cached_answer(site) -> None:  # type: ignore[no-untyped-def]
    from percorso.server.routes.analyses import writes

    client, tokens, _root = site
    get(client, "/personas", tokens["analyst"])  # a project without personas gets its first run here
    state = client.app.state.percorso
    version = state.data_version
    get(client, "/personas", tokens["analyst"], lang="en")  # the stored assignment, described
    get(client, "/personas", tokens["viewer"])
    assert state.data_version == version  # nothing written, so no cached answer was dropped
    assert writes("personas", {}) and writes("clv", {}) and not writes("rfm", {})
    assert not writes("personas", {"stored": True}) and not writes("personas", {"persist": False})


def test_each_read_of_quarantined_rows_is_audited(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = site
    with open_project(root) as p:
        reason = str(p.engine.execute(p.engine.table("quarantine").select("reason_code").limit(1)).iloc[0, 0])
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    count = lambda: sum(1 for r in client.get("/v1/audit", headers=admin).json()["audit"]  # noqa: E731
                        if r["action"] == "quarantine_read")
    before = count()
    for _ in range(2):
        get(client, "/qualita", tokens["analyst"], motivo=reason)
    get(client, "/qualita", tokens["analyst"])  # counts only: nothing individual read
    assert count() == before + 2
