"""Small source files with consent in them, for the privacy tests (ingested into a real project)."""

from __future__ import annotations

from pathlib import Path

from percorso.build import run_build
from percorso.ingest import ingest_files
from percorso.project import Project, init_project, open_project

CRM = ("crm_id;updated_at;first_name;last_name;email;phone;codice_fiscale;user_id;city;province;"
       "consent_profiling;consent_marketing;origin\n"
       "CRM1;2025-01-10 10:00;Anna;Rossi;anna.rossi@example.it;+39 347 1234567;RSSNNA80A41H501U;u1;Roma;RM;0;1;web\n"
       "CRM1;2025-03-10 10:00;Anna;Rossi;anna.rossi@example.it;+39 347 1234567;RSSNNA80A41H501U;u1;Roma;RM;1;0;web\n"
       "CRM2;2025-01-10 10:00;Bruno;Bianchi;bruno.b@example.it;+39 348 7654321;;;Milano;MI;1;0;negozio\n")

WEB = "\n".join([
    '{"type":"identify","messageId":"w1","anonymousId":"a1","userId":"u1","timestamp":"2025-01-05T09:00:00Z",'
    '"context":{"consent":{"categoryPreferences":{"Analytics":true,"Advertising":true,"Functional":true}}}}',
    '{"type":"page","messageId":"w2","anonymousId":"a1","timestamp":"2025-01-06T09:00:00Z",'
    '"context":{"page":{"url":"https://shop.example.it/"}}}',
    '{"type":"page","messageId":"w3","anonymousId":"a3","timestamp":"2025-02-01T09:00:00Z",'
    '"context":{"page":{"url":"https://shop.example.it/"},"consent":{"categoryPreferences":{"Analytics":false}}}}',
    '{"type":"track","event":"newsletter_signup","messageId":"w4","anonymousId":"a3","timestamp":"2025-02-02T09:00:00Z",'
    '"context":{"traits":{"email":"carla@example.it"}}}',
]) + "\n"

EMAIL = ("event_id,event,timestamp,email,campaign_id,campaign_name,link_url\n"
         "e1,unsubscribe,2025-02-15T10:00:00Z,anna.rossi@example.it,c1,Saldi,\n")


def consent_project(tmp_path: Path, privacy: dict | None = None) -> Project:
    """A project with the three files above ingested and built."""
    root = tmp_path / "proj"
    init_project(root, name="privacy")
    if privacy:
        lines = ["", "[privacy.legal_basis]"] + [f'{k} = "{v}"' for k, v in privacy.items()]
        with (root / "percorso.toml").open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    files = {"crm": ("crm.csv", CRM, "latin-1"), "web": ("web.jsonl", WEB, "utf-8"),
             "email": ("email.csv", EMAIL, "utf-8")}
    p = open_project(root)
    for source, (name, text, enc) in files.items():
        f = tmp_path / name
        f.write_bytes(text.encode(enc))
        ingest_files(p, source, [f])
    run_build(p)
    return p
