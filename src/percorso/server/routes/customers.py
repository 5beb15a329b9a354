"""The customer 360° view and identity explanations over HTTP (individual-level: audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from percorso.server.security import endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1", tags=["customers"])


def _profile(state: Any, identifier: str, limit: int, offset: int) -> dict[str, Any]:
    from percorso.profile import customer_profile, find_customer

    cid = find_customer(state.engine, state.project.settings, identifier)
    return customer_profile(state.engine, cid, limit=limit, offset=offset,
                            settings=state.project.settings).to_dict()


@endpoint(router, "GET", "/customers/{identifier}", role=Role.analyst,
          summary="Customer 360° view / Vista cliente 360°")
async def customer(request: Request, identifier: str, limit: int = Query(500, ge=1, le=5000),
                   offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """One customer by id, e-mail, phone, loyalty card, CRM id or tax code (PII is looked up
    through its keyed hash). / Un cliente per id, e-mail, telefono, carta, id CRM o codice fiscale."""
    state = request.app.state.percorso
    out = await state.look_up("customer", identifier, _profile, state, identifier, limit, offset)
    await state.audit(request, "customer_view", query={"customer_id": out["customer_id"]},
                      rows=len(out["timeline"]))
    return out


def _explain(state: Any, identifier: str, limit: int) -> dict[str, Any]:
    from percorso.identity.explainer import explain

    return explain(state.project, identifier, limit=limit).to_dict()


@endpoint(router, "GET", "/identity/{identifier}/explain", role=Role.analyst,
          summary="Why identifiers were joined / Perché gli identificativi sono uniti")
async def identity_explain(request: Request, identifier: str, limit: int = Query(500, ge=1, le=5000)) -> dict[str, Any]:
    """Which events joined which identifiers of this customer, and when. / Quali eventi hanno
    unito quali identificativi, e quando."""
    state = request.app.state.percorso
    out = await state.db(_explain, state, identifier, limit)
    await state.audit(request, "identity_explain", query={"customer_id": out.get("customer_id")},
                      rows=len(out.get("links", [])))
    return out
