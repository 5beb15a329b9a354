"""The FastAPI application: routers, error documents, interactive docs, start and stop.

Why the docs are served from an installed package: the service must work offline and
behind a firewall; Swagger UI's files come from ``swagger-ui-bundle-v2`` on disk, never a
CDN. OpenAPI 3.1 is generated from the same query classes the Python API uses.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from percorso import __version__
from percorso.errors import PercorsoError
from percorso.server.security import (
    PUBLIC, ApiError, RateLimiter, check_every_route_declares_a_role, endpoint, problem, status_of,
)

log = logging.getLogger("percorso.server")

DESCRIPTION = """percorso's REST API: every analysis, the customer view, identity, quarantine,
imports and builds as jobs, exports, tokens and the audit log.

L'API REST di percorso: ogni analisi, la vista cliente, le identità, la quarantena, importazioni
e build come job, esportazioni, token e registro di audit.

Authenticate with `Authorization: Bearer <token>` (`percorso token create --role ROLE --name NAME`).
Errors are `application/problem+json` with a stable `code`."""


def _startup(state: Any) -> None:
    from percorso.engine import server_sql as S
    from percorso.server.tokens import utcnow

    engine = state.engine  # opens the file and applies migrations
    S.ensure_service_tables(engine)
    state.audit_log.replay(engine)  # rows answered, not committed, before a kill (ADR 0049)
    state.audit_log.connect(engine)  # the audit log's own connection
    failed = S.fail_interrupted_jobs(engine, utcnow())
    if failed:
        log.warning("%d job(s) interrupted by the last stop were marked failed", failed)
    state.tokens.load(engine)


def _announce(state: Any, url: str, collector_url: str | None = None) -> str:
    """Create this run's local admin token (revoking older ones), write the run file; the token."""
    from percorso.engine import server_sql as S
    from percorso.server import runfile
    from percorso.server.tokens import create_token, utcnow

    for row in S.list_tokens(state.engine).to_pylist():
        if row["name"] == runfile.LOCAL_TOKEN_NAME and row["revoked_at"] is None:
            S.revoke_token(state.engine, row["token_id"], utcnow())
    token, _ = create_token(state.engine, runfile.LOCAL_TOKEN_NAME, "admin")
    state.tokens.load(state.engine)
    info = {"url": url, "pid": os.getpid(), "token": token, "started_at": utcnow().isoformat()}
    if collector_url:
        info["collector_url"] = collector_url  # the intake workers' port (ADR 0030)
    runfile.write(state.root, info)
    return token


def serve(root: str | Path, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "warning",
          login_link: bool = False) -> None:
    """Run the server in this process until SIGTERM / SIGINT (``percorso serve``).

    The socket is bound before the app starts, so the run file written at start names an
    address that already accepts connections (``--port 0`` picks a free port). With
    ``login_link`` a one-time link that opens the dashboard logged in as admin is printed once
    the server accepts connections (:mod:`percorso.server.login_link`).
    """
    import socket

    import uvicorn

    from percorso.config import CONFIG_FILE, load_settings

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _listen(family, host, port, "choose another --port")
    bound = sock.getsockname()[1]
    collector = load_settings(Path(root) / CONFIG_FILE).collector
    app = create_app(root)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    app.state.announce = f"http://{shown}:{bound}"
    app.state.login_link = login_link
    app.state.freeze_heap = True  # percorso.web.warmup.freeze_heap once started (ADR 0043)
    if collector.workers:  # the tracking API's own port, served by intake worker processes (ADR 0030)
        want = collector.port if collector.port is not None else (bound + 1 if port else 0)
        csock = _listen(family, host, want, "set [collector] port in percorso.toml (0: any free port)")
        app.state.collector_socket = csock
        app.state.collector_announce = f"http://{shown}:{csock.getsockname()[1]}"
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=600, access_log=False)
    server = uvicorn.Server(config)
    log.warning("percorso serve: %s on %s (Ctrl-C stops)", Path(root).resolve(), app.state.announce)
    if collector.workers:
        log.warning("percorso collector: the tracking API on %s (%d intake processes)",
                    app.state.collector_announce, collector.workers)
    server.run(sockets=[sock])


def _listen(family: int, host: str, port: int, hint: str) -> Any:
    """A listening TCP socket on ``host:port``, or a one-line error naming the port."""
    import socket

    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP; with proto 0 every keep-alive answer waited ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        from percorso.errors import InputError

        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}; {hint}") from None
    sock.listen(2048)
    return sock


async def _activation_beats(state: Any, every: float = 5.0) -> None:
    """The activation scheduler: every few seconds, when some journey is enabled, enrol, move
    and send what is due (percorso.activation.service.tick). Its state is in the database, so a
    restart picks up where the last beat stopped; a failing beat is logged, never fatal."""
    import asyncio

    from percorso.activation.service import tick
    from percorso.activation.store import load_journeys

    log = logging.getLogger("percorso.activation")
    while True:
        await asyncio.sleep(every)
        try:
            if any(j.enabled for j in load_journeys(state.root)):
                await state.db(lambda: tick(state.project, wait=False))  # the collector's hook may be ticking
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a beat must not stop the server; the next one retries
            log.warning("activation beat failed: %s", exc)


