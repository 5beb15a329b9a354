"""CLV predictions and fitted models over HTTP (the fit and the holdout check are analyses:
``POST /v1/analyses/clv`` and ``/v1/analyses/clv_holdout``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from percorso.server.security import endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1/clv", tags=["value"])


@endpoint(router, "GET", "/models", role=Role.viewer, summary="CLV models / Modelli CLV")
async def models(request: Request, all_fits: bool = Query(False, alias="all")) -> dict[str, Any]:
    """Estimates, standard errors and 95 % intervals of the last fit (``all=true``: every fit).
    / Stime, errori standard e intervalli dell'ultimo fit."""
    from percorso.analysis.wire import frame_to_wire
    from percorso.value.clv.pipeline import models_frame

    state = request.app.state.percorso
    return {"models": frame_to_wire(await state.db(lambda: models_frame(state.engine, all_fits=all_fits)))}


@endpoint(router, "GET", "/predictions", role=Role.analyst, summary="CLV per customer / CLV per cliente")
async def predictions(request: Request, decile: int | None = Query(None, ge=1, le=10),
                      limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """A page of customers with their predicted purchases, P(alive) and CLV, highest first.
    / Una pagina di clienti con acquisti previsti, P(vivo) e CLV."""
    from percorso.analysis.wire import frame_to_wire, jsonable
    from percorso.value.clv.analysis import predictions_page

    state = request.app.state.percorso
    frame, about = await state.db(lambda: predictions_page(state.engine, state.project.settings, decile=decile, limit=limit, offset=offset))
    await state.audit(request, "clv_predictions", query={"decile": decile, "offset": offset}, rows=len(frame))
    return {"predictions": frame_to_wire(frame), **jsonable(about), "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(frame) == limit else None}
