"""Page addresses as journey steps carry no contact data, on any face (issue 18: a viewer reads
page labels; sites put e-mails in addresses).

The demo project gets two page views whose addresses hold an e-mail, as sites write them (a
newsletter confirmation with ``?email=`` URL-encoded, an unsubscribe page with the address in
the path). The Python API, the REST API and the dashboard pages are read for it; the label
rule is checked against a plain-Python oracle (:func:`urllib.parse.urlsplit`).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import duckdb
import ibis
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.api import TransitionsQuery, open_project, run
from percorso.journeys.controls import EMAIL_MASK, page_label
from percorso.server.tokens import Role, create_token
from tests.server.conftest import demo_template  # noqa: F401 - the shared 400-person demo
from tests.web.conftest import get

EMAIL = "giulia.bianchi@example.it"
CONFIRM = "https://www.materassi-demo.it/newsletter/conferma?email=giulia.bianchi%40example.it&utm_source=newsletter#ok"
UNSUBSCRIBE = "https://www.materassi-demo.it/disiscrizione/giulia.bianchi@example.it"
LABELS = {"https://www.materassi-demo.it/newsletter/conferma", f"https://www.materassi-demo.it/disiscrizione/{EMAIL_MASK}"}


@pytest.fixture(scope="module")
def site(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], Path, str]]:  # noqa: F811
    """The demo with two page views carrying an e-mail; (client, tokens, root, customer who unsubscribed)."""
    root = tmp_path_factory.mktemp("labels") / "demo"
    shutil.copytree(demo_template, root, ignore=shutil.ignore_patterns(".percorso", "*.log"))
    con = duckdb.connect(str(root / "percorso.duckdb"))
    rows = con.execute("SELECT customer_id, event_id FROM touchpoints WHERE event_type = 'page_view' AND customer_id IS NOT NULL "
                       "ORDER BY customer_id, occurred_at, event_id LIMIT 2").fetchall()
    for (_cid, event_id), url in zip(rows, (CONFIRM, UNSUBSCRIBE)):
        # a touchpoint shows its event's page (ADR 0061)
        con.execute("UPDATE event_store SET page_url = ? WHERE event_id = ?", [url, event_id])
    con.close()
    tokens = {}
    with open_project(root) as p:
        for role in (Role.viewer, Role.analyst):
            tokens[role.name], _ = create_token(p.engine, f"labels-{role.name}", role)
    from percorso.server.app import create_app

    with TestClient(create_app(root), base_url="http://127.0.0.1") as client:
        yield client, tokens, root, rows[1][0]  # the customer of the unsubscribe page


def _no_contact(text: str) -> None:
    assert "giulia" not in text.lower() and "%40example" not in text and "@example" not in text


def test_page_labels_hold_no_e_mail_on_any_face(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root, _cid = site
    with open_project(root) as p:  # the Python API (and the CLI, which runs the same query)
        r = run(p.engine, TransitionsQuery(node="page", top=5000))
    labels = set(r.frame["from_node"]) | set(r.frame["to_node"])
    assert LABELS <= labels
    _no_contact(json.dumps(sorted(map(str, labels))))
    assert not any("?" in str(x) or "#" in str(x) for x in labels)  # the query string is never a label
    rest = client.post("/v1/analyses/paths_transitions", json={"node": "page", "top": 5000},
                       headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert rest.status_code == 200
    _no_contact(rest.text)
    for path in ("/percorsi", "/funnel", "/frizioni"):
        _no_contact(unescape(get(client, path, tokens["viewer"], node="page")))


def test_the_masked_page_still_leads_to_its_customer(site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _root, cid = site
    masked = f"https://www.materassi-demo.it/disiscrizione/{EMAIL_MASK}"
    link = "/clienti?" + urlencode({"kind": "paths_transitions", "q": json.dumps({"node": "page", "top": 5000}),
                                    "sel": json.dumps({"to_node": masked})})  # as a page's drill-down link is made
    assert cid in unescape(get(client, link, tokens["analyst"]))


@settings(max_examples=30, deadline=None)
@given(host=st.sampled_from(["https://www.esempio.it", "http://shop.example.com", ""]),
       path=st.lists(st.sampled_from(["prodotti", "materasso-memory", "a.b", "mario.rossi@libero.it", "x%40y.com", "42"]),
                     max_size=4),
       query=st.sampled_from(["", "?email=anna%40esempio.it", "?utm_source=newsletter&e=a@b.co", "?q=cuscino"]),
       fragment=st.sampled_from(["", "#recensioni", "#to=a@b.it"]))
def test_a_page_label_is_the_address_without_query_and_with_e_mails_masked(host, path, query, fragment) -> None:  # type: ignore[no-untyped-def]
    url = host + "/" + "/".join(path) + query + fragment
    got = ibis.duckdb.connect().execute(page_label(ibis.literal(url)))
    parts = urlsplit(url)
    assert parts._replace(query="", fragment="").geturl() == host + "/" + "/".join(path)  # what the oracle keeps
    expected = host + "/" + "/".join(EMAIL_MASK if "@" in s or "%40" in s else s for s in path)
    assert got == expected
