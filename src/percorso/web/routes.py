"""The dashboard's routes: one per page (with the role it needs), log-in and log-out, the
customers behind a number, exports, and the assets.

Why pages go through :func:`percorso.server.security.require`: the dashboard is one more
client of the same tokens and roles. A browser without a session is sent to the log-in page
and one without the role gets a page that says so; any other client gets the API's
``application/problem+json`` 401 / 403, so the server's authorization test covers these routes too.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from percorso.errors import InputError, PercorsoError
from percorso.server.security import PUBLIC, ApiError, endpoint, require
from percorso.server.state import ResultCache
from percorso.server.tokens import Role
from percorso.web import session
from percorso.web.context import PageContext
from percorso.web.i18n import gettext_for, parse_locale
from percorso.web.pages import BY_KEY, PAGES, Page
from percorso.web.render import render

STATIC = Path(__file__).parent / "static"
router = APIRouter(include_in_schema=False)
#: Most customers one drill-down export holds.
EXPORT_MAX = 100_000


class BrowserRedirect(Exception):
    """Raised by the page dependency for a browser: answer with ``response`` instead."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def page_role(role: Role) -> Any:
    """The API's authentication, with a browser sent to log in (401) or told why not (403)."""
    api = require(role)

    async def dependency(request: Request) -> Any:
        try:
            return await api(request)
        except ApiError as exc:
            if not _wants_html(request) or exc.status not in (401, 403):
                raise
            if exc.status == 401:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise BrowserRedirect(RedirectResponse(f"/login?next={quote(target)}", status_code=303)) from None
            locale = parse_locale(request.query_params.get("lang"))
            raise BrowserRedirect(render(request, "forbidden.html", {
                "locale": locale, "csrf": session.csrf_token(request), "needed": role.name,
                "role": request.state.principal.role.name if hasattr(request.state, "principal") else ""},
                status=403, locale=locale)) from None

    return Depends(dependency)


def web_endpoint(path: str, role: Role) -> Any:
    """Register a dashboard route with its role (deny by default, as every API route)."""

    def decorate(fn: Any) -> Any:
        fn.__percorso_role__ = role
        router.add_api_route(path, fn, methods=["GET"], dependencies=[page_role(role)], include_in_schema=False)
        return fn

    return decorate


# -- pages ---------------------------------------------------------------------------------------
def _segments(state: Any) -> list[str]:
    """Saved segment names for the global filter (none before the first segment is saved)."""
    from percorso.value.segments.store import list_segments

    try:
        return [str(n) for n in list_segments(state.engine)["name"]]
    except PercorsoError:
        return []


_SEGMENTS: dict[tuple[int, int], tuple[bool, list[str]]] = {}


async def base_context(ctx: PageContext) -> dict[str, Any]:
    """What the layout needs: navigation, language switch, filters, session, messages."""
    state = ctx.state
    key = (id(state), state.data_version)
    if key not in _SEGMENTS:  # once per data version: a warm page never waits for the database worker
        has = await ctx.has_data()
        _SEGMENTS.clear()
        _SEGMENTS[key] = (has, await state.db(_segments, state) if has else [])
    has_data, segments = _SEGMENTS[key]
    nav = [(p, ctx.page_url(p)) for p in PAGES if ctx.principal.role >= p.role]
    return {
        "ctx": ctx, "page": ctx.page, "locale": ctx.locale, "nav": nav, "viewer": ctx.viewer,
        "principal": ctx.principal, "csrf": session.csrf_token(ctx.request),
        "lang_urls": {loc: ctx.url(lang=loc) for loc in ("it", "en")},
        "filters": {"from": ctx.get("from", ""), "to": ctx.get("to", ""), "segment": ctx.get("segment", "")},
        "segments": segments, "has_data": has_data, "project": state.project.settings.project.name,
        "errors": ctx.errors, "notes": ctx.notes,
    }


#: What each view computed, by (page, URL parameters, language, viewer or not, data version): a
#: view is a function of these alone (a view that is not, or that must write to the audit log on
#: every opening, says ``view.cacheable = False`` or gives a function of the context: Cliente 360,
#: Impostazioni; Qualità dei dati when an analyst reads quarantined rows) (its queries' answers are cached the same way), so a warm
#: page costs only the template. Building Plotly figures and formatting tables is most of a page's
#: time once its queries are cached (on the 2,000-person demo, 0.3-0.8 s of 0.3-0.8 s).
_VIEWS = ResultCache(128)


