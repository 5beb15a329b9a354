"""Consent history read from the sources, set by hand, and the one check (``allowed``), on hand examples."""

from __future__ import annotations

import pytest

from percorso.errors import InputError
from percorso.privacy.consent import allowed, consent_view, set_consent
from tests.privacy.helpers import consent_project


def _who(p, purpose, at):
    return set(p.engine.execute(allowed(p, purpose, at))["customer_id"])


@pytest.fixture
def proj(tmp_path):
    p = consent_project(tmp_path)
    yield p
    p.close()


def test_history_from_sources(proj):
    e = proj.engine
    rows = e.query("SELECT source, purpose, granted, occurred_at FROM consent_history ORDER BY 1, 2, 4").to_pylist()
    got = {(r["source"], r["purpose"], r["granted"], r["occurred_at"].strftime("%m-%d")) for r in rows}
    # CRM1 twice (marketing 1 → 0, profiling 0 → 1; 10:00 Rome = 09:00 UTC), CRM2 once
    for purpose in ("email", "sms", "phone"):
        assert ("crm", purpose, True, "01-10") in got and ("crm", purpose, False, "03-10") in got
    assert ("crm", "profiling", False, "01-10") in got and ("crm", "profiling", True, "03-10") in got
    # Segment context.consent: Analytics + Advertising of cookie a1 (Functional is no purpose), a3's denial
    assert ("web", "analytics", True, "01-05") in got and ("web", "ads", True, "01-05") in got
    assert ("web", "analytics", False, "02-01") in got
    # newsletter opt-in (web), opt-out (ESP unsubscribe)
    assert ("web", "email", True, "02-02") in got and ("email", "email", False, "02-15") in got
    assert len(rows) == 4 * 3 + 3 + 2   # 3 CRM rows × 4 purposes, 3 Segment purposes, 2 newsletter events
    # a rebuild reads nothing twice
    from percorso.build import run_build

    run_build(proj, full=True)
    assert e.count("consent_history") == len(rows)
    # no raw e-mail in the history: the subject of an e-mail is its keyed hash
    assert not e.query("SELECT * FROM consent_history WHERE subject_value LIKE '%@%'").num_rows


def test_allowed_follows_time_and_basis(proj):
    from percorso.profile import find_customer

    anna = find_customer(proj.engine, proj.settings, "anna.rossi@example.it")
    bruno = find_customer(proj.engine, proj.settings, "CRM2")
    carla = find_customer(proj.engine, proj.settings, "carla@example.it")
    # e-mail (consent): Anna granted 10/1, unsubscribed 15/2; Carla subscribed 2/2; Bruno never
    assert _who(proj, "email", "2025-01-09") == set()
    assert _who(proj, "email", "2025-02-10") == {anna, carla}
    assert _who(proj, "email", "2025-02-20") == {carla}
    # ads (consent): only Anna's cookie a1 said yes, and it is stitched to her
    assert _who(proj, "ads", "2025-06-01") == {anna}
    # profiling (legitimate interest by default): all but Anna while her denial (10/1 - 10/3) holds
    everyone = set(proj.engine.execute(proj.engine.table("customers"))["customer_id"])
    assert _who(proj, "profiling", "2025-02-01") == everyone - {anna}
    assert _who(proj, "profiling", "2025-04-01") == everyone
    assert bruno in everyone


def test_set_by_hand_wins_from_then_on(proj):
    from percorso.profile import find_customer

    bruno = find_customer(proj.engine, proj.settings, "CRM2")
    rec = set_consent(proj, "+39 348 7654321", "sms", True, at="2025-05-01T12:00:00+02:00", text_version="v3")
    assert rec["subject_type"] == "phone_key" and rec["occurred_at"].hour == 10   # stored in UTC
    assert bruno not in _who(proj, "sms", "2025-05-01T09:59:00")
    assert bruno in _who(proj, "sms", "2025-05-01T10:00:00")
    # the same record twice is stored once
    set_consent(proj, "+39 348 7654321", "sms", True, at="2025-05-01T12:00:00+02:00", text_version="v3")
    assert proj.engine.query("SELECT count(*) FROM consent_history WHERE text_version = 'v3'").column(0)[0].as_py() == 1
    # a denial at the same instant as a grant wins
    set_consent(proj, bruno, "sms", False, at="2025-05-01T12:00:00+02:00")
    assert bruno not in _who(proj, "sms", "2025-06-01")
    view = consent_view(proj, "bruno.b@example.it", "2025-06-01")
    sms = next(s for s in view.state if s["purpose"] == "sms")
    assert (sms["basis"], sms["allowed"], sms["granted"]) == ("consent", False, False)
    with pytest.raises(InputError, match="unknown purpose 'newsletter'"):
        set_consent(proj, bruno, "newsletter", True)


def test_legal_basis_setting(tmp_path):
    p = consent_project(tmp_path, {"profiling": "consent", "email": "legitimate_interest"})
    try:
        from percorso.profile import find_customer

        anna = find_customer(p.engine, p.settings, "anna.rossi@example.it")
        bruno = find_customer(p.engine, p.settings, "CRM2")
        # profiling now opt-in: only those whose latest record is a grant
        assert _who(p, "profiling", "2025-04-01") == {anna, bruno}
        # e-mail now opt-out: everyone before any record (nobody under consent), then all but the denials
        everyone = set(p.engine.execute(p.engine.table("customers"))["customer_id"])
        assert _who(p, "email", "2025-01-09") == everyone
        assert _who(p, "email", "2025-02-20") == everyone - {anna, bruno}
    finally:
        p.close()


