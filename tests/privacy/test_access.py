"""Subject access: the zip holds the person's rows (and only theirs), JSON = CSV, summaries in IT and EN."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile

from typer.testing import CliRunner

from percorso.cli import app
from tests.privacy.helpers import consent_project


def test_subject_access_zip(tmp_path):
    p = consent_project(tmp_path)
    from percorso.profile import find_customer

    anna = find_customer(p.engine, p.settings, "anna.rossi@example.it")
    n_events = p.engine.query("SELECT count(*) FROM event_customers WHERE customer_id = ?", [anna]).column(0)[0].as_py()
    root = p.root
    p.close()
    out = tmp_path / "anna.zip"
    res = CliRunner().invoke(app, ["subject-access", "ANNA.ROSSI@example.it", "--out", str(out), "--project", str(root)])
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        assert {"data.json", "summary_it.txt", "summary_en.txt", "csv/events.csv", "csv/customers.csv",
                "csv/consent_history.csv" if "csv/consent_history.csv" in names else "csv/consent_state.csv"} <= names
        doc = json.loads(z.read("data.json"))
        it, en = z.read("summary_it.txt").decode(), z.read("summary_en.txt").decode()
        events_csv = list(csv.DictReader(io.StringIO(z.read("csv/events.csv").decode())))
    assert doc["customer_id"] == anna
    t = doc["tables"]
    # every event of hers (CRM rows, web identify and page, the unsubscribe), none of anyone else's
    assert len(t["events"]) == n_events == len(events_csv) and n_events >= 5
    assert {r["event_id"] for r in t["events"]} == {r["event_id"] for r in events_csv}
    assert [(r["customer_id"], r["email"], r["phone"]) for r in t["customers"]] == [
        (anna, "anna.rossi@example.it", "+393471234567")]   # her profile with her contacts, not their keyed hashes
    assert "email_key" not in t["customers"][0]
    assert all(r["customer_id"] == anna for name, rows in t.items() for r in rows if "customer_id" in r)
    # her contact data, readable, and her two CRM rows with names
    assert {r["value"] for r in t["contact_data"]} >= {"anna.rossi@example.it", "+393471234567"}
    assert sorted(r["first_name"] for r in t["contact_profiles"]) == ["Anna", "Anna"]
    # consent: the state per purpose and the history behind it
    email = next(s for s in doc["consent"]["state"] if s["purpose"] == "email")
    assert email["allowed"] is False and any(h["source"] == "email" for h in doc["consent"]["history"])
    assert "Consensi (oggi) per finalità" in it and "marketing via e-mail: no" in it
    assert "Consent (today) per purpose" in en and "e-mail marketing: no" in en
    assert f"events: {n_events}" in en


def test_erase_and_access_over_rest(tmp_path):
    from fastapi.testclient import TestClient

    from percorso.server.app import create_app
    from percorso.server.tokens import create_token

    p = consent_project(tmp_path)
    crm, _ = create_token(p.engine, "c", "crm")
    admin, _ = create_token(p.engine, "adm", "admin")
    root = p.root
    p.close()
    with TestClient(create_app(root)) as http:
        got = http.get("/v1/subject-access/CRM2", headers={"Authorization": f"Bearer {crm}"})
        assert got.status_code == 200 and got.content[:2] == b"PK"
        assert http.post("/v1/erase", json={"identifiers": ["CRM2"]},
                         headers={"Authorization": f"Bearer {crm}"}).status_code == 403
        done = http.post("/v1/erase", json={"identifiers": ["bruno.b@example.it"]},
                         headers={"Authorization": f"Bearer {admin}"})
        assert done.status_code == 200, done.text
        assert done.json()["customers"] == 1
        assert http.get("/v1/subject-access/CRM2", headers={"Authorization": f"Bearer {crm}"}).status_code == 404
        audit = http.get("/v1/audit", headers={"Authorization": f"Bearer {admin}"}).json()["audit"]
        assert "erase" in {a["action"] for a in audit}
        assert not any("bruno" in json.dumps(a) for a in audit)
        # the rewrite closed the server's connections: jobs run on a new one (ServerState.rewriting)
        posted = http.post("/v1/jobs/build", json={}, headers={"Authorization": f"Bearer {admin}"})
        assert posted.status_code == 202, posted.text
        job = posted.json()["job_id"]
        for _ in range(600):
            state = http.get(f"/v1/jobs/{job}", headers={"Authorization": f"Bearer {admin}"}).json()
            if state["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert state["status"] == "done", state.get("error")
    data = b"".join(f.read_bytes() for f in root.rglob("*") if f.is_file())
    assert b"bruno.b@example.it" not in data and b"Bianchi" not in data
