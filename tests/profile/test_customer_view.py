"""The customer 360° view on hand-written sources: one person across web, e-commerce, CRM and store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from percorso.build import run_build
from percorso.cli import app
from percorso.errors import NotFound
from percorso.profile import customer_profile, find_customer
from percorso.profile.search import search_customers
from tests.build.build_helpers import CRM_HEAD, ECOM_HEAD, POS_HEAD, ingest, seg, write_jsonl

EVIL = "[bold red]x[/]"


@pytest.fixture
def anna(proj, tmp_path: Path):
    """Anna browses anonymously, signs in, buys online, is in the CRM with her card, buys in store."""
    web = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1",
            url=f"https://shop.it/?utm_source=newsletter&utm_medium=email&utm_campaign={EVIL}"),
        seg("m2", "2025-03-05T10:05:00Z", anon="a1", type="identify", email="  Anna.Rossi@Example.IT "),
        seg("m3", "2025-03-05T10:10:00Z", anon="a1", type="track", event="Order Completed",
            props={"order_id": "W1", "revenue": 90.0}),
        seg("b1", "2025-03-06T09:00:00Z", anon="b1"),  # somebody else, anonymous
    ])
    ecom = tmp_path / "ecom.csv"
    ecom.write_text(ECOM_HEAD + "W1,1,2025-03-05T11:10:30+01:00,,anna.rossi@example.it,+39 333 123 4567,a1,"
                    "S1,Sheet,lenzuola,2,45.00,0.00,EUR,,0.00,completed\n", encoding="utf-8")
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM_HEAD + "CRM1;2025-01-10 09:00;Anna;Rossi;ANNA.ROSSI@example.it;333-1234567;;Milano;MI;1;1;"
                   "store\n" + "CRM2;2025-01-11 09:00;Bruno;Bianchi;bruno@example.it;;;Roma;RM;0;0;web\n",
                   encoding="latin-1")
    pos = tmp_path / "pos.csv"
    pos.write_text(POS_HEAD + "MI01;1001;12/03/2025;17:30;2900000000017;A1;Cuscino;cuscini;1;39,90;0;carta;;1\n",
                   encoding="utf-8")
    loyalty = tmp_path / "loyalty.csv"
    loyalty.write_text("card_number,registered_at,store_id,first_name,last_name,email,phone,birth_date,city,province,"
                       "consent_marketing,consent_profiling\n2900000000017,2025-02-01,MI01,Anna,Rossi,"
                       "anna.rossi@example.it,3331234567,1980-05-01,Milano,MI,1,1\n", encoding="utf-8")
    for source, path in (("web", web), ("ecommerce", ecom), ("crm", crm), ("pos", pos), ("loyalty", loyalty)):
        ingest(proj, source, path)
    run_build(proj)
    return proj


def test_every_identifier_finds_the_same_customer(anna):
    cid = find_customer(anna, "anna.rossi@example.it")
    assert cid.startswith("C") and len(cid) == 13
    for query in (" ANNA.Rossi@Example.it", "+39 333 123 4567", "333.123.4567", "0039 3331234567",
                  "2900000000017", "CRM1", cid):
        assert find_customer(anna, query) == cid, query
    assert find_customer(anna, "bruno@example.it") != cid


def test_unknown_identifier_is_a_clear_error(anna):
    with pytest.raises(NotFound) as err:
        find_customer(anna, "nobody@example.it")
    assert err.value.code == "not_found" and "valid:" in str(err.value)


def test_timeline_is_every_touchpoint_in_time_order_across_channels(anna):
    cid = find_customer(anna, "CRM1")
    prof = customer_profile(anna.engine, cid)
    # web: landing page, identify, order (the order file row is the same order, kept once);
    # CRM update, loyalty registration, store receipt
    assert prof.total_touchpoints == 6
    times = list(prof.timeline["occurred_at"])
    assert times == sorted(times)
    assert set(prof.timeline["channel"]) >= {"Email", "Store / POS", "Loyalty"}
    orders = prof.orders.sort_values("occurred_at")
    assert list(orders["order_id"]) == ["W1", "MI01:2025-03-12:1001"]  # receipt key: store:ISO date:number
    assert list(orders["online"]) == [True, False]
    assert float(orders["revenue"].sum()) == pytest.approx(90.0 + 39.90)
    by_channel = dict(zip(prof.channels["channel"], prof.channels["touchpoints"]))
    assert by_channel["Email"] == 3 and by_channel["Store / POS"] == 1
    assert prof.summary["first_name"] == "Anna" and prof.summary["consent_marketing"] is True


def test_paging_the_timeline(anna):
    cid = find_customer(anna, "CRM1")
    first = customer_profile(anna.engine, cid, limit=4)
    rest = customer_profile(anna.engine, cid, limit=4, offset=4)
    assert len(first.timeline) == 4 and len(rest.timeline) == 2
    assert set(first.timeline["event_id"]).isdisjoint(rest.timeline["event_id"])


def test_cli_json_and_escaped_table(anna):
    anna.close()  # the CLI opens the database itself (read-only)
    runner = CliRunner()
    res = runner.invoke(app, ["customer", "show", "anna.rossi@example.it", "--project", str(anna.root),
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["total_touchpoints"] == 6 and len(doc["timeline"]) == 6
    assert doc["summary"]["last_name"] == "Rossi"
    assert any(t["campaign"] == EVIL for t in doc["timeline"])
    res = runner.invoke(app, ["customer", "show", "CRM1", "--project", str(anna.root)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert EVIL in res.stdout  # shown literally, not interpreted as markup


def test_search_by_fragment(anna):
    found = search_customers(anna.engine, "rossi")
    assert list(found["last_name"]) == ["Rossi"]
    assert list(search_customers(anna.engine, "anna rossi")["first_name"]) == ["Anna"]
    assert search_customers(anna.engine, "zzz").empty
