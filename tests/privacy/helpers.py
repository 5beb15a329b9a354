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


def source_contacts(sources: Path, *, xlsx: bool = True) -> dict[str, set[str]]:
    """Every e-mail, phone and tax code the demo's source files hold, read straight from the files
    (not through percorso): ``{"email": …, "phone": …, "tax_code": …}`` as written there.
    ``xlsx=False`` reads only the text files (an XLSX is a zip: its bytes never show a value)."""
    import csv
    import json

    import openpyxl

    cols = {"email": "email", "phone": "phone", "codice_fiscale": "tax_code", "tax_code": "tax_code"}
    out: dict[str, set[str]] = {"email": set(), "phone": set(), "tax_code": set()}

    def add(kind: str, value: object) -> None:
        if isinstance(value, (str, int)) and str(value).strip():
            out[kind].add(str(value).strip())

    for f in sorted(sources.glob("*.csv")):
        raw = f.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        head = text.split("\n", 1)[0]
        for row in csv.DictReader(text.splitlines(), delimiter=";" if head.count(";") > head.count(",") else ","):
            for c, kind in cols.items():
                add(kind, row.get(c))
    for f in sorted(sources.glob("*.xlsx")) if xlsx else []:
        rows = openpyxl.load_workbook(f, read_only=True).active.iter_rows(values_only=True)
        head = [str(h).strip().lower() for h in next(rows)]
        for r in rows:
            for c, v in zip(head, r, strict=False):
                if c in cols:
                    add(cols[c], v)
    for f in sorted(sources.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            ctx = o.get("context") if isinstance(o.get("context"), dict) else {}
            for traits in (o.get("traits"), ctx.get("traits")):
                if isinstance(traits, dict):
                    add("email", traits.get("email"))
                    add("phone", traits.get("phone"))
    return out


def needles(contacts: dict[str, set[str]]) -> dict[bytes, str]:
    """Lower-case byte strings to look for → the source value: each value as written and as
    percorso normalises it (phones also as the national number without the country code)."""
    from percorso.identity.normalize import normalize_email, normalize_phone, normalize_tax_code

    out: dict[bytes, str] = {}
    for v in contacts["email"]:
        for form in (v, normalize_email(v)):
            if form:
                out.setdefault(form.lower().encode(), v)
    for v in contacts["phone"]:
        e164 = normalize_phone(v, "IT")
        for form in (v if len(v) >= 9 else None, e164, e164[3:] if e164 and e164.startswith("+39") else None):
            if form:
                out.setdefault(form.lower().encode(), v)
    for v in contacts["tax_code"]:
        for form in (v, normalize_tax_code(v)):
            if form:
                out.setdefault(form.lower().encode(), v)
    return out


def found_in(files: list[Path], wanted: dict[bytes, str]) -> dict[str, list[str]]:
    """File name → the source values (as written) whose bytes appear in it (case-insensitive)."""
    hits: dict[str, list[str]] = {}
    for f in files:
        blob = f.read_bytes().lower()
        seen = sorted({v for n, v in wanted.items() if n in blob})
        if seen:
            hits[str(f)] = seen
    return hits
