"""The dashboard's forms that change something: save a segment, create or revoke a token.

Each is a POST with the role it needs (the same dependency as the pages, so the server's
deny-by-default check and its authorization test cover them) and the CSRF field checked before
anything else runs (:mod:`percorso.web.session`). Each writes through the same function as the
CLI and the REST API, is audited like them, and answers with the page it came from.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from percorso.errors import PercorsoError
from percorso.server.tokens import Role
from percorso.web import session
from percorso.web.context import PageContext
from percorso.web.i18n import parse_locale
from percorso.web.pages import BY_KEY
from percorso.web.render import render

router = APIRouter(include_in_schema=False)


def post_endpoint(path: str, role: Role) -> Any:
    """Register a form's POST with its role (and the browser handling of the pages)."""
    from percorso.web.routes import page_role

    def decorate(fn: Any) -> Any:
        fn.__percorso_role__ = role
        router.add_api_route(path, fn, methods=["POST"], dependencies=[page_role(role)], include_in_schema=False)
        return fn

    return decorate


async def _page(request: Request, key: str, fields: dict[str, str], extra: dict[str, Any], errors: list[str],
                status: int = 200) -> Response:
    """Render page ``key`` (its view plus ``extra``) as the answer to a form."""
    from percorso.web.routes import base_context

    page = BY_KEY[key]
    state = request.app.state.percorso
    locale = parse_locale(fields.get("lang"), state.project.settings.project.locale)
    ctx = PageContext(request, page, request.state.principal, locale, {"lang": locale})
    ctx.errors.extend(errors)
    base = await base_context(ctx)
    data = await page.view()(ctx)
    return render(request, f"{key}.html", {**base, **data, **extra}, status=status, locale=locale)


async def _checked(request: Request) -> tuple[dict[str, str], Response | None]:
    fields = await session.form_fields(request)
    if not session.csrf_ok(request, fields):
        from percorso.web.routes import _csrf_refused

        refused = _csrf_refused(request, parse_locale(fields.get("lang")))
        refused.headers["X-Refused"] = "csrf"  # told apart from a role refusal (the authorization test reads it)
        return fields, refused
    return fields, None


@post_endpoint("/segmenti/salva", Role.analyst)
async def save_segment_form(request: Request) -> Response:
    """Store the builder's draft as a named segment, then show its membership."""
    from percorso.value.segments.store import save_segment

    fields, refused = await _checked(request)
    if refused:
        return refused
    state = request.app.state.percorso
    name = fields.get("name", "").strip()
    try:
        size = await state.db(lambda: save_segment(state.engine, name, fields.get("rule", ""), state.project.settings,
                                                   description=fields.get("description", "")))
    except PercorsoError as exc:
        return await _page(request, "segmenti", fields, {}, [exc.message], status=400)
    state.changed()
    await state.audit(request, "segment_save", query={"name": name}, rows=size)
    lang = parse_locale(fields.get("lang"))
    return RedirectResponse(f"/segmenti?seg={quote(name)}&lang={lang}", status_code=303)


@post_endpoint("/impostazioni/token", Role.admin)
async def create_token_form(request: Request) -> Response:
    """Create a token and show it once."""
    from percorso.server.tokens import create_token

    fields, refused = await _checked(request)
    if refused:
        return refused
    state = request.app.state.percorso
    try:
        text, row = await state.db(create_token, state.engine, fields.get("name", "").strip(), fields.get("role", ""),
                                   fields.get("expires") or None)
    except PercorsoError as exc:
        return await _page(request, "impostazioni", fields, {}, [exc.message], status=400)
    state.tokens.load(state.engine)
    await state.audit(request, "token_create", query={"name": row["name"], "role": row["role"]})
    return await _page(request, "impostazioni", fields, {"new_token": text}, [])


@post_endpoint("/impostazioni/revoca", Role.admin)
async def revoke_token_form(request: Request) -> Response:
    """Revoke a token (its sessions end with it)."""
    from percorso.server.tokens import revoke_token

    fields, refused = await _checked(request)
    if refused:
        return refused
    state = request.app.state.percorso
    try:
        n = await state.db(revoke_token, state.engine, fields.get("token_id", ""))
    except PercorsoError as exc:
        return await _page(request, "impostazioni", fields, {}, [exc.message], status=400)
    state.tokens.load(state.engine)
    await state.audit(request, "token_revoke", query={"token": fields.get("token_id", "")}, rows=n)
    lang = parse_locale(fields.get("lang"))
    return RedirectResponse(f"/impostazioni?lang={lang}", status_code=303)


@post_endpoint("/attivazione/stato", Role.crm)  # as POST /v1/journeys/{name}/enable
async def journey_state_form(request: Request) -> Response:
    """Switch an activation journey on or off (the journey file's flag, as ``percorso journey
    enable|disable``), audited like the API's, then show the journeys again."""
    from percorso.activation.store import set_enabled

    fields, refused = await _checked(request)
    if refused:
        return refused
    state = request.app.state.percorso
    name, on = fields.get("journey", ""), fields.get("enabled", "") == "1"
    try:
        await state.db(set_enabled, state.root, name, on)
    except PercorsoError as exc:
        return await _page(request, "attivazione", fields, {}, [exc.message], status=400)
    await state.audit(request, "journey_enable" if on else "journey_disable", query={"name": name}, status=200)
    lang = parse_locale(fields.get("lang"))
    return RedirectResponse(f"/attivazione?j={quote(name)}&lang={lang}", status_code=303)
