"""A touchpoint's details on every face, read from its event (ADR 0061).

``touchpoints`` does not store the event's own page, referrer, region, properties and source
name; the customer view (CLI, Python API, REST), the export and a journey node or breakdown by
one of them read it from ``events`` by event id. Hand-written events: Ada's two web pages
(addresses, referrers and a ``page_type`` property chosen here) and Bea's loyalty signup in Milano.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from profile_helpers import LOYALTY_HEAD, ingest, seg, write_jsonl
from typer.testing import CliRunner

from percorso.build import run_build
from percorso.build.schema import TOUCHPOINT_DETAILS, TOUCHPOINT_FIELDS
from percorso.cli import app
from percorso.profile import customer_profile, find_customer
from percorso.project import init_project, open_project

PAGE_A = "https://shop.it/materassi?utm_source=x"
PAGE_B = "https://shop.it/cuscini"
#: Ada's pages as written: (message id, address, referrer, page type)
ADA = (("m1", PAGE_A, "https://www.google.com/", "category"), ("m2", PAGE_B, PAGE_A, "product"))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("details")
    init_project(tmp / "p", name="t")
    with open_project(tmp / "p") as proj:
        messages = [seg(mid, f"2025-03-05T10:0{i}:00Z", user="ada", url=url, props={"page_type": kind})
                    for i, (mid, url, _ref, kind) in enumerate(ADA)]
        for m, (_mid, _url, ref, _kind) in zip(messages, ADA, strict=True):
            m["context"]["page"]["referrer"] = ref
        ingest(proj, "web", write_jsonl(tmp / "w.jsonl", messages))
        loyalty = tmp / "loyalty.csv"
        loyalty.write_text(LOYALTY_HEAD + "2900000000017,2025-02-01,MI01,Bea,Bianchi,bea@example.it,3331234567,"
                           "1980-05-01,Milano,MI,1,1\n", encoding="utf-8")
        ingest(proj, "loyalty", loyalty)
        run_build(proj)
    return tmp / "p"


def _events(root: Path) -> dict[str, dict]:
    """Every event's detail columns, by event id (the oracle: what the touchpoint must show)."""
    with open_project(root, read_only=True) as p:
        t = p.engine.table("events")
        return {r["event_id"]: r for r in p.engine.rows(t.select("event_id", *TOUCHPOINT_DETAILS))}


def test_the_stored_table_holds_no_detail(root):
    with open_project(root, read_only=True) as p:
        stored = p.engine.columns("touchpoints")
    assert stored and not set(TOUCHPOINT_DETAILS) & set(stored)


def test_customer_view_shows_the_pages_on_every_face(root):
    """CLI ``customer show --format json``, the Python API and ``GET /v1/customers/{id}``."""
    from fastapi.testclient import TestClient

    from percorso.server.app import create_app
    from percorso.server.tokens import create_token

    want = [url for _mid, url, _ref, _kind in ADA]
    res = CliRunner().invoke(app, ["customer", "show", "ada", "--format", "json", "-p", str(root)])
    assert res.exit_code == 0, res.output
    assert [r["page_url"] for r in json.loads(res.stdout)["timeline"]] == want
    with open_project(root) as p:
        cid = find_customer(p.engine, p.settings, "ada")
        assert list(customer_profile(p.engine, cid).timeline["page_url"]) == want
        token, _ = create_token(p.engine, "details-analyst", "analyst")
    with TestClient(create_app(root), base_url="http://127.0.0.1") as http:
        got = http.get("/v1/customers/ada", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    assert [r["page_url"] for r in got.json()["timeline"]] == want


def test_export_shows_every_detail_of_every_touchpoint(root, tmp_path):
    out = tmp_path / "tp.jsonl"
    res = CliRunner().invoke(app, ["export", "touchpoints", "--out", str(out), "-p", str(root)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    # every field in its place, the local twin of each UTC time after it (the export's own)
    assert [c for c in rows[0] if not c.endswith("_local")] == [n for n, _ in TOUCHPOINT_FIELDS
                                                                 if not n.endswith("_local")]
    events = _events(root)
    assert len(rows) == 3
    for r in rows:
        assert {c: r[c] for c in TOUCHPOINT_DETAILS} == {c: events[r["event_id"]][c] for c in TOUCHPOINT_DETAILS}
    web = sorted((r for r in rows if r["source_name"] == "web"), key=lambda r: r["occurred_at"])
    assert [(r["page_url"], r["referrer"], json.loads(r["properties"])["page_type"]) for r in web] == [
        (url, ref, kind) for _mid, url, ref, kind in ADA]
    (signup,) = [r for r in rows if r["source_name"] == "loyalty"]
    assert signup["region"] == "Milano"


def test_journeys_by_a_detail_column(root):
    """A page node and a region breakdown read the events' values: Ada goes from the category
    page (its address without the query string) to the product page; Bea's journey starts in Milano."""
    run = CliRunner()
    res = run.invoke(app, ["paths", "transitions", "--node", "page", "--format", "json", "-p", str(root)])
    assert res.exit_code == 0, res.output
    pairs = {(r["from_node"], r["to_node"]) for r in json.loads(res.stdout)}
    assert ("https://shop.it/materassi", PAGE_B) in pairs
    res = run.invoke(app, ["paths", "top", "--breakdown", "region", "--format", "json", "-p", str(root)])
    assert res.exit_code == 0, res.output
    # (not the "other" row, whose breakdown is null)
    by = {r["breakdown"]: r["path"] for r in json.loads(res.stdout) if r["breakdown"] is not None}
    assert by == {"Milano": "loyalty_signup", "(none)": "page_view → page_view"}
    res = run.invoke(app, ["paths", "top", "--node", "property:page_type", "--format", "json", "-p", str(root)])
    assert res.exit_code == 0, res.output
    assert "category → product" in {r["path"] for r in json.loads(res.stdout)}
