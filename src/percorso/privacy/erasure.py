"""Erasure (GDPR art. 17): a person removed everywhere, to the bytes of the database file.

Why one function for one or many people: a data-protection request names one person, a
clean-up after a breach or a batch of requests many; the work (rebuild, rewrite of the file)
is paid once per call, not per person.

What :func:`erase` does, in one transaction where the engine allows it:

1. finds the customers behind the identifiers given (customer id, e-mail, phone, tax code,
   card, CRM id, any identifier) and every customer id a merge retired into them;
2. takes every identifier of theirs and every event that is theirs (identifiers of other people
   those events made shared hubs stay flagged: ``identity_pins``, ADR 0028); order events of the order
   sources (``ecommerce``, ``pos``: receipts kept ten years for the tax law) are *detached*
   (identifiers, URL, user agent, IP key set to NULL; the order, its lines and amount stay),
   every other event is deleted;
3. writes a suppression entry per identifier and per deleted event (``privacy_suppression``:
   ``sha256(secret:kind:value)``, never the value) so a re-import of old files does not bring
   the person back (:func:`suppress_import`, run by every import);
4. deletes their contact profiles, vault values, consent history, quarantined rows naming them
   (free text matched by keys, :mod:`.textscan`), and their rows in every other table by
   column name (identity links and merges, segment memberships, value artefacts, activation
   logs: :func:`percorso.engine.privacy_sql.sweep_tables`);
5. rebuilds the build tables from what is left (full build, value artefacts not refitted:
   other people's CLV, personas and segments stay as they were), scrubs the lines naming them
   from text files percorso keeps in the project folder (the collector's spool), rewrites the
   database file so the deleted rows' bytes are gone, brings the project's Parquet lakes up to
   date (:func:`update_lakes`), and logs the erasure in ``privacy_log`` with counts only.

Not done here: the retailer's own source files and backups are theirs to delete; the report
lists backup files in the project folder that still hold the person.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from percorso.engine import privacy_sql as S
from percorso.errors import InputError, NotFound
from percorso.privacy.textscan import texts_naming

if TYPE_CHECKING:
    from percorso.project import Project

#: sources whose order events are kept for the tax law, with the person detached
ORDER_SOURCE_KINDS = ("ecommerce", "pos")
#: text files percorso writes in the project folder that may hold raw payloads (the collector's spool)
TEXT_FOLDERS = ("spool", ".percorso/spool", "collector/spool")
TEXT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log", ".txt", ".csv")


@dataclass
class ErasureReport:
    """What one erasure removed (counts only: a report may be shown, logged or mailed)."""

    erasure_id: str
    customers: int = 0
    identifiers: int = 0
    events_deleted: int = 0
    events_detached: int = 0
    suppression_entries: int = 0
    #: identifiers of other people kept flagged as shared (ADR 0028): their results stay as they were
    identifiers_kept_flagged: int = 0
    rows_removed: dict[str, int] = field(default_factory=dict)
    text_lines_removed: int = 0
    database_bytes: int = 0
    backups_not_touched: list[str] = field(default_factory=list)
    #: the project's Parquet lakes brought up to date (ADR 0044): the person left them too
    lakes_updated: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_customers(project: Project, identifiers: list[str]) -> list[str]:
    """Customer ids behind ``identifiers``; an error names the position, never the value (no PII in errors)."""
    from percorso.profile import find_customer

    out = []
    for i, ident in enumerate(identifiers, 1):
        try:
            out.append(find_customer(project.engine, project.settings, ident))
        except NotFound:
            raise NotFound(f"identifier #{i} of {len(identifiers)}: no customer found for it (nessun cliente); "
                           "valid: a customer id, e-mail, phone, tax code, card, CRM id or another identifier "
                           "already imported", code="not_found") from None
        except InputError as exc:
            raise InputError(f"identifier #{i} of {len(identifiers)} names several customers; give their "
                             f"customer ids ({', '.join(getattr(exc, 'candidates', [])[:20])})",
                             code=exc.code) from None
    return sorted(set(out))


def erase(project: Project, identifiers: list[str], *, actor: str = "cli", rewrite: bool = True) -> ErasureReport:
    """Erase the people behind ``identifiers`` (see the module doc); returns what was removed."""
    from percorso.build import run_build

    t0 = time.perf_counter()
    engine = project.engine
    S.ensure_tables(engine)
    report = ErasureReport(erasure_id=uuid.uuid4().hex)
    customers = resolve_customers(project, identifiers)
    now = datetime.now(UTC).replace(tzinfo=None)
    secret = project.secret.decode("utf-8")
    region = project.settings.identity.default_phone_region
    with engine.transaction():
        scope = S.erasure_scope(engine, customers, detach_kinds=list(ORDER_SOURCE_KINDS))
        report.customers, report.identifiers = scope["customers"], scope["identifiers"]
        S.unpin_gone(engine)
        report.identifiers_kept_flagged = S.pin_flags(engine, now)
        from percorso.privacy.vault import open_values

        raw = [r["value"] for r in open_values(project, S.erasure_pii(engine)).to_pylist()]
        report.suppression_entries = S.suppress_scope(engine, secret, report.erasure_id, now)
        keys = S.suppression_keys(engine)
        rows = S.erase_scope_rows(engine)
        report.events_deleted = rows.pop("events_deleted")
        report.events_detached = rows.pop("events_detached")
        rows["quarantine"] = S.delete_quarantine_texts(
            engine, texts_naming(S.quarantine_texts(engine), keys, project.secret, region))
        rows.update(S.sweep_tables(engine, raw))
        report.rows_removed = {k: v for k, v in rows.items() if v}
    if engine.count("events"):
        run_build(project, full=True, refresh=False)
        S.unpin_gone(engine)
    report.text_lines_removed = scrub_text_files(project, keys)
    report.lakes_updated = update_lakes(project)
    with engine.transaction():
        S.log_action(engine, {"action_id": report.erasure_id, "action": "erase", "done_at": now, "actor": actor,
                              "customers": report.customers, "identifiers": report.identifiers,
                              "rows_removed": report.events_deleted + sum(report.rows_removed.values()),
                              "detail": f"events detached {report.events_detached}"})
    if rewrite:
        report.database_bytes = S.rewrite_database(engine)
    db = project.database_path
    report.backups_not_touched = sorted(p.name for p in db.parent.glob(db.name + ".before-restore-*"))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def update_lakes(project: Project) -> list[str]:
    """Re-export every lake of the project from the database the erasure just cleaned.

    Why here: a lake is a copy of the database for Spark; an erasure that left it would leave
    the person there, and a build on Spark would bring them back. The export rewrites only
    the partitions whose rows changed (theirs), each file by an atomic rename, removes the
    partitions left empty, and carries the pins (ADR 0044).
    """
    from percorso.lake import export_lake, project_lakes

    done = []
    for lake in project_lakes(project.root, project.lake_path, project.database_path):
        export_lake(project.engine, lake)
        done.append(str(lake))
    return done


def _text_files(project: Project) -> list[Path]:
    out: list[Path] = []
    for folder in TEXT_FOLDERS:
        d = project.root / folder
        if d.is_dir():
            out += [p for p in sorted(d.rglob("*")) if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES]
    return out


def scrub_text_files(project: Project, keys: set[str]) -> int:
    """Drop the lines naming a suppressed person from the text files percorso keeps (the spool).

    Each file is rewritten next to itself and renamed over it (no half-written spool); returns
    how many lines were removed.
    """
    import os

    removed = 0
    region = project.settings.identity.default_phone_region
    for path in _text_files(project):
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True)
        bad = set(texts_naming(set(lines), keys, project.secret, region))
        if not bad:
            continue
        kept = [ln for ln in lines if ln not in bad]
        tmp = path.with_name(path.name + ".scrub")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
        removed += len(lines) - len(kept)
    return removed


def suppress_import(project: Project, run_ids: list[str]) -> dict[str, int]:
    """After an import: mask contact data in what it quarantined and in its events' URLs and
    properties, and remove what it brought back
    of erased people (rows per table; costs nothing when nobody was ever erased).
    """
    engine = project.engine
    if run_ids:
        S.mask_quarantine(engine, run_ids)   # contact data of malformed rows: masked, never kept raw
        S.mask_events(engine, run_ids)       # e-mails in page addresses and properties: the same
    if not run_ids or not S.has_suppression(engine):
        return {}
    secret = project.secret
    out = S.suppress_runs(engine, secret.decode("utf-8"), run_ids)
    texts = S.quarantine_texts_of_runs(engine, run_ids)
    if texts:
        n = S.delete_quarantine_texts(engine, texts_naming(texts, S.suppression_keys(engine), secret,
                                                           project.settings.identity.default_phone_region), run_ids)
        if n:
            out["quarantine"] = n
    if out:
        S.log_action(engine, {"action_id": uuid.uuid4().hex, "action": "suppress_import",
                              "done_at": datetime.now(UTC).replace(tzinfo=None), "actor": "ingest",
                              "rows_removed": sum(out.values()), "detail": ", ".join(f"{k} {v}" for k, v in out.items())})
    return out
