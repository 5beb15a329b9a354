"""Every analysis over HTTP: ``POST /v1/analyses/{kind}`` with the query object as the body.

Why one generic route: the request body *is* the Python API's typed query (validated by the
same pydantic model, unknown fields refused) and the answer is the same result, serialised
by :mod:`percorso.analysis.wire`. A new analysis registers its runner and appears here, in
the OpenAPI document and in the client, with no code in this room.

Answers are cached by (kind, query, data version); ``Cache-Control: no-cache`` recomputes. ``viewer`` tokens get aggregates only:
columns named ``customer_id`` are removed and drill-down is refused.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Request, Response

from percorso.analysis.wire import jsonable, load_analyses, query_from_wire, result_to_wire
from percorso.server.security import endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1/analyses", tags=["analyses"])

#: Largest drill-down page.
MAX_PAGE = 10_000


@endpoint(router, "GET", "", role=Role.viewer, summary="List analyses / Elenco analisi")
async def list_analyses() -> dict[str, Any]:
    """Every analysis kind with the JSON schema of its query. / Tutte le analisi con lo schema della richiesta."""
    kinds = load_analyses()
    return {"analyses": [{"kind": k, "query_schema": q.model_json_schema(), "href": f"/v1/analyses/{k}"}
                         for k, q in kinds.items()]}


def _compute(state: Any, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    from percorso.analysis import run

    query = query_from_wire(kind, body)
    result = run(state.engine, query, state.project.settings)
    return result_to_wire(result)


def _redact_for_viewer(payload: dict[str, Any]) -> dict[str, Any]:
    """Aggregates only: drop customer-id columns from every table of the answer."""

    def strip(table: dict[str, Any]) -> dict[str, Any]:
        keep = [i for i, c in enumerate(table["columns"]) if c != "customer_id"]
        return {"columns": [table["columns"][i] for i in keep], "dtypes": [table["dtypes"][i] for i in keep],
                "rows": [tuple([r[i] for i in keep]) for r in table["rows"]]}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if "__frame__" in value and len(value) == 1:
                return {"__frame__": strip(value["__frame__"])}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out = dict(payload)
    out["frame"] = strip(payload["frame"])
    out["fields"] = walk(payload["fields"])
    out["meta"] = walk(payload["meta"])
    return out


@endpoint(router, "POST", "/{kind}", role=Role.viewer, summary="Run an analysis / Esegui un'analisi")
async def run_analysis(request: Request, kind: str, body: dict[str, Any] | None = Body(default=None)) -> Response:
    """Run the analysis ``kind`` with the query in the body (the same fields as the Python query
    class). / Esegue l'analisi ``kind`` con la richiesta nel corpo (gli stessi campi della classe Python).

    The answer holds ``frame`` (the main table), ``fields`` (other tables and values), ``meta``,
    and ``customers`` (how to list the customers behind a number).
    """
    state = request.app.state.percorso
    query = query_from_wire(kind, body)  # validate before touching the cache or the database
    fresh = "no-cache" in request.headers.get("cache-control", "").lower()  # recompute on request
    out = await answer(state, query, fresh=fresh)
    viewer = request.state.principal.role < Role.analyst
    return Response(out.body(viewer), media_type="application/json")


async def answer(state: Any, query: Any, *, fresh: bool = False) -> _Answer:
    """The answer to a validated query: from the cache, else computed on the database worker.

    Why one function: the REST route and the dashboard pages (:mod:`percorso.web`) show the
    same numbers because they come from the same cached computation.
    """
    kind = query.kind
    canonical = query.model_dump(mode="json")
    key = state.cache.key(kind, canonical, state.data_version)
    out = None if fresh else state.cache.get(key)
    if out is None:
        payload = await state.db(_compute, state, kind, canonical)
        out = _Answer(kind, canonical, payload)
        if writes(kind, canonical):
            state.changed()  # the analysis stored what it computed (a fit, a persona run)
        else:
            state.cache.put(key, out)
    return out


def row_selectors(kind: str, frame: dict[str, Any]) -> list[dict[str, Any] | None]:
    """For each row of the main table, the ``selector`` listing its customers (None: no link).

    The runner names the columns that identify a row (``Runner.drill_by``); a missing value is
    left out (a funnel without breakdown), and a row with nothing left has no link.
    """
    from percorso.analysis.base import runner_for

    cols = [c for c in runner_for(kind).drill_by if c in frame["columns"]]
    at = [frame["columns"].index(c) for c in cols]
    out: list[dict[str, Any] | None] = []
    for row in frame["rows"]:
        sel = {c: row[i] for c, i in zip(cols, at) if row[i] is not None}
        out.append(sel or None)
    return out


#: Analyses that store what they compute (their answers are never cached).
WRITING_KINDS = {"clv", "personas"}


def writes(kind: str, query: dict[str, Any]) -> bool:
    """Whether this query stores what it computes. Personas described from the stored
    assignment (``stored``) or not kept (``persist=False``) write nothing: their answers are
    cached like any other, and reading them must not invalidate every cached answer."""
    if kind == "personas":
        return bool(query.get("persist", True)) and not query.get("stored", False)
    return kind in WRITING_KINDS


class _Answer:
    """A computed answer, serialised once per audience (cached answers cost a dictionary lookup)."""

    def __init__(self, kind: str, query: dict[str, Any], payload: dict[str, Any]) -> None:
        self.kind, self.query, self.payload = kind, query, payload
        self._bodies: dict[bool, bytes] = {}
        self._results: dict[str, Any] = {}

    def body(self, viewer: bool) -> bytes:
        if viewer not in self._bodies:
            if viewer:
                out = self.payload_for(viewer)
            else:
                out = {**self.payload, "customers": {
                    "href": f"/v1/analyses/{self.kind}/customers", "method": "POST",
                    "body": {"query": self.query, "selector": {}, "limit": 100, "offset": 0},
                    "rows": row_selectors(self.kind, self.payload["frame"])}}
            self._bodies[viewer] = json.dumps(out, ensure_ascii=False, allow_nan=False).encode("utf-8")
        return self._bodies[viewer]

    def payload_for(self, viewer: bool) -> dict[str, Any]:
        """The wire payload this audience may see (a viewer: no customer-id column anywhere)."""
        if not viewer:
            return self.payload
        if "viewer" not in self._results:
            self._results["viewer"] = _redact_for_viewer(self.payload)
        return self._results["viewer"]

    def result(self, viewer: bool) -> Any:
        """The typed result rebuilt from :meth:`payload_for` (what a page draws), built once."""
        from percorso.analysis.wire import result_from_wire

        key = f"result:{viewer}"
        if key not in self._results:
            self._results[key] = result_from_wire(self.payload_for(viewer))
        return self._results[key]


def _drill(state: Any, kind: str, query: dict[str, Any], selector: dict[str, Any], limit: int,
           offset: int) -> dict[str, Any]:
    from percorso.analysis import run
    from percorso.analysis.wire import frame_to_wire

    result = run(state.engine, query_from_wire(kind, query), state.project.settings)
    page = result.customers(limit=limit, offset=offset, **selector)
    return {"kind": kind, "selector": jsonable(selector), "limit": limit, "offset": offset,
            "customers": frame_to_wire(page),
            "next_offset": offset + limit if len(page) == limit else None}


@endpoint(router, "POST", "/{kind}/customers", role=Role.analyst,
          summary="Customers behind a number / Clienti dietro un numero")
async def drill_down(request: Request, kind: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """A page of the customers behind one cell: ``{"query": {...}, "selector": {...}, "limit": 100,
    "offset": 0}``. / Una pagina dei clienti dietro una cella."""
    from percorso.errors import InputError

    state = request.app.state.percorso
    unknown = set(body) - {"query", "selector", "limit", "offset"}
    if unknown:
        raise InputError(f"unknown fields {sorted(unknown)}; valid: query, selector, limit, offset")
    limit, offset = int(body.get("limit", 100)), int(body.get("offset", 0))
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InputError(f"limit must be 1..{MAX_PAGE} and offset ≥ 0")
    selector = body.get("selector") or {}
    if not isinstance(selector, dict):
        raise InputError("selector must be an object, e.g. {\"channel\": \"Email\"}")
    out = await state.db(_drill, state, kind, body.get("query") or {}, selector, limit, offset)
    await state.audit(request, "drill_down", query={"kind": kind, "query": body.get("query"), "selector": selector},
                      rows=len(out["customers"]["rows"]))
    return out
