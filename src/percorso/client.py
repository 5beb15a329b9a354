"""The Python client of ``percorso serve``: the same queries and results as a local project.

Why: a notebook should not care whether the data is on this machine or behind a server.
``Client(url, token).run(FunnelQuery(...))`` sends the query object as JSON and returns the
same result class a local ``run`` gives (``.to_frame()``, ``.figure()``, ``.customers()``;
drill-down pages come from the server, which checks the token's role).

Examples
--------
>>> from percorso.client import Client                       # doctest: +SKIP
>>> from percorso.api import FunnelQuery                     # doctest: +SKIP
>>> api = Client("http://127.0.0.1:8000", token)             # doctest: +SKIP
>>> result = api.run(FunnelQuery(steps=["page_view", "purchase"]))  # doctest: +SKIP
>>> result.customers(step=2).head()                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from percorso.analysis.base import AnalysisQuery, AnalysisResult
from percorso.errors import AccessDenied, InputError, NotFound, PercorsoError


def _raise_for_problem(resp: httpx.Response) -> None:
    """Turn an RFC 9457 answer into the percorso error a local call would raise."""
    if resp.status_code < 400:
        return
    try:
        body = resp.json()
    except ValueError:
        body = {"code": "http_error", "detail": resp.text[:300]}
    code, detail = body.get("code", "http_error"), body.get("detail", resp.reason_phrase)
    cls = {404: NotFound, 400: InputError, 422: InputError, 401: AccessDenied, 403: AccessDenied}.get(
        resp.status_code, PercorsoError)
    raise cls(detail, code=code)


class _RemoteRunner:
    """What a server result needs to drill down: the query and the way back to the server."""

    def __init__(self, client: Client, query: AnalysisQuery) -> None:
        self.client, self.query = client, query

    def customers_page(self, limit: int = 100, offset: int = 0, **selector: Any) -> pd.DataFrame:
        from percorso.analysis.wire import frame_from_wire, jsonable

        body = {"query": self.query.model_dump(mode="json"), "selector": jsonable(selector),
                "limit": limit, "offset": offset}
        payload = self.client._post(f"/v1/analyses/{self.query.kind}/customers", body)
        return frame_from_wire(payload["customers"])


class Client:
    """A connection to a percorso server with one token.

    Parameters
    ----------
    url
        The server's address, e.g. ``http://127.0.0.1:8000``.
    token
        An API token (``percorso token create``); its role decides what the server returns.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 300.0) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, **params: Any) -> Any:
        resp = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        _raise_for_problem(resp)
        return resp.json()

    def _post(self, path: str, body: Any = None, **kw: Any) -> Any:
        resp = self._http.post(path, json=body, **kw)
        _raise_for_problem(resp)
        return resp.json()

    # -- analyses ---------------------------------------------------------------------
    def analyses(self) -> list[str]:
        """The analysis kinds the server knows."""
        return [a["kind"] for a in self._get("/v1/analyses")["analyses"]]

    def run(self, query: AnalysisQuery) -> AnalysisResult:
        """Run ``query`` on the server; the same result class as a local :func:`percorso.api.run`."""
        from percorso.analysis.wire import result_from_wire

        payload = self._post(f"/v1/analyses/{query.kind}", query.model_dump(mode="json"))
        result = result_from_wire(payload)
        result._runner = _RemoteRunner(self, result.query)  # type: ignore[assignment]
        return result

    # -- people -----------------------------------------------------------------------
    def customer(self, identifier: str, *, limit: int = 500, offset: int = 0) -> dict[str, Any]:
        """The 360° view of the customer behind any identifier (id, e-mail, phone, card…)."""
        return self._get(f"/v1/customers/{identifier}", limit=limit, offset=offset)

    def explain(self, identifier: str) -> dict[str, Any]:
        """Why this customer's identifiers were joined."""
        return self._get(f"/v1/identity/{identifier}/explain")

    # -- jobs -------------------------------------------------------------------------
    def ingest(self, source: str, path: str | Path, *, wait: bool = True) -> dict[str, Any]:
        """Upload a file of ``source`` and import it (a job; waits for it by default)."""
        path = Path(path)
        resp = self._http.post("/v1/jobs/ingest", params={"source": source, "filename": path.name},
                               content=path.read_bytes())
        _raise_for_problem(resp)
        job = resp.json()
        return self.wait(job["job_id"]) if wait else job

    def build(self, *, full: bool = False, wait: bool = True) -> dict[str, Any]:
        """Resolve identities and rebuild (a job; waits for it by default)."""
        job = self._post("/v1/jobs/build", {"full": full})
        return self.wait(job["job_id"]) if wait else job

    def wait(self, job_id: str, *, poll: float = 0.2, timeout: float = 3600.0) -> dict[str, Any]:
        """Wait for a job to end; raises with the job's error when it failed."""
        deadline = time.monotonic() + timeout
        while True:
            job = self._get(f"/v1/jobs/{job_id}")
            if job["status"] == "done":
                return job
            if job["status"] == "failed":
                raise PercorsoError(f"job {job_id} failed: {job['error']}", code="job_failed")
            if time.monotonic() > deadline:
                raise PercorsoError(f"job {job_id} still {job['status']} after {timeout:.0f} s", code="job_timeout")
            time.sleep(poll)
