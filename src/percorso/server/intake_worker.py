"""An intake worker: the Segment tracking API in a process of its own, on the collector's port.

Why a process (ADR 0030): in the server, every request shared one interpreter with the
consumer's ingest and incremental build, and waited behind them (1,300-3,800 events/s, p99
0.3-1.7 s, while a bare append + fsync did 16,000-46,000). A worker holds no database (the
server owns it; DuckDB lets one process write): it reads the settings, follows the write
keys the server publishes (:meth:`percorso.collector.keys.KeyBook.follow`), checks each call,
appends it to the spool under its own writer name and answers 200 after the ``fdatasync``,
exactly as the server's own routes do (:func:`percorso.server.routes.collector.handle`). The
server's consumer takes the sealed files.

Started by ``percorso serve`` (:class:`percorso.collector.service.IntakeWorkers`) as
``python -m percorso.server.intake_worker ROOT FD WRITER PARENT_PID``: ``FD`` is the listening
socket, shared by every worker (the kernel gives each connection to one of them). It dies
with the server (``PR_SET_PDEATHSIG``), and on SIGTERM finishes its requests, seals its files
and exits.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("percorso.collector")


def _die_with(parent: int) -> None:
    """SIGKILL this process when the server dies, whatever killed it (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the server died before the line above
        os._exit(0)


def create_worker_app(root: Path, writer: str) -> Any:
    """The worker's ASGI app: the tracking routes (long and one-letter paths) and ``/healthz``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from percorso.collector import intake as I
    from percorso.collector.keys import KeyBook
    from percorso.collector.service import Door, keys_file, writer_spool
    from percorso.config import CONFIG_FILE, load_settings
    from percorso.server.routes.collector import handle, preflight

    settings = load_settings(Path(root) / CONFIG_FILE)
    box: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Any):  # type: ignore[no-untyped-def]
        spool = writer_spool(root, settings, writer)  # waits for a predecessor of the same name to be gone
        box["door"] = Door(settings, KeyBook.follow(keys_file(root)), spool)
        try:
            yield
        finally:
            door = box.pop("door")
            door.spool.close()  # seals: the server's consumer takes the rest

    def route(path: str, call: str) -> list[Route]:
        async def post(request: Request) -> Response:
            return await handle(request, box.get("door"), call)

        async def options(request: Request) -> Response:
            return preflight(request, box.get("door"))

        return [Route(f"/v1/{path}", post, methods=["POST"]), Route(f"/v1/{path}", options, methods=["OPTIONS"])]

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [r for call in I.ENDPOINTS for r in route(call, call)]
    routes += [r for short, call in I.SHORT.items() for r in route(short, call)]
    routes.append(Route("/healthz", healthz))
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str]) -> None:
    root, fd, writer, parent = Path(argv[0]), int(argv[1]), argv[2], int(argv[3])
    _die_with(parent)
    import uvicorn

    sock = socket.socket(fileno=fd)
    app = create_worker_app(root, writer)
    loop = "uvloop" if _has("uvloop") else "asyncio"
    http = "httptools" if _has("httptools") else "h11"
    config = uvicorn.Config(app, loop=loop, http=http, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=30)
    uvicorn.Server(config).run(sockets=[sock])


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main(sys.argv[1:])
