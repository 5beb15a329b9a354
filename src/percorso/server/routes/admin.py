"""Tokens, the audit log and backups (``admin`` only), and the quarantine (by role)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Body, Query, Request

from percorso.server.security import endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1", tags=["admin"])


@endpoint(router, "GET", "/tokens", role=Role.admin, summary="List tokens / Elenco token")
async def tokens(request: Request) -> dict[str, Any]:
    """Every token with its role and state (never the token or its hash)."""
    from percorso.server.tokens import list_tokens

    state = request.app.state.percorso
    return {"tokens": await state.db(list_tokens, state.engine)}


@endpoint(router, "POST", "/tokens", role=Role.admin, status_code=201, summary="Create a token / Crea un token")
async def create(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """``{"name": ..., "role": "viewer|analyst|crm|admin", "expires": "90d"}``; the token is in the
    answer once and never again. / Il token compare solo in questa risposta."""
    from percorso.server.tokens import create_token

    state = request.app.state.percorso
    token, row = await state.db(create_token, state.engine, body.get("name", ""), body.get("role", ""),
                                body.get("expires"))
    await state.db(state.tokens.load, state.engine)
    await state.audit(request, "token_create", query={"name": row["name"], "role": row["role"]}, status=201)
    return {"token": token, **row}


@endpoint(router, "DELETE", "/tokens/{token}", role=Role.admin, summary="Revoke a token / Revoca un token")
async def revoke(request: Request, token: str) -> dict[str, Any]:
    """Revoke by token id or name. / Revoca per id o nome."""
    from percorso.server.tokens import revoke_token

    state = request.app.state.percorso
    n = await state.db(revoke_token, state.engine, token)
    await state.db(state.tokens.load, state.engine)
    await state.audit(request, "token_revoke", query={"token": token}, rows=n)
    return {"revoked": n}


@endpoint(router, "GET", "/audit", role=Role.admin, summary="Audit log / Registro di audit")
async def audit_log(request: Request, since: date | None = None, who: str | None = None,
                    limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
    """Who read individual-level data, wrote or exported, and when. / Chi ha letto dati individuali,
    scritto o esportato, e quando."""
    from percorso.server import audit

    state = request.app.state.percorso
    await state.audit_flushed()  # every row of a request answered before this one is in the table
    rows = await state.db(audit.read, state.engine, since, who, limit)
    return {"audit": rows}


@endpoint(router, "GET", "/quarantine", role=Role.viewer, summary="Quarantine / Quarantena")
async def quarantine(request: Request, source: str | None = None, reason: str | None = None,
                     limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """Rejected rows by reason; ``viewer`` gets counts only, ``analyst`` the rows without their raw
    text, ``crm`` and ``admin`` the raw text too (it may hold contact data)."""
    from percorso.analysis.wire import frame_to_wire
    from percorso.server.quarantine import quarantine_counts, quarantine_rows

    state = request.app.state.percorso
    role = request.state.principal.role
    counts = await state.db(quarantine_counts, state.engine)
    out: dict[str, Any] = {"by_reason": frame_to_wire(counts)}
    if role >= Role.analyst:
        rows = await state.db(quarantine_rows, state.engine, source, reason, limit, offset, role >= Role.crm)
        out["rows"] = frame_to_wire(rows)
        await state.audit(request, "quarantine_read", query={"source": source, "reason": reason}, rows=len(rows))
    return out


@endpoint(router, "POST", "/backup", role=Role.admin, summary="Backup / Copia di sicurezza")
async def backup(request: Request, body: dict[str, Any] | None = Body(default=None)) -> dict[str, Any]:
    """A consistent snapshot of the database while serving; ``{"out": "/abs/path.duckdb"}`` or the
    project's ``backups/`` folder. / Copia coerente del database mentre il servizio è attivo."""
    from percorso.backup import backup as take

    state = request.app.state.percorso
    out = (body or {}).get("out")
    await state.audit_flushed()  # the backup holds the audit rows of every request before it
    path = await state.db(take, state.project, out)
    await state.audit(request, "backup", query={"out": str(path)})
    return {"backup": str(path)}


@endpoint(router, "POST", "/restore", role=Role.admin, summary="Restore / Ripristino")
async def restore(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """``{"file": "/abs/path.duckdb"}``: replace the database with a backup (the current file is kept
    beside it). / Sostituisce il database con una copia (il file attuale resta accanto)."""
    from pathlib import Path

    from percorso.errors import InputError

    state = request.app.state.percorso
    file = (body or {}).get("file")
    if not isinstance(file, str) or not Path(file).is_absolute():
        raise InputError("file must be the absolute path of a backup on the server's disk")
    kept = await state.db(state.restore, Path(file))
    await state.audit(request, "restore", query={"file": file})
    return {"restored_from": file, "previous_database": str(kept)}