def test_consent_over_rest(tmp_path):
    from fastapi.testclient import TestClient

    from percorso.server.app import create_app
    from percorso.server.tokens import create_token

    p = consent_project(tmp_path)
    analyst, _ = create_token(p.engine, "a", "analyst")
    crm, _ = create_token(p.engine, "c", "crm")
    admin, _ = create_token(p.engine, "adm", "admin")
    root = p.root
    p.close()
    with TestClient(create_app(root)) as http:
        auth = {"Authorization": f"Bearer {crm}"}
        assert http.get("/v1/consent/CRM2", headers={"Authorization": f"Bearer {analyst}"}).status_code == 403
        r = http.post("/v1/consent/bruno.b@example.it", headers=auth,
                      json={"purpose": "ads", "granted": True, "at": "2025-05-01T10:00:00Z", "text_version": "v1"})
        assert r.status_code == 200, r.text
        assert next(s for s in r.json()["state"] if s["purpose"] == "ads")["allowed"] is True
        shown = http.get("/v1/consent/CRM2", headers=auth, params={"at": "2025-04-01T00:00:00"}).json()
        assert next(s for s in shown["state"] if s["purpose"] == "ads")["allowed"] is False
        bad = http.post("/v1/consent/CRM2", headers=auth, json={"purpose": "newsletter", "granted": True})
        assert bad.status_code == 400 and bad.json()["code"] == "purpose_unknown"
        audit = http.get("/v1/audit", headers={"Authorization": f"Bearer {admin}"}).json()["audit"]
        mine = [a for a in audit if a["action"].startswith("consent")]
        assert {a["action"] for a in mine} >= {"consent_view", "consent_set"}
        # the audit log names the route, never the e-mail typed in the URL
        assert not any("@" in str(v) for a in audit for v in a.values())


def test_later_imports_and_a_rewritten_file_are_read(proj, tmp_path):
    """The reader remembers how far it read; what comes later is read, and a rewrite starts it over."""
    from percorso.build import run_build
    from percorso.engine import privacy_sql as S
    from percorso.ingest import ingest_files

    e = proj.engine
    n = e.count("consent_history")
    f = tmp_path / "email2.csv"
    f.write_text("event_id,event,timestamp,email,campaign_id,campaign_name,link_url\n"
                 "e9,unsubscribe,2025-04-01T10:00:00Z,carla@example.it,c1,Saldi,\n", encoding="utf-8")
    ingest_files(proj, "email", [f])
    run_build(proj)
    assert e.count("consent_history") == n + 1
    S.rewrite_database(e)            # row ids renumbered: the watermark is dropped with the copy
    assert not e.has_table("consent_state")
    run_build(proj, full=True)
    assert e.count("consent_history") == n + 1
    assert e.has_table("consent_state")


def test_a_later_import_without_consent_is_not_read_and_each_source_still_is(proj, tmp_path):
    """Once consent was read, later events that none of its sources can give a record (no opt-in or
    opt-out, no ``"consent"`` in the properties) are passed over, the mark moved past them; an event
    with Segment's consent and a later CRM row are each read."""
    from percorso.build import run_build
    from percorso.engine import event_store as ES
    from percorso.ingest import ingest_files

    e = proj.engine

    def mark() -> tuple[int, int]:
        return e.con.execute("SELECT events_rowid, profiles_rowid FROM consent_state").fetchall()[0]

    def last() -> tuple[int, int]:
        return e.con.execute(f"""SELECT (SELECT max(rowid) FROM {ES.STORE}),
            (SELECT max(rowid) FROM contact_profiles)""").fetchall()[0]

    n = e.count("consent_history")
    page = ('{"type":"page","messageId":"w9","anonymousId":"a1","timestamp":"2025-04-01T09:00:00Z",'
            '"context":{"page":{"url":"https://shop.example.it/"}}}\n')
    (tmp_path / "later.jsonl").write_text(page, encoding="utf-8")
    ingest_files(proj, "web", [tmp_path / "later.jsonl"])
    run_build(proj)
    assert e.count("consent_history") == n and mark() == last()
    seg = ('{"type":"page","messageId":"w10","anonymousId":"a1","timestamp":"2025-04-02T09:00:00Z",'
           '"context":{"page":{"url":"https://shop.example.it/"},'
           '"consent":{"categoryPreferences":{"Analytics":false}}}}\n')
    (tmp_path / "seg.jsonl").write_text(seg, encoding="utf-8")
    ingest_files(proj, "web", [tmp_path / "seg.jsonl"])
    run_build(proj)
    got = e.query("SELECT purpose, granted FROM consent_history WHERE origin_event_id IN "
                  "(SELECT event_id FROM events WHERE occurred_at = '2025-04-02 09:00:00')").to_pylist()
    assert got == [{"purpose": "analytics", "granted": False}] and mark() == last()
    crm = ("crm_id;updated_at;first_name;last_name;email;phone;codice_fiscale;user_id;city;province;"
           "consent_profiling;consent_marketing;origin\n"
           "CRM2;2025-04-03 10:00;Bruno;Bianchi;bruno.b@example.it;+39 348 7654321;;;Milano;MI;0;1;negozio\n")
    (tmp_path / "crm2.csv").write_bytes(crm.encode("latin-1"))
    ingest_files(proj, "crm", [tmp_path / "crm2.csv"])
    run_build(proj)
    assert e.count("consent_history") == n + 1 + 4 and mark() == last()   # 4 purposes of the CRM row
