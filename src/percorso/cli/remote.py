"""The CLI as a client of the project's running server (``percorso serve``).

Why: DuckDB lets one process hold the database; while a server runs, a command opening the
file itself would fail with a lock error. :func:`forward` finds the server through the
project's run file and sends it the command line; the server runs the very same command
and returns its output and exit code, which are printed here unchanged. Standard library
only (``urllib``, imported only when a server runs): every command pays this check, so it must
cost next to nothing when no server runs (one ``stat`` of the run file).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path

#: Commands never sent to a server (they start one, or only print).
_LOCAL = {"serve"}


def project_of(argv: list[str]) -> Path:
    """The project folder a command line names (``--project`` / ``-p``), else the current folder."""
    for i, arg in enumerate(argv):
        if arg in ("--project", "-p") and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--project="):
            return Path(arg.split("=", 1)[1])
    return Path(".")


def forward(argv: list[str]) -> int | None:
    """Run ``argv`` on the project's server; None when no server runs (run it here)."""
    if not argv or argv[0] in _LOCAL or argv[0].startswith("-") or "--help" in argv:
        return None
    from percorso.server import runfile

    root = project_of(argv).resolve()
    info = runfile.read(root)
    if not info or not runfile.alive(int(info.get("pid", 0))):
        return None  # no server, or a stale file left by a killed one: DuckDB's lock is free
    import urllib.error
    import urllib.request

    body = json.dumps({"argv": argv, "cwd": os.getcwd(),
                       "columns": shutil.get_terminal_size((120, 24)).columns}).encode("utf-8")
    req = urllib.request.Request(f"{info['url']}/v1/cli", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {info['token']}"})
    try:
        with urllib.request.urlopen(req, timeout=None) as resp:  # noqa: S310 - loopback URL from our run file
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        sys.stderr.write(f"errore [server_error]: the project's server ({info['url']}) refused the command: "
                         f"{detail}\n")
        return 4
    except OSError as exc:
        sys.stderr.write(f"errore [server_unreachable]: a percorso server (pid {info.get('pid')}) holds this "
                         f"project but does not answer at {info['url']} ({exc}); wait for it or stop it\n")
        return 4
    sys.stdout.flush()
    sys.stdout.buffer.write(base64.b64decode(answer["stdout"]))
    sys.stdout.flush()
    sys.stderr.write(answer["stderr"])
    return int(answer["exit_code"])
