"""Imports (file upload) and builds as background jobs: ``/v1/jobs``."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Body, Query, Request

from percorso.errors import InputError, NotFound
from percorso.server.security import endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@endpoint(router, "POST", "/ingest", role=Role.admin, status_code=202,
          summary="Upload a file to import / Carica un file da importare")
async def ingest(request: Request, source: str = Query(..., description="a source of percorso.toml"),
                 filename: str = Query(..., description="the file's name; its extension decides the format")) -> dict[str, Any]:
    """The body is the file's bytes (``curl --data-binary @orders.csv``); the import runs as a job.
    / Il corpo è il file; l'importazione gira come job."""
    state = request.app.state.percorso
    state.project.settings.source(source)  # unknown source: a 400 naming the valid ones, before the upload
    name = _SAFE.sub("_", filename.rsplit("/", 1)[-1]).strip("._") or "upload"
    folder = state.root / "uploads"
    folder.mkdir(exist_ok=True)
    path = folder / f"{uuid.uuid4().hex[:8]}-{name}"
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            out.write(chunk)
    if size == 0:
        path.unlink()
        raise InputError("the upload is empty: send the file's bytes as the request body")
    job_id = await state.db(request.app.state.jobs.submit, "ingest", {"source": source, "paths": [str(path)]},
                            request.state.principal)
    await state.audit(request, "ingest", query={"source": source, "file": name, "bytes": size}, status=202)
    return {"job_id": job_id, "href": f"/v1/jobs/{job_id}"}


@endpoint(router, "POST", "/build", role=Role.admin, status_code=202, summary="Build / Costruisci")
async def build(request: Request, body: dict[str, Any] | None = Body(default=None)) -> dict[str, Any]:
    """``{"full": false, "refresh": true}``: resolve identities and rebuild, as a job."""
    state = request.app.state.percorso
    body = body or {}
    unknown = set(body) - {"full", "refresh"}
    if unknown:
        raise InputError(f"unknown fields {sorted(unknown)}; valid: full, refresh")
    params = {"full": bool(body.get("full", False)), "refresh": bool(body.get("refresh", True))}
    job_id = await state.db(request.app.state.jobs.submit, "build", params, request.state.principal)
    await state.audit(request, "build", query=params, status=202)
    return {"job_id": job_id, "href": f"/v1/jobs/{job_id}"}


@endpoint(router, "GET", "", role=Role.admin, summary="Jobs / Job")
async def jobs(request: Request) -> dict[str, Any]:
    """Every job, newest first, with live progress."""
    state = request.app.state.percorso
    return {"jobs": await state.db(request.app.state.jobs.status)}


@endpoint(router, "GET", "/{job_id}", role=Role.admin, summary="One job / Un job")
async def job(request: Request, job_id: str) -> dict[str, Any]:
    """Status (queued, running, done, failed), progress, result or error."""
    state = request.app.state.percorso
    rows = await state.db(request.app.state.jobs.status, job_id)
    if not rows:
        raise NotFound(f"no job '{job_id}' (see GET /v1/jobs)")
    return rows[0]