async def _retention_beats(state: Any, every: float = 600.0) -> None:
    """The retention schedule (issue 19): every few minutes, when ``[privacy] retention_every_hours``
    have passed since the last run (``privacy_log``), apply the retention rules; a failure is
    logged, never fatal, and the next beat retries."""
    import asyncio

    from percorso.privacy.retention import scheduled_retention

    log = logging.getLogger("percorso.privacy")
    while True:
        await asyncio.sleep(every)
        try:
            report = await state.db(_retention_run, state, scheduled_retention)
            if report is not None and report.total:
                state.changed()
                log.warning("retention: %d rows expired and removed", report.total)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a beat must not stop the server; the next one retries
            log.warning("retention beat failed: %s", exc)


def _retention_run(state: Any, run: Any) -> Any:
    with state.rewriting():  # a run that removed rows rewrites the file (ADR 0049)
        return run(state.project)


def create_app(root: str | Path, *, rate_limit_per_minute: int = 6000) -> FastAPI:
    """The app serving the project at ``root`` (opened when the app starts, closed when it stops)."""
    from percorso.server.state import ServerState

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        state = ServerState(Path(root))
        app.state.percorso = state
        await state.db(_startup, state)
        jobs = app.state.jobs = state.jobs = await state.db(_jobs, state)
        collector = state.collector = await state.db(_collector, state)
        # replays what a stopped or killed server left in the spool; starts the intake workers
        collector.start(getattr(app.state, "collector_socket", None))
        announce = state.announce_url = getattr(app.state, "announce", None)
        if announce:
            token = await state.db(_announce, state, announce, getattr(app.state, "collector_announce", None))
            if getattr(app.state, "login_link", False):
                _print_login_link(announce, state.login_links.issue(token))
        from percorso.backup import register_restore_hook

        register_restore_hook(state.project.database_path, state.restore)
        import asyncio

        beats = asyncio.create_task(_activation_beats(state))
        retention = asyncio.create_task(_retention_beats(state))
        if getattr(app.state, "freeze_heap", False):  # a serving process: start-up's objects leave the GC's walks
            from percorso.web.warmup import freeze_heap

            freeze_heap()
        try:
            yield
        finally:
            beats.cancel()
            retention.cancel()
            register_restore_hook(state.project.database_path, None)
            state.collector = None  # new calls get 503; the spool is drained into events
            collector.stop()
            jobs.stop()
            state.close()
            if announce:
                from percorso.server import runfile

                runfile.remove(state.root, os.getpid())

    app = FastAPI(title="percorso", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.rate_limiter = RateLimiter(rate_limit_per_minute)
    _errors(app)
    from percorso.server.routes import (
        activation, admin, analyses, cli, collector, customers, health, jobs, login_link, privacy, segments, value,
    )

    from percorso.web.routes import install as install_dashboard

    # the dashboard first (percorso.web, ADR 0024): no path of it is the API's, and a page is then
    # found before the ~100 API routes are tried (ADR 0043)
    install_dashboard(app)
    for module in (health, analyses, customers, segments, value, jobs, admin, cli, login_link, collector, privacy,
                   activation):
        app.include_router(module.router)
    _docs(app)
    check_every_route_declares_a_role(app.routes)
    return app


def _print_login_link(url: str, code: str) -> None:
    from percorso.server.login_link import PATH, TTL_SECONDS

    print(f"\ndashboard: {url}/\napri / open (accesso come admin, vale una volta per {TTL_SECONDS // 60} minuti / "
          f"logs in as admin, once, for {TTL_SECONDS // 60} minutes):\n  {url}{PATH}{code}\nCtrl-C ferma / stops\n",
          flush=True)


def _jobs(state: Any) -> Any:
    from percorso.server.jobs import JobRunner

    return JobRunner(state)


def _collector(state: Any) -> Any:
    from percorso.collector.service import Collector

    return Collector(state)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(PercorsoError)
    async def percorso_error(request: Request, exc: PercorsoError):  # type: ignore[no-untyped-def]
        headers = exc.headers if isinstance(exc, ApiError) else None
        return problem(status_of(exc), exc.code, exc.message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError):  # type: ignore[no-untyped-def]
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        return problem(422, "input_invalid", f"{'.'.join(first['loc'])}: {first['msg']}", extra={"errors": errors})

    @app.exception_handler(ValidationError)
    async def query_invalid(request: Request, exc: ValidationError):  # type: ignore[no-untyped-def]
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid query"}
        return problem(422, "input_invalid", f"{'.'.join(first['loc']) or 'query'}: {first['msg']}",
                       extra={"errors": errors})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # type: ignore[no-untyped-def]
        route = getattr(request.scope.get("route"), "path", None) or "?"  # the template: no identifier in the log
        log.exception("unexpected error on %s %s", request.method, route)
        return problem(500, "internal_error", f"unexpected {type(exc).__name__}; the server log has the details")


def _docs(app: FastAPI) -> None:
    import swagger_ui_bundle

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
    page = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>percorso API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>"""
    init = "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#ui'});"

    @endpoint(app.router, "GET", "/docs", role=PUBLIC, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @endpoint(app.router, "GET", "/docs/init.js", role=PUBLIC, include_in_schema=False)
    async def docs_init() -> Any:
        from fastapi.responses import Response

        return Response(init, media_type="text/javascript")