def _page_handler(page: Page) -> Any:
    async def handler(request: Request) -> Response:
        ctx = PageContext.of(request, page)
        base = await base_context(ctx)
        view = page.view()
        if view is None:
            return render(request, "placeholder.html", base, locale=ctx.locale)
        if not base["has_data"]:
            return render(request, "empty_project.html", base, locale=ctx.locale)
        key = (page.key, tuple(sorted(request.query_params.multi_items())), ctx.locale, ctx.viewer,
               id(ctx.state), ctx.state.data_version)
        cacheable = getattr(view, "cacheable", True)
        cacheable = cacheable(ctx) if callable(cacheable) else cacheable
        cached = _VIEWS.get(key) if cacheable else None
        if cached is None:
            data = await view(ctx)
            cached = (data, list(ctx.errors), list(ctx.notes))
            if cacheable:
                _VIEWS.put(key, cached)
        data, errors, notes = cached
        base["errors"], base["notes"] = errors, notes
        template = data.get("template", f"{page.key}.html")
        return render(request, template, {**base, **data}, locale=ctx.locale)

    handler.__name__ = f"page_{page.key}"
    return handler


for _page in PAGES:
    web_endpoint(_page.path, _page.role)(_page_handler(_page))


# -- log-in ----------------------------------------------------------------------------------------
@endpoint(router, "GET", "/login", role=PUBLIC, include_in_schema=False)
async def login_form(request: Request) -> Response:
    locale = parse_locale(request.query_params.get("lang"))
    return render(request, "login.html", {"locale": locale, "csrf": session.csrf_token(request),
                                          "next": session.safe_next(request.query_params.get("next")),
                                          "error": None}, locale=locale)


async def login_submit(request: Request) -> Response:
    """POST /login: check the CSRF field and the token, then set the session cookie."""
    fields = await session.form_fields(request)
    locale = parse_locale(fields.get("lang"))
    _ = gettext_for(locale)
    if not session.csrf_ok(request, fields):
        return _csrf_refused(request, locale)
    state = request.app.state.percorso
    principal, why = state.tokens.verify(fields.get("token", "").strip())
    if principal is None:
        return render(request, "login.html", {
            "locale": locale, "csrf": session.csrf_token(request), "next": session.safe_next(fields.get("next")),
            "error": _("This token is %(why)s. Ask an administrator for one (percorso token create).")
                     % {"why": _(why)}}, status=401, locale=locale)
    response = RedirectResponse(session.safe_next(fields.get("next")), status_code=303)
    session.start_session(request, response, fields["token"].strip())
    return response


async def logout(request: Request) -> Response:
    """POST /logout (with the CSRF field): forget the session cookie."""
    fields = await session.form_fields(request)
    locale = parse_locale(fields.get("lang"))
    if not session.csrf_ok(request, fields):
        return _csrf_refused(request, locale)
    response = RedirectResponse("/login", status_code=303)
    session.end_session(request, response)
    return response


def _csrf_refused(request: Request, locale: str) -> Response:
    return render(request, "forbidden.html", {"locale": locale, "csrf": session.csrf_token(request), "needed": "",
                                              "role": "", "csrf_failed": True}, status=403, locale=locale)


# -- the customers behind a number, exports --------------------------------------------------------
def _wire_args(request: Request) -> tuple[Any, dict[str, Any]]:
    from percorso.analysis.wire import query_from_wire

    params = request.query_params
    try:
        body = json.loads(params.get("q") or "{}")
        selector = json.loads(params.get("sel") or "{}")
    except json.JSONDecodeError as exc:
        raise InputError(f"the link is damaged (q/sel are not JSON: {exc.msg}); open it again from the page") from None
    if not isinstance(body, dict) or not isinstance(selector, dict):
        raise InputError("the link is damaged (q and sel must be objects); open it again from the page")
    return query_from_wire(params.get("kind", ""), body), selector


def _readable_errors(fn: Any) -> Any:
    """A browser gets a page saying what went wrong (a damaged link, an unknown selector value);
    other clients the API's problem+json, as everywhere."""
    import functools

    @functools.wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except PercorsoError as exc:
            if not _wants_html(request):
                raise
            from percorso.server.security import status_of

            ctx = PageContext(request, BY_KEY["panoramica"], request.state.principal,
                              parse_locale(request.query_params.get("lang")), dict(request.query_params))
            ctx.errors.append(exc.message)
            return render(request, "problem.html", {**await base_context(ctx), "page": None},
                          status=status_of(exc), locale=ctx.locale)

    return wrapper


