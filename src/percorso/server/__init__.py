"""``percorso serve``: the HTTP service that owns a project's database.

One process owns the DuckDB file (DuckDB allows one writer and blocks other processes even
from reading); the REST API ``/v1``, the CLI when a server runs, and later the dashboard and
the collector all go through it. The room imports query objects and results, never SQL: the
few service tables it keeps (tokens, audit log, jobs) are written through
:mod:`percorso.engine.server_sql`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # lazy: every CLI command reads ``percorso.server.runfile`` (is a server running?), and
    # importing the app with it would load FastAPI into each of them (~0.2 s per command)
    if name == "create_app":
        from percorso.server.app import create_app

        return create_app
    raise AttributeError(name)
