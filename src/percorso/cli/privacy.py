"""CLI commands of the privacy room: consent show|set (then retention, erase, subject-access)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutputFormat, ProjectOpt, console, emit_frame, open_cli_project

retention_app = typer.Typer(help="Conservazione dei dati / retention rules (\\[\\[privacy.retention]]).",
                            no_args_is_help=True)
vault_app = typer.Typer(help="Cassaforte dei dati di contatto / the encrypted PII vault.", no_args_is_help=True)
consent_app = typer.Typer(help="Consenso per finalità / consent per purpose (show, set).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(consent_app, name="consent")
    app.command("erase")(erase_cmd)
    app.add_typer(retention_app, name="retention")
    app.command("subject-access")(subject_access_cmd)
    app.add_typer(vault_app, name="vault")


@consent_app.command("show")
def consent_show_cmd(
    identifier: Annotated[str, typer.Argument(help="Id cliente, e-mail, telefono, carta o altro identificativo.")],
    project: ProjectOpt = Path("."),
    at: Annotated[str | None, typer.Option("--at", help="Momento (ISO 8601) / state at this time (default now).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Consenso della persona per finalità e storico / a person's consent per purpose and its history."""
    import pandas as pd

    from percorso.privacy.consent import consent_view

    with open_cli_project(project, read_only=True) as p:
        view = consent_view(p, identifier, at)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(view.to_dict(), ensure_ascii=False, default=str) + "\n")
        return
    if fmt is not OutputFormat.table:
        emit_frame(pd.DataFrame(view.state), fmt)
        return
    emit_frame(pd.DataFrame(view.state), fmt, title=f"{view.customer_id}: consenso / consent ({view.at:%Y-%m-%d %H:%M} UTC)")
    if view.history:
        emit_frame(pd.DataFrame(view.history), fmt, title="storico / history")
    else:
        console().print("nessun consenso registrato / no consent recorded")


@consent_app.command("set")
def consent_set_cmd(
    identifier: Annotated[str, typer.Argument(help="Id cliente, e-mail, telefono, carta o altro identificativo.")],
    purpose: Annotated[str, typer.Argument(help="analytics | profiling | email | sms | phone | ads")],
    decision: Annotated[str, typer.Argument(help="grant | deny (anche / also: si, no)")],
    project: ProjectOpt = Path("."),
    at: Annotated[str | None, typer.Option("--at", help="Quando è stato espresso (ISO 8601; default ora) / when given.")] = None,
    source: Annotated[str, typer.Option("--source", help="Fonte / where it was given (default manual).")] = "manual",
    text_version: Annotated[str | None, typer.Option("--text-version", help="Versione dell'informativa / notice version.")] = None,
) -> None:
    """Registra un consenso o un diniego / record a grant or a denial (appended to the history)."""
    from percorso.errors import InputError
    from percorso.privacy.consent import set_consent

    d = decision.strip().lower()
    if d not in ("grant", "granted", "deny", "denied", "si", "sì", "yes", "no"):
        raise InputError(f"decision '{decision}' not understood; valid: grant, deny (si, no)")
    granted = d in ("grant", "granted", "si", "sì", "yes")
    with open_cli_project(project) as p:
        rec = set_consent(p, identifier, purpose, granted, at=at, source=source, text_version=text_version)
    word = "concesso / granted" if granted else "negato / denied"
    console().print(f"{rec['purpose']}: {word} ({rec['occurred_at']:%Y-%m-%d %H:%M} UTC, {rec['subject_type']})")


def erase_cmd(
    identifiers: Annotated[list[str] | None, typer.Argument(help="Id cliente, e-mail, telefono, codice fiscale, carta...")] = None,
    project: ProjectOpt = Path("."),
    file: Annotated[Path | None, typer.Option("--file", help="Un identificativo per riga / one identifier per line.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Conferma: la cancellazione è definitiva / confirm: erasure is final.")] = False,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Cancella una persona ovunque (art. 17 GDPR) / erase people everywhere, to the bytes of the file."""
    from percorso.errors import InputError
    from percorso.privacy.erasure import erase

    wanted = list(identifiers or [])
    if file is not None:
        if not file.is_file():
            raise InputError(f"{file}: file not found; give a text file with one identifier per line")
        wanted += [ln.strip() for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not wanted:
        raise InputError("nothing to erase; give IDENTIFIER... or --file FILE")
    if not yes:
        raise InputError(f"erasing {len(wanted)} people cannot be undone; run again with --yes")
    with open_cli_project(project) as p:
        report = erase(p, wanted, actor="cli")
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
        return
    c = console()
    c.print(f"cancellati / erased: {report.customers} clienti/customers, {report.identifiers} identificativi/identifiers, "
            f"{report.events_deleted} eventi cancellati/events deleted, {report.events_detached} ordini anonimizzati "
            f"(conservati per legge)/orders detached (kept for tax)")
    for table, n in sorted(report.rows_removed.items()):
        c.print(f"  {table}: {n}")
    if report.text_lines_removed:
        c.print(f"  righe di testo / text lines (spool): {report.text_lines_removed}")
    for b in report.backups_not_touched:
        c.print(f"  attenzione / note: backup {b} still holds the erased people; delete it when its retention ends")


@retention_app.command("run")
def retention_run_cmd(
    project: ProjectOpt = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Conta soltanto / only count what would expire.")] = False,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Cancella ciò che è scaduto e libera lo spazio / delete what expired and reclaim the space."""
    import pandas as pd

    from percorso.privacy.retention import run_retention

    with open_cli_project(project) as p:
        report = run_retention(p, dry_run=dry_run)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(report.to_dict(), default=str) + "\n")
        return
    frame = pd.DataFrame(report.rules)
    emit_frame(frame, fmt, title=("da cancellare / would expire" if dry_run else "scaduti / expired")
               + f" ({report.total})")


def subject_access_cmd(
    identifier: Annotated[str, typer.Argument(help="Id cliente, e-mail, telefono, codice fiscale, carta...")],
    out: Annotated[Path, typer.Option("--out", help="Archivio da scrivere / the .zip to write.")],
    project: ProjectOpt = Path("."),
) -> None:
    """Tutti i dati di una persona (art. 15/20 GDPR) / everything held about a person: JSON, CSV, summary IT/EN."""
    from percorso.errors import InputError
    from percorso.privacy.access import write_archive

    if out.suffix.lower() != ".zip":
        raise InputError(f"--out {out.name}: the archive is a .zip file; e.g. --out richiesta.zip")
    with open_cli_project(project, read_only=True) as p:
        rep = write_archive(p, identifier, out)
    console().print(f"{rep.path}: {rep.customer_id}, " + ", ".join(f"{k} {v}" for k, v in rep.tables.items() if v))


@vault_app.command("rotate")
def vault_rotate_cmd(project: ProjectOpt = Path(".")) -> None:
    """Cifra di nuovo con la chiave attuale / re-seal every vault value under \\[privacy] vault_key.

    Put the new key in ``vault_key`` and the old one in ``retired_vault_keys`` first; after the
    rotation the old key may be dropped.
    """
    from percorso.privacy.vault import rotate

    with open_cli_project(project) as p:
        out = rotate(p)
    console().print(f"chiave / key {out['key_id']}: {out['resealed']} valori cifrati di nuovo / values re-sealed")
