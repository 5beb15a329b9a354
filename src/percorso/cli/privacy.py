"""CLI commands of the privacy room: consent show|set (then retention, erase, subject-access)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutputFormat, ProjectOpt, console, emit_frame, open_cli_project

consent_app = typer.Typer(help="Consenso per finalità / consent per purpose (show, set).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(consent_app, name="consent")


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
