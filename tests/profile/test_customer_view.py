"""The customer 360° view on hand-written sources: one person across web, e-commerce, CRM, loyalty and store.

Anna browses anonymously (cookie a1) arriving from a newsletter whose campaign name is
markup-shaped, signs in with a messy e-mail, orders W1 online (the e-commerce export has
the same order with the e-mail in another case), is in the CRM (CRM1) and in the loyalty
programme (card 2900000000017, same e-mail) and buys in the Milan store with the card.
Bruno is an unrelated CRM record; b1 is an unrelated anonymous visitor.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from profile_helpers import CRM_HEAD, ECOM_HEAD, LOYALTY_HEAD, POS_HEAD, ingest, seg, write_jsonl
from typer.testing import CliRunner

from percorso.build import run_build
from percorso.cli import app
from percorso.errors import InputError, NotFound
from percorso.profile import customer_profile, find_customer
from percorso.profile.lookup import AmbiguousCustomer
from percorso.profile.search import search_customers
from percorso.project import init_project, open_project
from percorso.testing import cli_error

EVIL = "[bold red]x[/]"
RECEIPT = "MI01:2025-03-12:1001"  # POS order key: store:ISO date:receipt number


@pytest.fixture(scope="module")
def anna_root(tmp_path_factory) -> Path:
    """Built once per module (ingest + build is the slow part); tests open it read-only."""
    tmp_path = tmp_path_factory.mktemp("anna")
    init_project(tmp_path / "p", name="t")
    proj = open_project(tmp_path / "p")
    web = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1",
            url=f"https://shop.it/?utm_source=newsletter&utm_medium=email&utm_campaign={EVIL}"),
        seg("m2", "2025-03-05T10:05:00Z", anon="a1", type="identify", email="  Anna.Rossi@Example.IT "),
        seg("m3", "2025-03-05T10:10:00Z", anon="a1", type="track", event="Order Completed",
            props={"order_id": "W1", "revenue": 90.0}),
        seg("b1", "2025-03-06T09:00:00Z", anon="b1"),  # somebody else, anonymous
    ])
    ecom = tmp_path / "ecom.csv"
    ecom.write_text(ECOM_HEAD + "W1,1,2025-03-05T11:10:30+01:00,,anna.rossi@EXAMPLE.it ,+39 333 123 4567,a1,"
                    "S1,Sheet,lenzuola,2,45.00,0.00,EUR,,0.00,completed\n", encoding="utf-8")
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM_HEAD + "CRM1;2025-01-10 09:00;Anna;Rossi;ANNA.ROSSI@example.it;333-1234567;;Milano;MI;1;1;"
                   "store\n" + "CRM2;2025-01-11 09:00;Bruno;Bianchi;bruno@example.it;;;Roma;RM;0;0;web\n",
                   encoding="latin-1")
    pos = tmp_path / "pos.csv"
    pos.write_text(POS_HEAD + "MI01;1001;12/03/2025;17:30;2900000000017;A1;Cuscino;cuscini;1;39,90;0;carta;;1\n",
                   encoding="utf-8")
    loyalty = tmp_path / "loyalty.csv"
    loyalty.write_text(LOYALTY_HEAD + "2900000000017,2025-02-01,MI01,Anna,Rossi,anna.rossi@example.it,3331234567,"
                       "1980-05-01,Milano,MI,1,1\n", encoding="utf-8")
    for source, path in (("web", web), ("ecommerce", ecom), ("crm", crm), ("pos", pos), ("loyalty", loyalty)):
        ingest(proj, source, path)
    run_build(proj)
    proj.close()
    return tmp_path / "p"


@pytest.fixture
def anna(anna_root: Path):
    with open_project(anna_root, read_only=True) as p:
        yield p


def _find(p, text: str) -> str:
    return find_customer(p.engine, p.settings, text)


def test_every_identifier_finds_the_same_customer(anna):
    cid = _find(anna, "anna.rossi@example.it")
    assert cid.startswith("C") and len(cid) == 13
    for query in (" ANNA.Rossi@Example.it", "+39 333 123 4567", "333.123.4567", "0039 3331234567", "333-1234567",
                  "2900000000017", "CRM1", "a1", cid):
        assert _find(anna, query) == cid, query
    bruno = _find(anna, "Bruno@Example.it")
    assert bruno != cid and _find(anna, "CRM2") == bruno


def test_unknown_identifier_is_a_clear_error(anna):
    with pytest.raises(NotFound) as err:
        _find(anna, "nobody@example.it")
    assert err.value.code == "not_found"
    assert "nobody@example.it" in str(err.value) and "valid:" in str(err.value)


def test_timeline_is_every_touchpoint_in_time_order_across_channels(anna):
    cid = _find(anna, "CRM1")
    prof = customer_profile(anna.engine, cid)
    # by hand: loyalty sign-up (1 Feb), two web hits on 5 Mar (landing, order W1 — the e-commerce
    # export row is the same order, kept once), the store receipt (12 Mar). The CRM update (10 Jan)
    # and the identify call (5 Mar 10:05) are record keeping: record updates, never touchpoints
    assert prof.total_touchpoints == 4 and len(prof.timeline) == 4
    tl = prof.timeline
    assert list(tl["occurred_at"]) == sorted(tl["occurred_at"])
    assert not {"crm_update", "identify"} & set(tl["event_type"])
    # stored in UTC; naive source times are Europe/Rome (UTC+1 in winter): the loyalty sign-up on
    # 1 Feb (midnight) is 31 Jan 23:00 UTC, the CRM update at 09:00 is 08:00 UTC, the receipt 16:30 UTC
    when = [t.strftime("%Y-%m-%d %H:%M") for t in tl["occurred_at"]]
    assert when == ["2025-01-31 23:00", "2025-03-05 10:00", "2025-03-05 10:10", "2025-03-12 16:30"]
    assert list(tl["online"])[1:3] == [True, True] and not tl["online"].iloc[3]
    assert tl["campaign"].iloc[1] == EVIL
    assert tl["order_id"].iloc[3] == RECEIPT and tl["store_id"].iloc[3] == "MI01"
    assert set(tl["order_id"].dropna()) == {"W1", RECEIPT}
    assert list(prof.orders["order_id"]) == ["W1", RECEIPT]
    assert list(prof.orders["online"]) == [True, False]
    assert float(prof.orders["revenue"].sum()) == pytest.approx(90.0 + 39.90)
    rec = prof.record_updates
    assert prof.total_record_updates == 2 and list(rec["event_type"]) == ["identify", "crm_update"]  # latest first
    assert [t.strftime("%Y-%m-%d %H:%M") for t in rec["occurred_at"]] == ["2025-03-05 10:05", "2025-01-10 08:00"]
    s = prof.summary
    assert (s["first_name"], s["last_name"], s["city"]) == ("Anna", "Rossi", "Milano")
    assert s["n_touchpoints"] == 4 and s["n_orders"] == 2 and s["revenue"] == pytest.approx(129.90)
    # first seen = first touchpoint (the loyalty sign-up), not the CRM record; first channel Loyalty
    assert s["consent_marketing"] is True and s["first_seen_at"] == datetime(2025, 1, 31, 23, 0)
    assert s["first_channel"] == "Loyalty"


def test_a_person_known_only_from_records_is_found_without_touchpoints(anna):
    prof = customer_profile(anna.engine, _find(anna, "CRM2"))
    s = prof.summary
    # Bruno is only a CRM row (11 Jan 09:00 Rome = 08:00 UTC): a person found, with no touchpoint
    assert s["n_touchpoints"] == 0 and s["first_channel"] is None and prof.timeline.empty
    assert prof.total_record_updates == 1 and s["first_seen_at"] == datetime(2025, 1, 11, 8, 0)
    assert (s["first_name"], s["city"]) == ("Bruno", "Roma")


def test_channel_summary_counts(anna):
    prof = customer_profile(anna.engine, _find(anna, "CRM1"))
    ch = {r.channel: r for r in prof.channels.itertuples(index=False)}
    # the two web hits are one session that came from the newsletter e-mail
    web = ch["Email"]
    assert (web.touchpoints, web.orders, web.revenue) == (2, 1, pytest.approx(90.0))
    assert web.first_at.strftime("%H:%M") == "10:00" and web.last_at.strftime("%H:%M") == "10:10"
    store = ch["Store / POS"]
    assert (store.touchpoints, store.orders, store.revenue) == (1, 1, pytest.approx(39.90))
    assert "Unassigned" not in ch  # the CRM row gave no channel
    assert int(prof.channels["touchpoints"].sum()) == 4
    assert float(prof.channels["revenue"].sum()) == pytest.approx(129.90)
    assert int(prof.channels["orders"].sum()) == 2


def test_paging_the_timeline(anna):
    cid = _find(anna, "CRM1")
    whole = customer_profile(anna.engine, cid)
    first = customer_profile(anna.engine, cid, limit=3)
    rest = customer_profile(anna.engine, cid, limit=3, offset=3)
    assert len(first.timeline) == 3 and len(rest.timeline) == 1 and rest.total_touchpoints == 4
    assert list(first.timeline["event_id"]) + list(rest.timeline["event_id"]) == list(whole.timeline["event_id"])


def test_cli_json_matches_the_profile(anna_root):
    root = anna_root  # the CLI opens the database itself (read-only)
    res = CliRunner().invoke(app, ["customer", "show", " Anna.Rossi@EXAMPLE.it", "--project", str(root),
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= {"customer_id", "summary", "channels", "orders", "timeline", "total_touchpoints"}
    assert doc["total_touchpoints"] == 4 and len(doc["timeline"]) == 4
    assert doc["summary"]["last_name"] == "Rossi" and doc["summary"]["n_orders"] == 2
    assert doc["timeline"][0]["occurred_at"].startswith("2025-01-31T23:00")  # ISO timestamps, UTC
    assert doc["total_record_updates"] == 2 and doc["record_updates"][1]["event_type"] == "crm_update"
    assert [o["order_id"] for o in doc["orders"]] == ["W1", RECEIPT]
    assert sum(c["touchpoints"] for c in doc["channels"]) == 4
    assert any(t["campaign"] == EVIL for t in doc["timeline"])
    res2 = CliRunner().invoke(app, ["customer", "show", "+39 333 1234567", "-p", str(root), "-f", "json",
                                    "--limit", "2", "--offset", "1"])
    doc2 = json.loads(res2.stdout)
    assert doc2["customer_id"] == doc["customer_id"]
    assert [t["event_id"] for t in doc2["timeline"]] == [t["event_id"] for t in doc["timeline"][1:3]]


def test_cli_table_shows_tracking_data_literally(anna_root):
    root = anna_root
    res = CliRunner().invoke(app, ["customer", "show", "2900000000017", "--project", str(root)],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert EVIL in res.stdout  # escaped: shown as typed, not read as Rich markup
    assert "Anna" in res.stdout and RECEIPT in res.stdout
    # the table shows project time (Europe/Rome): the sign-up falls on 1 Feb, the receipt at 17:30
    assert "01/02/2025" in res.stdout and "17:30" in res.stdout


def test_cli_not_found_is_an_error_with_its_code(anna_root):
    root = anna_root
    res = CliRunner().invoke(app, ["customer", "show", "nobody@example.it", "--project", str(root)])
    assert cli_error(res)[0::2] == ("not_found", 3)


def test_search_by_fragment(anna):
    found = search_customers(anna.engine, "ROSSI")
    assert list(found["last_name"]) == ["Rossi"]
    assert list(search_customers(anna.engine, "anna rossi")["first_name"]) == ["Anna"]
    assert list(search_customers(anna.engine, "roma")["first_name"]) == ["Bruno"]
    assert list(search_customers(anna.engine, "00000017")["first_name"]) == ["Anna"]  # card fragment
    assert search_customers(anna.engine, "zzz").empty
    assert search_customers(anna.engine, "n%a").empty  # a bound value, not a LIKE pattern (it would match "Anna")
    assert search_customers(anna.engine, "n_a").empty
    with pytest.raises(InputError):
        search_customers(anna.engine, " a ")


def test_cli_search_json(anna_root):
    """A whole e-mail, typed any way ingest would normalise it, finds its owner through the
    keyed hash, and the page shows the e-mail opened from the vault; a fragment of an e-mail
    finds nobody (contacts are stored only as keyed hashes, never searched as raw text)."""
    root = anna_root

    def search(text: str) -> list[dict]:
        res = CliRunner().invoke(app, ["customer", "search", text, "-p", str(root), "-f", "json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    rows = search("  ANNA.rossi@example.it")
    assert [(r["first_name"], r["email"]) for r in rows] == [("Anna", "anna.rossi@example.it")]
    assert [r["first_name"] for r in search("Bruno@Example.IT")] == ["Bruno"]
    assert search("example.it") == []
    assert {r["first_name"] for r in search("Anna")} == {"Anna"} and "email_key" not in search("Anna")[0]


def test_search_without_the_project_settings_shows_no_contact(anna):
    """A bare engine cannot open the vault: the page holds no e-mail, never the keyed hash."""
    found = search_customers(anna.engine, "Anna")
    assert list(found["first_name"]) == ["Anna"] and found["email"].isna().all()
    assert "email_key" not in found.columns
    found = search_customers(anna.engine, "Anna", settings=anna.settings)
    assert list(found["email"]) == ["anna.rossi@example.it"]


def test_shared_phone_is_ambiguous_and_lists_the_candidates(proj, tmp_path: Path):
    """Seven people give the same (family / shop) phone: it is a hub, so it names no one customer."""
    rows = "".join(f"K{i};2025-01-1{i} 09:00;P{i};Verdi;p{i}@example.it;347 000 0000;;Roma;RM;1;1;store\n"
                   for i in range(7))
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM_HEAD + rows, encoding="latin-1")
    ingest(proj, "crm", crm)
    run_build(proj)
    people = sorted(_find(proj, f"K{i}") for i in range(7))
    assert len(set(people)) == 7
    with pytest.raises(AmbiguousCustomer) as err:
        _find(proj, "+39 3470000000")
    assert err.value.code == "customer_ambiguous"
    assert sorted(err.value.candidates) == people
    assert all(c in str(err.value) for c in people)


def test_cli_identity_explain_shows_the_same_hour_as_customer_show(anna_root):
    """Both tables name one event's time in project time: the receipt at 17:30 in Milan, not 16:30 UTC."""
    run = CliRunner()
    show = run.invoke(app, ["customer", "show", "2900000000017", "-p", str(anna_root)], env={"COLUMNS": "300"})
    explain = run.invoke(app, ["identity", "explain", "2900000000017", "-p", str(anna_root)], env={"COLUMNS": "300"})
    assert show.exit_code == 0 and explain.exit_code == 0, explain.output
    receipt_rows = [line for line in explain.stdout.splitlines() if RECEIPT in line]
    assert receipt_rows and all("12/03/2025 17:30" in line for line in receipt_rows)
    assert "16:30" not in explain.stdout and "ora Europe/Rome" in explain.stdout
    assert "17:30" in show.stdout
    as_json = run.invoke(app, ["identity", "explain", "2900000000017", "-p", str(anna_root), "-f", "json"])
    assert "2025-03-12 16:30" in as_json.stdout  # JSON keeps UTC


