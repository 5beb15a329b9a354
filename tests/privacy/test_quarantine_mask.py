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