@web_endpoint("/clienti", Role.analyst)
@_readable_errors
async def customers_behind(request: Request) -> Response:
    """The customers behind one number of a page (the REST drill-down, ``Runner.drill_by`` selectors)."""
    from percorso.analysis.wire import frame_from_wire
    from percorso.server.routes.analyses import MAX_PAGE, _drill

    state = request.app.state.percorso
    locale = parse_locale(request.query_params.get("lang"), state.project.settings.project.locale)
    query, selector = _wire_args(request)
    fmt = request.query_params.get("format")
    offset = max(0, int(request.query_params.get("offset", "0") or 0)) if not fmt else 0
    limit = EXPORT_MAX if fmt else 100
    pages = []
    while True:  # an export walks every page of the REST drill-down
        size = min(limit - sum(len(p["customers"]["rows"]) for p in pages), MAX_PAGE)
        out = await state.db(_drill, state, query.kind, query.model_dump(mode="json"), selector, size,
                             offset + sum(len(p["customers"]["rows"]) for p in pages))
        pages.append(out)
        if not fmt or out["next_offset"] is None or sum(len(p["customers"]["rows"]) for p in pages) >= limit:
            break
    rows = [r for p in pages for r in p["customers"]["rows"]]
    frame = frame_from_wire({**pages[0]["customers"], "rows": rows})
    await state.audit(request, "drill_down" if not fmt else "export",
                      query={"kind": query.kind, "query": query.model_dump(mode="json"), "selector": selector},
                      rows=len(frame))
    if fmt:
        return _file(frame, f"{query.kind}-customers", fmt, locale)
    from percorso.web.tables import table_view

    ctx = PageContext(request, BY_KEY["panoramica"], request.state.principal, locale, dict(request.query_params))
    base = await base_context(ctx)
    return render(request, "customers.html", {
        **base, "page": None, "query": query, "selector": selector,
        "customers_table": table_view(frame, locale, customer_link=True),
        "next_url": ctx.url(offset=offset + 100) if out["next_offset"] is not None else None,
        "prev_url": ctx.url(offset=max(0, offset - 100)) if offset else None, "offset": offset,
        "csv_url": ctx.url(format="csv", offset=None), "xlsx_url": ctx.url(format="xlsx", offset=None)},
        locale=locale)


@web_endpoint("/esporta", Role.viewer)
@_readable_errors
async def export_table(request: Request) -> Response:
    """One table of a page's result as a file: CSV (Italian Excel in Italian) or XLSX."""
    from percorso.analysis.wire import frame_from_wire
    from percorso.server.routes.analyses import answer

    state = request.app.state.percorso
    locale = parse_locale(request.query_params.get("lang"), state.project.settings.project.locale)
    query, _selector = _wire_args(request)
    out = await answer(state, query)
    payload = out.payload_for(request.state.principal.role < Role.analyst)
    name = request.query_params.get("table", "frame")
    if name == "frame":
        wire = payload["frame"]
    else:
        value = payload["fields"].get(name)
        if not (isinstance(value, dict) and "__frame__" in value):
            tables = ["frame", *[k for k, v in payload["fields"].items() if isinstance(v, dict) and "__frame__" in v]]
            raise InputError(f"no table '{name}' in the {query.kind} result; valid: {', '.join(tables)}")
        wire = value["__frame__"]
    await state.audit(request, "export", query={"kind": query.kind, "table": name}, rows=len(wire["rows"]))
    return _file(frame_from_wire(wire), f"{query.kind}-{name}", request.query_params.get("format", "csv"), locale)


def _file(frame: Any, stem: str, fmt: str, locale: str) -> Response:
    from percorso.export.files import frame_to_csv_text
    from percorso.export.xlsx import write_xlsx

    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
    if fmt == "csv":
        profile = "it" if locale == "it" else "standard"
        text = frame_to_csv_text(frame, profile)
        data = ("\ufeff" + text if profile == "it" else text).encode("utf-8")
        return Response(data, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    if fmt == "xlsx":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{stem}.xlsx"
            write_xlsx(frame, path, locale=locale)
            data = path.read_bytes()
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})
    raise InputError(f"unknown export format '{fmt}'; valid: csv, xlsx")


# -- assets ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _plotly() -> tuple[bytes, bytes]:
    import plotly

    raw = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, 6)


@endpoint(router, "GET", "/static/web/vendor/plotly.min.js", role=PUBLIC, include_in_schema=False)
async def plotly_js(request: Request) -> Response:
    """plotly.min.js from the installed ``plotly`` package (no CDN), gzipped once per process."""
    raw, packed = _plotly()
    headers = {"Cache-Control": "public, max-age=86400"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip",
                                                                      "Vary": "Accept-Encoding"})
    return Response(raw, media_type="text/javascript", headers={**headers, "Vary": "Accept-Encoding"})


def install(app: FastAPI) -> None:
    """Add the dashboard to the server app (``percorso.server.app.create_app`` calls this)."""

    @app.exception_handler(BrowserRedirect)
    async def browser_redirect(request: Request, exc: BrowserRedirect) -> Response:  # type: ignore[no-untyped-def]
        return exc.response

    app.include_router(router)
    from percorso.web import actions  # the forms that change something (segments, tokens)

    app.include_router(actions.router)
    # public by nature: the log-in form's POST and log-out check their CSRF field themselves
    app.router.routes.append(Route("/login", login_submit, methods=["POST"]))
    app.router.routes.append(Route("/logout", logout, methods=["POST"]))
    app.mount("/static/web", StaticFiles(directory=STATIC), name="web-static")
    from percorso.web.warmup import warm_up

    warm_up()  # once per process: templates, views, Plotly's trace types (ADR 0038)