def test_cli_identity_explain_table_cuts_keyed_hashes(anna_root):
    """E-mail and phone keys are 64-hex HMACs: the table shows 12 digits, JSON the whole key."""
    import re

    run = CliRunner()
    table = run.invoke(app, ["identity", "explain", "CRM1", "-p", str(anna_root)], env={"COLUMNS": "400"})
    as_json = run.invoke(app, ["identity", "explain", "CRM1", "-p", str(anna_root), "-f", "json"])
    assert table.exit_code == 0 and as_json.exit_code == 0, table.output
    keys = set(re.findall(r"email_key=([0-9a-f]{64})", as_json.stdout))
    assert keys  # Anna's e-mail links her CRM record
    assert not re.search(r"[0-9a-f]{64}", table.stdout)
    assert all(f"email_key={k[:12]}…" in table.stdout for k in keys)


def test_cli_table_days_follow_the_project_locale(anna_root, tmp_path):
    """The timeline's day column was always 01/02/2025, also in an English project whose other
    dates (first seen, orders) read 2025-02-01."""
    root = tmp_path / "en"
    shutil.copytree(anna_root, root)
    toml = root / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('locale = "it"', 'locale = "en"'), encoding="utf-8")
    res = CliRunner().invoke(app, ["customer", "show", "2900000000017", "--project", str(root)],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "2025-02-01" in res.stdout and "01/02/2025" not in res.stdout
