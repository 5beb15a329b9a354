"""Subject access and portability (GDPR art. 15 and 20): everything held about a person, in one zip.

Why a zip of JSON + CSV + a summary: the person (or the retailer's DPO on their behalf) needs
something readable (the summary, Italian and English), something a program can load (JSON,
one document) and something a spreadsheet opens (one CSV per table). The content is every
row of every table that names the person's customer id (build tables, value artefacts,
segment memberships, other rooms' logs: found by column, so new tables are included), the
raw events behind them, the contact profiles, the vault's contact data and the consent
history with today's state per purpose.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from percorso.engine import privacy_sql as S
from percorso.privacy.settings import PURPOSE_LABELS, privacy_settings

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.project import Project


@dataclass
class AccessReport:
    """Where the archive went and how many rows each part holds."""

    path: str
    customer_id: str
    tables: dict[str, int]


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return v


def _csv(table: pa.Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(table.column_names)
    for row in table.to_pylist():
        w.writerow([_jsonable(row[c]) if row[c] is not None else "" for c in table.column_names])
    return buf.getvalue()


def collect(project: Project, identifier: str) -> tuple[str, dict[str, pa.Table], dict[str, Any]]:
    """(customer id, table name → rows, consent view) for the person behind ``identifier``."""
    from percorso.privacy.consent import consent_view
    from percorso.profile import find_customer

    engine = project.engine
    cid = find_customer(engine, project.settings, identifier)
    ids = [cid]
    parts: dict[str, pa.Table] = {"events": S.events_of_customer(engine, ids)}
    if engine.has_table("contact_profiles"):
        parts["contact_profiles"] = S.profiles_of_customer(engine, ids)
    if engine.has_table("pii_vault"):
        from percorso.privacy.vault import open_values

        parts["contact_data"] = open_values(project, S.vault_of_customer(engine, ids))
    for table in S.person_tables(engine):
        rows = _touchpoints_of(engine, ids) if table == "touchpoints" else S.rows_of_customer(engine, table, ids)
        parts[table] = rows
    if "customers" in parts:   # the profile as the person knows it: e-mail and phone, not their keyed hashes
        from percorso.privacy.contacts import open_contacts

        parts["customers"] = open_contacts(engine, project.settings, parts["customers"])
    view = consent_view(project, cid)
    return cid, parts, view.to_dict()


def _touchpoints_of(engine: Any, ids: list[str]) -> pa.Table:
    """The person's touchpoints with every detail of their events (page, referrer, region,
    properties, source name: read from ``events``, not stored in ``touchpoints``, ADR 0061)."""
    from percorso.build.details import with_details

    t = engine.table("touchpoints")
    return engine.to_arrow(with_details(engine, t.filter(t.customer_id.isin(ids))))


def write_archive(project: Project, identifier: str, out: str | Path) -> AccessReport:
    """Write the zip (``data.json``, ``csv/<table>.csv``, ``summary_it.txt``, ``summary_en.txt``)."""
    cid, parts, consent = collect(project, identifier)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {k: v.num_rows for k, v in parts.items()}
    doc = {"customer_id": cid, "generated_at": dt.datetime.now(dt.UTC).isoformat(),
           "consent": consent,
           "tables": {k: [{c: _jsonable(v) for c, v in r.items()} for r in t.to_pylist()] for k, t in parts.items()}}
    tmp = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.json", json.dumps(doc, ensure_ascii=False, indent=1, default=str))
        for name, t in parts.items():
            z.writestr(f"csv/{name}.csv", _csv(t))
        z.writestr("csv/consent_state.csv", _csv_rows(consent["state"]))
        z.writestr("summary_it.txt", summary(project, cid, counts, consent, "it"))
        z.writestr("summary_en.txt", summary(project, cid, counts, consent, "en"))
    tmp.replace(out)
    return AccessReport(path=str(out), customer_id=cid, tables=counts)


def _csv_rows(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


_TEXT = {
    "it": {"title": "Dati personali trattati da percorso per la persona {cid}",
           "intro": "Questo archivio contiene tutti i dati che il progetto '{name}' conserva su questa persona "
                    "(art. 15 e 20 GDPR): data.json (tutto, in un documento), csv/ (una tabella per file).",
           "tables": "Righe per tabella:", "consent": "Consensi (oggi) per finalità:",
           "yes": "sì", "no": "no", "basis": "base giuridica", "retention": "Conservazione:",
           "rule": "{table} {source}: {months} mesi ({action})", "none": "nessun limite configurato",
           "rights": "Diritti: rettifica, cancellazione (percorso erase), opposizione e revoca del consenso "
                     "(percorso consent set) si chiedono al titolare del trattamento."},
    "en": {"title": "Personal data percorso processes for person {cid}",
           "intro": "This archive holds everything project '{name}' keeps about this person (GDPR art. 15 and 20): "
                    "data.json (all of it, one document), csv/ (one table per file).",
           "tables": "Rows per table:", "consent": "Consent (today) per purpose:",
           "yes": "yes", "no": "no", "basis": "legal basis", "retention": "Retention:",
           "rule": "{table} {source}: {months} months ({action})", "none": "no limit configured",
           "rights": "Rights: rectification, erasure (percorso erase), objection and withdrawal of consent "
                     "(percorso consent set) are requested from the data controller."},
}


def summary(project: Project, cid: str, counts: dict[str, int], consent: dict[str, Any], lang: str) -> str:
    """The readable summary in ``lang`` (``it`` | ``en``)."""
    t = _TEXT[lang]
    i = 0 if lang == "it" else 1
    lines = [t["title"].format(cid=cid), "", t["intro"].format(name=project.settings.project.name), "", t["tables"]]
    lines += [f"  {k}: {v}" for k, v in sorted(counts.items())]
    lines += ["", t["consent"]]
    for s in consent["state"]:
        label = PURPOSE_LABELS[s["purpose"]][i]
        lines.append(f"  {label}: {t['yes'] if s['allowed'] else t['no']} ({t['basis']}: {s['basis']}"
                     + (f", {s['since'][:10]}" if s["since"] else "") + ")")
    lines += ["", t["retention"]]
    rules = privacy_settings(project.settings).retention
    lines += [f"  {t['rule'].format(table=r.table, source=r.source or '*', months=r.months, action=r.action)}"
              for r in rules] or [f"  {t['none']}"]
    lines += ["", t["rights"], ""]
    return "\n".join(lines)
