"""Consent over HTTP (``/v1/consent``): read a person's consent, record a grant or a denial.

Individual-level and about rights: reading needs ``crm``, writing needs ``crm`` too (the
service desk records what a customer said on the phone); both are audited without the
identifier typed (only the customer id percorso gives the person).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field

from percorso.server.security import endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1", tags=["privacy"])


class ConsentRecord(BaseModel):
    """A grant or a denial to record (body of ``POST /v1/consent/{identifier}``)."""

    purpose: str = Field(description="analytics | profiling | email | sms | phone | ads")
    granted: bool
    at: str | None = Field(None, description="ISO 8601 time it was given (default now)")
    source: str = "api"
    text_version: str | None = None


def _show(state: Any, identifier: str, at: str | None) -> dict[str, Any]:
    from percorso.privacy.consent import consent_view

    return consent_view(state.project, identifier, at).to_dict()


@endpoint(router, "GET", "/consent/{identifier}", role=Role.crm,
          summary="A person's consent per purpose / Consenso per finalità")
async def consent_show(request: Request, identifier: str, at: str | None = Query(None)) -> dict[str, Any]:
    """State per purpose at ``at`` (default now), with the legal basis and the history behind it.
    / Stato per finalità, base giuridica e storico."""
    state = request.app.state.percorso
    out = await state.db(_show, state, identifier, at)
    await state.audit(request, "consent_view", query={"customer_id": out["customer_id"]}, rows=len(out["history"]))
    return out


def _set(state: Any, identifier: str, rec: ConsentRecord) -> dict[str, Any]:
    from percorso.privacy.consent import consent_view, set_consent

    stored = set_consent(state.project, identifier, rec.purpose, rec.granted, at=rec.at, source=rec.source,
                         text_version=rec.text_version)
    view = consent_view(state.project, identifier)
    return {"customer_id": view.customer_id, "purpose": stored["purpose"], "granted": stored["granted"],
            "occurred_at": stored["occurred_at"].isoformat(), "state": view.state}


@endpoint(router, "POST", "/consent/{identifier}", role=Role.crm,
          summary="Record a grant or a denial / Registra consenso o diniego")
async def consent_set(request: Request, identifier: str, record: ConsentRecord = Body(...)) -> dict[str, Any]:
    """Appends to the person's consent history (the latest record wins). / Aggiunge allo storico."""
    state = request.app.state.percorso
    out = await state.db(_set, state, identifier, record)
    await state.audit(request, "consent_set", query={"customer_id": out["customer_id"], "purpose": out["purpose"],
                                                    "granted": out["granted"]}, rows=1)
    return out


class ErasureRequest(BaseModel):
    """People to erase (body of ``POST /v1/erase``): identifiers as a person gives them."""

    identifiers: list[str] = Field(min_length=1, max_length=10_000)


def _erase(state: Any, identifiers: list[str], actor: str) -> dict[str, Any]:
    from percorso.privacy.erasure import erase

    with state.rewriting():  # the erasure rewrites the file (ADR 0049)
        out = erase(state.project, identifiers, actor=actor).to_dict()
    state.changed()
    return out


@endpoint(router, "POST", "/erase", role=Role.admin, summary="Erase people everywhere (art. 17) / Cancellazione")
async def erase_people(request: Request, body: ErasureRequest = Body(...)) -> dict[str, Any]:
    """Removes the people everywhere, blocks re-imports, rewrites the database; returns counts only.
    / Cancella le persone ovunque; restituisce solo conteggi."""
    state = request.app.state.percorso
    actor = f"token:{request.state.principal.name}"
    out = await state.db(_erase, state, body.identifiers, actor)
    await state.audit(request, "erase", query={"erasure_id": out["erasure_id"], "customers": out["customers"]},
                      rows=out["customers"])
    return out


def _retention(state: Any, dry_run: bool) -> dict[str, Any]:
    from percorso.privacy.retention import run_retention

    with state.rewriting():  # a run that removed rows rewrites the file (ADR 0049)
        out = run_retention(state.project, dry_run=dry_run, actor="server").to_dict()
    if not dry_run and out["total"]:
        state.changed()
    return out


@endpoint(router, "POST", "/retention/run", role=Role.admin, summary="Apply retention rules / Conservazione")
async def retention_run(request: Request, dry_run: bool = Query(False)) -> dict[str, Any]:
    """Deletes what expired under ``[[privacy.retention]]`` and reclaims the space. / Cancella ciò che è scaduto."""
    state = request.app.state.percorso
    out = await state.db(_retention, state, dry_run)
    await state.audit(request, "retention_run", query={"dry_run": dry_run}, rows=out["total"])
    return out


def _access(state: Any, identifier: str, path: Any) -> dict[str, Any]:
    from percorso.privacy.access import write_archive

    rep = write_archive(state.project, identifier, path)
    return {"customer_id": rep.customer_id, "rows": sum(rep.tables.values())}


@endpoint(router, "GET", "/subject-access/{identifier}", role=Role.crm,
          summary="Everything held about a person, as a zip / Accesso ai dati (art. 15)")
async def subject_access(request: Request, identifier: str) -> Any:
    """``data.json``, ``csv/``, ``summary_it.txt``, ``summary_en.txt``. / Tutti i dati della persona."""
    import tempfile
    from pathlib import Path

    from fastapi.responses import FileResponse
    from starlette.background import BackgroundTask

    state = request.app.state.percorso
    path = Path(tempfile.mkdtemp(prefix="percorso-access-")) / "subject-access.zip"
    out = await state.db(_access, state, identifier, path)
    await state.audit(request, "subject_access", query={"customer_id": out["customer_id"]}, rows=out["rows"])

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        path.parent.rmdir()

    return FileResponse(path, filename=f"{out['customer_id']}.zip", media_type="application/zip",
                        background=BackgroundTask(cleanup))
