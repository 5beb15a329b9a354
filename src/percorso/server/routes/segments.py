"""Segments and table exports over HTTP (``/v1/segments``, ``/v1/exports``).

Exports leave the database as files in the formats users open (Italian Excel CSV, standard
CSV, XLSX, Parquet); each is audited. Raw contact data (the ``customers`` profile, the
quarantine's raw text, a segment export ``with_contacts``) needs the ``crm`` role.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from percorso.errors import InputError
from percorso.server.security import ApiError, endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1", tags=["segments and exports"])

#: ``format`` → (file extension, CSV profile).
FORMATS = {"csv_it": (".csv", "it"), "csv": (".csv", "standard"), "xlsx": (".xlsx", None),
           "parquet": (".parquet", None)}
#: Tables holding raw contact data: exported to ``crm`` and ``admin`` only.
CONTACT_TABLES = {"customers", "quarantine"}
_MEDIA = {".csv": "text/csv; charset=utf-8", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          ".parquet": "application/vnd.apache.parquet"}


def _format(fmt: str) -> tuple[str, str | None]:
    if fmt not in FORMATS:
        from percorso.errors import suggest

        raise InputError(f"unknown format '{fmt}'; {suggest(fmt, FORMATS)}")
    return FORMATS[fmt]


def _file_response(path: Path, download_name: str) -> FileResponse:
    return FileResponse(path, filename=download_name, media_type=_MEDIA[path.suffix],
                        background=BackgroundTask(lambda: path.unlink(missing_ok=True)))


def _temp(suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="percorso-export-", suffix=suffix)
    import os

    os.close(fd)
    Path(name).unlink()
    return Path(name)


@endpoint(router, "GET", "/segments", role=Role.viewer, summary="Segments / Segmenti")
async def segments(request: Request) -> dict[str, Any]:
    """Every saved segment with its last size. / Ogni segmento salvato con la sua ultima dimensione."""
    from percorso.analysis.wire import frame_to_wire
    from percorso.value.segments.store import list_segments

    state = request.app.state.percorso
    return {"segments": frame_to_wire(await state.db(list_segments, state.engine))}


@endpoint(router, "POST", "/segments", role=Role.analyst, status_code=201,
          summary="Create a segment / Crea un segmento")
async def create_segment(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """``{"name": "cart_abandoners", "rule": {...}, "description": ""}`` (the rule language of
    ``percorso segment create``); replaces a same-named segment and returns its size."""
    from percorso.value.segments.store import save_segment

    state = request.app.state.percorso
    unknown = set(body) - {"name", "rule", "description"}
    if unknown or "name" not in body or "rule" not in body:
        raise InputError(f"a segment needs name and rule (and may have description); got {sorted(body)}")
    size = await state.db(lambda: save_segment(state.engine, body["name"], body["rule"], state.project.settings,
                                               description=body.get("description", "")))
    state.changed()
    await state.audit(request, "segment_create", query={"name": body["name"]}, status=201, rows=size)
    return {"name": body["name"], "size": size, "href": f"/v1/segments/{body['name']}"}


@endpoint(router, "GET", "/segments/{name}", role=Role.viewer, summary="One segment / Un segmento")
async def segment(request: Request, name: str) -> dict[str, Any]:
    """Its rule and size over time (the ``segment`` analysis)."""
    from percorso.analysis import run
    from percorso.analysis.wire import frame_to_wire
    from percorso.value.segments.analysis import SegmentQuery

    state = request.app.state.percorso
    result = await state.db(run, state.engine, SegmentQuery(name=name), state.project.settings)
    return {"name": name, "definition": result.meta.get("definition"), "history": frame_to_wire(result.frame)}


@endpoint(router, "GET", "/segments/{name}/members", role=Role.analyst,
          summary="Segment members / Membri del segmento")
async def segment_members(request: Request, name: str, limit: int = Query(100, ge=1, le=10_000),
                          offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """A page of the segment's current members (customer ids, no contact data)."""
    from percorso.analysis import run
    from percorso.analysis.wire import frame_to_wire
    from percorso.value.segments.analysis import SegmentQuery

    state = request.app.state.percorso

    def page() -> Any:
        return run(state.engine, SegmentQuery(name=name), state.project.settings).customers(limit=limit, offset=offset)

    frame = await state.db(page)
    await state.audit(request, "segment_members", query={"name": name, "offset": offset}, rows=len(frame))
    return {"name": name, "members": frame_to_wire(frame), "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(frame) == limit else None}


@endpoint(router, "GET", "/segments/{name}/changes", role=Role.analyst,
          summary="Segment entries and exits / Entrate e uscite dal segmento")
async def segment_changes(request: Request, name: str, since: str | None = Query(None),
                          limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
    """Entries and exits as events with their time (UTC), oldest first; ``since`` (ISO 8601, UTC) for polling."""
    from datetime import UTC, datetime

    from percorso.analysis.wire import frame_to_wire
    from percorso.value.segments.store import segment_changes as changes

    try:
        after = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
    except ValueError:
        raise InputError(f"since '{since}' is not a time; valid: ISO 8601 such as 2026-12-04T10:00:00Z") from None
    if after is not None and after.tzinfo is not None:
        after = after.astimezone(UTC).replace(tzinfo=None)
    state = request.app.state.percorso

    def read() -> Any:
        return state.engine.execute(changes(state.engine, name, after).limit(limit))

    frame = await state.db(read)
    await state.audit(request, "segment_changes", query={"name": name, "since": since}, rows=len(frame))
    return {"name": name, "changes": frame_to_wire(frame), "since": since}


@endpoint(router, "GET", "/segments/{name}/export", role=Role.analyst,
          summary="Export a segment / Esporta un segmento")
async def segment_export(request: Request, name: str, format: str = Query("csv_it"),  # noqa: A002
                         with_contacts: bool = Query(False), purpose: str | None = Query(None)) -> FileResponse:
    """The members as a file (``csv_it``, ``csv``, ``xlsx``, ``parquet``); ``with_contacts`` adds
    name, e-mail, phone and marketing consent, for ``crm`` and ``admin`` tokens only (each contact
    only under consent now); ``purpose`` exports only the members allowed for it now."""
    from percorso.export.files import write_frame
    from percorso.value.segments.export import Requester, export_segment

    state = request.app.state.percorso
    suffix, profile = _format(format)
    principal = request.state.principal
    requester = Requester(name=principal.name, role=principal.role.name)
    if with_contacts and principal.role < Role.crm:
        raise ApiError(403, "access_denied", f"role '{principal.role.name}' may not export contact fields; "
                       "ask without with_contacts or use a crm token")
    path = _temp(suffix)

    def write() -> int:
        out = export_segment(state.engine, name, state.project.settings, with_contacts=with_contacts,
                             requester=requester, purpose=purpose)
        write_frame(out.frame, path, locale=state.project.settings.project.locale, csv_profile=profile)
        return len(out.frame)

    rows = await state.db(write)
    await state.audit(request, "segment_export", query={"name": name, "format": format,
                                                        "with_contacts": with_contacts, "purpose": purpose},
                      rows=rows)
    return _file_response(path, f"{name}{suffix}")


@endpoint(router, "GET", "/exports/{table}", role=Role.analyst, summary="Export a table / Esporta una tabella")
async def export(request: Request, table: str, format: str = Query("csv_it")) -> FileResponse:  # noqa: A002
    """A stored table as a file (``csv_it`` for Italian Excel, ``csv``, ``xlsx``, ``parquet``).
    / Una tabella come file."""
    from percorso.export.tables import export_table

    state = request.app.state.percorso
    suffix, profile = _format(format)
    if table in CONTACT_TABLES and request.state.principal.role < Role.crm:
        raise ApiError(403, "access_denied", f"'{table}' holds raw contact data: a crm or admin token is needed")
    path = _temp(suffix)
    rows = await state.db(lambda: export_table(state.engine, table, path, csv_profile=profile or "it"))
    await state.audit(request, "export", query={"table": table, "format": format}, rows=rows)
    return _file_response(path, f"{table}{suffix}")
