"""A malformed row is quarantined with its text, its contact data masked (raw text and message)."""

from __future__ import annotations

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project


def test_contacts_masked_in_quarantine(tmp_path):
    init_project(tmp_path / "p")
    crm = tmp_path / "crm.csv"
    crm.write_bytes(("crm_id;updated_at;first_name;last_name;email;phone;codice_fiscale;user_id;city;province;"
                     "consent_profiling;consent_marketing;origin\n"
                     "CRM1;2025-01-10 10:00;Anna;Rossi;anna.rossi@example.it;+39 347 1234567;;;Roma;RM;0;1;web\n"
                     "CRM2;31/31/2025 99:00;Bruno;Bianchi;bruno.b@example.it;348 7654321;RSSMRA85T10A562S;;Milano;MI;1;0;x\n"
                     "CRM3;2025-01-10 10:00;Carla;Verdi;carla@example.it\n"
                     # phones as the demo's sources write them: 0039 prefix, 3-3-4 blocks, a slash
                     "CRM4;ieri;Dario;Neri;;00393455952965;;;Roma;RM;0;0;x\n"
                     "CRM5;ieri;Elena;Neri;;366 995 4090;;;Roma;RM;0;0;x\n"
                     "CRM6;ieri;Fabio;Neri;;333/1011432;;;Roma;RM;0;0;x\n").encode("latin-1"))
    with open_project(tmp_path / "p") as p:
        (r,) = ingest_files(p, "crm", [crm])
        assert (r.accepted, r.quarantined) == (1, 5)
        rows = p.engine.query("SELECT source_line, raw_text, message FROM quarantine ORDER BY 1").to_pylist()
        text = " ".join(f"{x['raw_text']} {x['message']}" for x in rows)
        for raw in ("bruno.b@example.it", "348 7654321", "RSSMRA85T10A562S", "carla@example.it", "3455952965",
                    "366 995 4090", "1011432"):
            assert raw not in text, raw
        assert "[e-mail]" in rows[0]["raw_text"] and "[telefono]" in rows[0]["raw_text"]
        assert "[codice fiscale]" in rows[0]["raw_text"] and "CRM2" in rows[0]["raw_text"]   # still findable
        assert [x["source_line"] for x in rows] == [2, 3, 4, 5, 6]
        assert all("[telefono]" in x["raw_text"] for x in rows[2:])
        assert [x["raw_text"].split(";")[0] for x in rows] == ["CRM2", "CRM3", "CRM4", "CRM5", "CRM6"]  # ids stay


def test_collector_refusals_masked_before_they_are_stored(tmp_path):
    """Payloads the collector refuses (``collector_*`` reasons) reach quarantine with their contact
    data masked, as an import's malformed rows do; no file of the project keeps them raw."""
    import datetime as dt

    from percorso.collector.service import drain
    from tests.collector.helpers import Sender

    init_project(tmp_path / "p")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = ("Mario.Rossi@Example.it", "+39 347 1234567", "RSSMRA85T10A562S", "366 995 4090", "0039 348 7654321")
    unknown = {"type": "track", "event": "zz unknown", "anonymousId": "a1", "messageId": "m1", "timestamp": now,
               "context": {"traits": {"email": raw[0], "phone": raw[1]}},
               "properties": {"cf": raw[2], "note": f"richiamare al {raw[3]}"}}
    with open_project(tmp_path / "p") as p:
        sender = Sender(p)
        try:
            assert sender.send({"batch": [unknown]}).status == 400
            assert sender.send(f"not json: {raw[0]} {raw[4]}".encode()).status == 400
        finally:
            sender.close()
        report = drain(p)
        assert report.rejected == 2
        rows = p.engine.query("SELECT reason_code, raw_text, message FROM quarantine ORDER BY reason_code").to_pylist()
    assert [r["reason_code"] for r in rows] == ["collector_bad_json", "collector_unknown_event"]
    text = " ".join(f"{r['raw_text']} {r['message']}" for r in rows)
    for value in (*raw, "mario.rossi@example.it", "3471234567", "3487654321", "9954090"):
        assert value.lower() not in text.lower(), value
    assert all(w in text for w in ("[e-mail]", "[telefono]", "[codice fiscale]"))
    assert "zz unknown" in rows[1]["raw_text"] and "a1" in rows[1]["raw_text"]   # still findable
    blob = b"".join(f.read_bytes() for f in (tmp_path / "p").rglob("*") if f.is_file()).lower()
    assert not [v for v in ("mario.rossi@example.it", "rssmra85t10a562s", "347 1234567", "366 995 4090") if v.encode() in blob]


def test_contacts_masked_in_page_addresses_and_properties(tmp_path):
    """A newsletter link's ``?email=`` (plain or URL-encoded), a referrer and a property holding an
    e-mail or a tax code: the event keeps its page, the contact is masked; the identifier in the
    traits still becomes the keyed hash it always was."""
    from percorso.identity.normalize import keyed_hash

    line = ('{"type":"page","messageId":"u1","anonymousId":"a1","timestamp":"2025-01-06T09:00:00Z",'
            '"context":{"traits":{"email":"Mario.Rossi@Example.it"},"page":{"url":'
            '"https://shop.example.it/grazie?email=mario.rossi%40example.it&ref=3471234567&cf=RSSMRA85T10A562S",'
            '"referrer":"https://mail.example.it/?to=mario.rossi@example.it"}},'
            '"properties":{"email":"mario.rossi@example.it","sku":"MAT-003"}}\n')
    f = tmp_path / "web.jsonl"
    f.write_text(line, encoding="utf-8")
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "web", [f])
        (ev,) = p.engine.query("SELECT page_url, referrer, properties, email_key FROM events").to_pylist()
        assert ev["page_url"] == "https://shop.example.it/grazie?email=[e-mail]&ref=3471234567&cf=[codice fiscale]"
        assert ev["referrer"] == "https://mail.example.it/?to=[e-mail]"
        assert "mario" not in ev["properties"] and '"sku":"MAT-003"' in ev["properties"].replace(" ", "")
        assert ev["email_key"] == keyed_hash(p.secret, "mario.rossi@example.it")
    blob = b"".join(x.read_bytes() for x in (tmp_path / "p").rglob("*") if x.is_file()).lower()
    assert b"mario.rossi" not in blob and b"rssmra85t10a562s" not in blob
