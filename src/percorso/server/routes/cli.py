"""``POST /v1/cli``: a percorso command line run inside the server, for a CLI client.

Why: while the server owns the database, DuckDB blocks other processes even from reading
it. The CLI therefore sends its whole command line here (with its working folder and
terminal width) and prints what comes back, so every command works, prints the same
output and exits with the same code with or without a server (``percorso.cli.remote``).
The command runs on the database worker, using the server's connection
(:func:`percorso.project.share_engine`); only ``admin`` tokens (the local one in
``.percorso/server.json``) may call it, and each call is audited.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import os
from typing import Any

from fastapi import APIRouter, Body, Request

from percorso.errors import InputError
from percorso.server.security import endpoint
from percorso.server.tokens import Role

router = APIRouter(prefix="/v1", tags=["cli"])
log = logging.getLogger("percorso.server")

#: Commands that write: the cache is dropped after them.
_READ_ONLY = {"paths", "funnel", "friction", "journey-map", "omnichannel", "attribution", "roi", "rfm",
              "churn", "cohorts", "cost-to-serve", "health", "customer", "identity", "quarantine", "export",
              "audit", "channels"}


#: Commands that may replace or rewrite the database file (run inside ServerState.rewriting).
_REWRITING = {"erase", "retention", "restore"}


def _run_rewriting(state: Any, argv: list[str], cwd: str, columns: int | None) -> dict[str, Any]:
    """A command that may rewrite the database file and close the server's connections, jobs
    and audit commits held meanwhile (ADR 0049)."""
    with state.rewriting():
        return _run(argv, cwd, columns)


def _run(argv: list[str], cwd: str, columns: int | None) -> dict[str, Any]:
    from percorso.cli import run_cli

    out, err = io.BytesIO(), io.BytesIO()
    out_text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    err_text = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    old_cwd, old_cols = os.getcwd(), os.environ.get("COLUMNS")
    try:
        os.chdir(cwd)
        if columns:
            os.environ["COLUMNS"] = str(columns)
        with contextlib.redirect_stdout(out_text), contextlib.redirect_stderr(err_text):
            try:
                code = run_cli(argv)
            except Exception as exc:  # noqa: BLE001 - the client gets one line, the log the traceback
                log.exception("command %s failed", argv[:1])
                err_text.write(f"errore [internal_error]: unexpected {type(exc).__name__}: {exc}\n")
                code = 1
            out_text.flush()
            err_text.flush()
    finally:
        os.chdir(old_cwd)
        if old_cols is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old_cols
    return {"exit_code": code, "stdout": base64.b64encode(out.getvalue()).decode("ascii"),
            "stderr": err.getvalue().decode("utf-8", "replace")}


def _command_words(argv: list[str]) -> str:
    """The command's leading words (``segment export``), never its values (an e-mail, a phone)."""
    import re

    words = []
    for arg in argv[:3]:
        if not re.fullmatch(r"[a-z][a-z-]*", arg):
            break
        words.append(arg)
    return " ".join(words)


@endpoint(router, "POST", "/cli", role=Role.admin, include_in_schema=False)
async def cli(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Run ``{"argv": [...], "cwd": "/abs/path", "columns": 120}`` and return exit code and output."""
    argv, cwd = body.get("argv"), body.get("cwd")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not argv:
        raise InputError("argv must be a non-empty list of strings")
    if not isinstance(cwd, str) or not os.path.isabs(cwd) or not os.path.isdir(cwd):
        raise InputError("cwd must be an existing absolute folder")
    if argv[0] == "serve":
        raise InputError("a server already runs for this project")
    state = request.app.state.percorso
    await state.audit_flushed()  # `percorso audit` (or a backup) reads every row written before it
    if argv[0] in _REWRITING:
        out = await state.db(_run_rewriting, state, argv, cwd, body.get("columns"))
    else:
        out = await state.db(_run, argv, cwd, body.get("columns"))
    if argv[0] not in _READ_ONLY:
        state.changed()
        await state.db(state.tokens.load, state.engine)  # `percorso token create` through the server
        if state.collector is not None:  # `percorso source key create` through the server
            await state.db(state.collector.keys.load, state.engine)
    await state.audit(request, "cli", query={"command": _command_words(argv)},
                      status=200 if out["exit_code"] == 0 else 400, detail=f"exit {out['exit_code']}")
    return out
