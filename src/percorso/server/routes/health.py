"""``/healthz`` (the process answers) and ``/readyz`` (database open, migrations applied)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from percorso.server.security import PUBLIC, endpoint

router = APIRouter(tags=["health"])


@endpoint(router, "GET", "/healthz", role=PUBLIC, summary="Alive / Processo attivo")
async def healthz() -> dict[str, str]:
    """The process is up (no database access). / Il processo risponde."""
    return {"status": "ok"}


@endpoint(router, "GET", "/readyz", role=PUBLIC, summary="Ready / Pronto")
async def readyz(request: Request) -> JSONResponse:
    """Database open and every migration applied. / Database aperto e migrazioni applicate."""
    from percorso.engine.migrations import SCHEMA_VERSION, applied_version

    state = request.app.state.percorso
    version = await state.db(applied_version, state.engine)
    ready = version == SCHEMA_VERSION and not state.stopping.is_set()
    body = {"status": "ready" if ready else "not_ready", "schema_version": version,
            "expected_schema_version": SCHEMA_VERSION, "data_version": state.data_version}
    return JSONResponse(body, status_code=200 if ready else 503)
