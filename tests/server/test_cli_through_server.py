"""The CLI works the same while a server owns the database (issue 16, must-show 3).

Two identical copies of the demo: commands run on one without a server and on the other
through its running server (separate processes, as a user would) print the same output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from percorso.project import open_project
from tests.server.conftest import Server, percorso

NEW_CALLS = """call_id,started_at,phone,crm_id,reason,outcome,duration_s,agent
NEWCALL0001,2024-03-01 10:15:00,+39 339 000 1111,,informazioni_prodotto,risolto,120,AG01
NEWCALL0002,2024-03-02 11:20:00,+39 339 000 2222,,reclamo,richiamare,300,AG02
NEWCALL0003,not a time,+39 339 000 3333,,reclamo,risolto,45,AG02
"""


def _without_timings(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in ("seconds", "timings", "phases")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _same_build(a: bytes, b: bytes) -> None:
    ja, jb = _without_timings(json.loads(a)), _without_timings(json.loads(b))
    assert ja == jb


def test_commands_print_the_same_with_and_without_a_server(demo: Path, tmp_path: Path) -> None:
    local = tmp_path / "local"
    shutil.copytree(demo, local)
    with open_project(local) as p:
        someone = p.engine.execute(p.engine.table("customers").select("customer_id").limit(1))["customer_id"][0]
    calls = tmp_path / "calls_march.csv"
    calls.write_text(NEW_CALLS, encoding="utf-8")
    commands = [
        ["paths", "top", "--top", "5"],
        ["paths", "top", "--top", "5", "--format", "json"],
        ["customer", "show", someone],
        ["funnel", "page_view", "add_to_cart", "purchase", "--format", "csv"],
        ["customer", "show", "nobody@example.com"],  # an error: same line, same exit code
        ["ingest", "call_center", str(calls)],
    ]
    expected = [percorso(*c, "-p", str(local), check=False) for c in commands]
    expected_build = percorso("build", "--format", "json", "-p", str(local))
    after = percorso("paths", "transitions", "--format", "json", "-p", str(local))

    server = Server.start(demo)
    try:
        for cmd, want in zip(commands, expected):
            got = percorso(*cmd, "-p", str(demo), check=False)
            assert (got.returncode, got.stdout) == (want.returncode, want.stdout.replace(
                str(local).encode(), str(demo).encode())), cmd
            assert b"locked" not in got.stderr and b"Traceback" not in got.stderr
        _same_build(percorso("build", "--format", "json", "-p", str(demo)).stdout, expected_build.stdout)
        assert percorso("paths", "transitions", "--format", "json", "-p", str(demo)).stdout == after.stdout
        assert server.proc.poll() is None  # still serving
    finally:
        assert server.stop() == 0
    # and once the server is gone, the CLI opens the file itself again
    assert percorso("paths", "transitions", "--format", "json", "-p", str(demo)).stdout == after.stdout
