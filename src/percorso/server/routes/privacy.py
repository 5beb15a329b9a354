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
