"""Activation over HTTP: journeys (``/v1/journeys``), their test and results, the action log,
and the public unsubscribe link (``/v1/activation/unsubscribe``).

The JSON of a journey is the file's (``percorso.activation.model.Journey``); creating,
enabling and disabling need the ``crm`` role (they decide who gets messages), reading needs
``analyst``. The unsubscribe link is public: its token is an HMAC only percorso can make.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse

from percorso.server.security import PUBLIC, endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1", tags=["activation"])


def _summary(j: Any) -> dict[str, Any]:
    return {"name": j.name, "enabled": j.enabled, "trigger": j.trigger.kind, "holdout": j.holdout,
            "description": j.description, "href": f"/v1/journeys/{j.name}"}


@endpoint(router, "GET", "/journeys", role=Role.analyst, summary="Activation journeys / Percorsi di attivazione")
async def journeys(request: Request) -> dict[str, Any]:
    """Every journey of the project with its trigger kind, holdout share and whether it is on."""
    from percorso.activation.store import load_journeys

    state = request.app.state.percorso
    return {"journeys": [_summary(j) for j in load_journeys(state.root)]}


@endpoint(router, "GET", "/journeys/{name}", role=Role.analyst, summary="One journey / Un percorso")
async def journey(request: Request, name: str) -> dict[str, Any]:
    from percorso.activation.store import get_journey

    return get_journey(request.app.state.percorso.root, name).model_dump(mode="json")


@endpoint(router, "PUT", "/journeys/{name}", role=Role.crm, summary="Create or replace a journey / Crea un percorso")
async def put_journey(request: Request, name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """The journey as JSON (same as the file); stored disabled unless ``enabled`` is true."""
    from percorso.activation.model import journey_from_dict
    from percorso.activation.store import save_journey
    from percorso.errors import InputError

    state = request.app.state.percorso
    j = journey_from_dict({**body, "name": body.get("name", name)}, origin="request body")
    if j.name != name:
        raise InputError(f"the body names journey {j.name!r}, the URL {name!r}", code="journey_invalid")
    save_journey(state.root, j, replace=True)
    await state.audit(request, "journey_put", query={"name": name, "enabled": j.enabled}, status=200)
    return _summary(j)


async def _toggle(request: Request, name: str, on: bool) -> dict[str, Any]:
    from percorso.activation.store import set_enabled

    state = request.app.state.percorso
    j = set_enabled(state.root, name, on)
    await state.audit(request, "journey_enable" if on else "journey_disable", query={"name": name}, status=200)
    return _summary(j)


@endpoint(router, "POST", "/journeys/{name}/enable", role=Role.crm, summary="Enable / Attiva")
async def enable(request: Request, name: str) -> dict[str, Any]:
    return await _toggle(request, name, True)


@endpoint(router, "POST", "/journeys/{name}/disable", role=Role.crm, summary="Disable / Disattiva")
async def disable(request: Request, name: str) -> dict[str, Any]:
    return await _toggle(request, name, False)


@endpoint(router, "GET", "/journeys/{name}/test", role=Role.analyst, summary="Who would enter / Chi entrerebbe")
async def test(request: Request, name: str, limit: int = Query(100, ge=1, le=10_000)) -> dict[str, Any]:
    """Who would enter now and what each would get; nothing is sent."""
    from percorso.activation.service import preview
    from percorso.activation.store import get_journey
    from percorso.analysis.wire import frame_to_wire

    state = request.app.state.percorso
    frame = await state.db(lambda: preview(state.project, get_journey(state.root, name), limit=limit))
    return {"journey": name, "would_enter": frame_to_wire(frame)}


@endpoint(router, "GET", "/journeys/{name}/results", role=Role.analyst, summary="Holdout results / Risultati")
async def results(request: Request, name: str) -> dict[str, Any]:
    """Treated vs control per journey and step, with intervals, a test and the sentence in it and en."""
    from percorso.activation.service import results as run_results
    from percorso.activation.store import get_journey
    from percorso.analysis.wire import frame_to_wire

    state = request.app.state.percorso
    frame, text = await state.db(lambda: run_results(state.project, get_journey(state.root, name)))
    return {"journey": name, "results": frame_to_wire(frame), "sentence": text}


@endpoint(router, "GET", "/activation/log", role=Role.crm, summary="Action log / Registro azioni")
async def log(request: Request, journey: str | None = None, limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
    from percorso.activation.service import action_log
    from percorso.analysis.wire import frame_to_wire

    state = request.app.state.percorso
    return {"log": frame_to_wire(await state.db(lambda: action_log(state.project, journey, limit)))}


@endpoint(router, "GET", "/activation/unsubscribe", role=PUBLIC, summary="Unsubscribe / Disiscrizione",
          response_class=HTMLResponse)
async def unsubscribe(request: Request, t: str = Query(..., max_length=200)) -> HTMLResponse:
    """The link in every e-mail: a genuine token suppresses the channel for that customer."""
    from percorso.activation.email import read_unsubscribe_token
    from percorso.activation.outbox import utcnow
    from percorso.engine import activation_sql as S

    state = request.app.state.percorso
    customer_id, channel = read_unsubscribe_token(state.project.secret, t)

    def write() -> None:
        S.ensure_activation_tables(state.engine)
        S.add_suppression(state.engine, customer_id, channel, "unsubscribed", utcnow())

    await state.db(write)
    await state.audit(request, "unsubscribe", query={"customer_id": customer_id, "channel": channel}, status=200)
    return HTMLResponse("<p>Disiscrizione registrata. Non riceverai più questi messaggi.</p>"
                        "<p>You are unsubscribed. You will not receive these messages again.</p>")


@endpoint(router, "POST", "/activation/unsubscribe", role=PUBLIC, summary="One-click unsubscribe (RFC 8058)",
          response_class=HTMLResponse)
async def unsubscribe_post(request: Request, t: str = Query(..., max_length=200)) -> HTMLResponse:
    """``List-Unsubscribe-Post: List-Unsubscribe=One-Click``: mail clients POST the same link."""
    return await unsubscribe(request, t)
