"""No traceback reaches a user: every command, over bad files and bad arguments.

The command list is walked from the Typer app (a new command is covered the day it is
added). Every run must end with exit 0, or with exactly one ``errore [code]:`` line and an
exit code documented in :data:`percorso.errors.EXIT_CODES` that is not the internal-error
code (an unexpected exception is a bug these inputs must not trigger).
"""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from percorso.cli import app
from percorso.errors import EXIT_CODES, INTERNAL_EXIT
from percorso.project import init_project, open_project
from percorso.testing import journeys_for

ROOT = Path(__file__).resolve().parents[1]


def _walk(cmd, path=()):  # noqa: ANN001, ANN202
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _walk(sub, (*path, name))
    else:
        yield path, cmd


COMMANDS = sorted(_walk(get_command(app)), key=lambda c: c[0])
SLOW = {("demo",), ("generate",), ("serve",)}
"""Commands that build a whole demo, or serve until stopped, when their arguments are valid:
only given bad ones here."""


def _run(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200", "PERCORSO_DEBUG": ""})
    return res.exit_code, res.output


def _check(args: list[str], code: int, out: str) -> str | None:
    """Fail on a traceback, an undocumented or internal exit code, or a failure not in one line."""
    assert "Traceback" not in out, (args, out)
    assert code in EXIT_CODES and code != INTERNAL_EXIT, (args, code, out)
    if code == 0:
        return None
    # one line per failure: "errore [code]: …", or "errore / error [code] FILE: …" for a file
    # `percorso ingest` could not import (the others of the call are imported)
    lines = [ln for ln in out.splitlines() if ln.startswith(("errore [", "errore / error ["))]
    assert len(lines) == 1, (args, out)
    return lines[0]


def _placeholders(cmd, bad_file: Path) -> list[str]:  # noqa: ANN001
    """Values for the required arguments/options: names that exist nowhere, a missing file."""
    out: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        if p.param_type_name == "option":
            out.append(p.opts[0])
        if p.type_descriptor.is_path:
            out.append(str(bad_file))
        elif p.name == "source":
            out.append("ecommerce")
        elif p.name == "steps":
            out += ["page_view", "purchase"]
        else:
            out.append("nessuno")
    return out


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli_errors")
    (base / "not_a_project").mkdir()
    init_project(base / "empty", name="empty")
    init_project(base / "data", name="data")
    with open_project(base / "data") as p:
        journeys_for(p.engine, {
            "anna": [("page_view", "2025-03-01 10:00", {"channel": "Organic Search"}),
                     ("purchase", "2025-03-02 11:00", {"revenue": 40.0})],
            "bruno": [("email_click", "2025-03-03 09:00", {"channel": "Email"}), ("page_view", "2025-03-03 09:05")],
        })
    return {"none": base / "not_a_project", "empty": base / "empty", "data": base / "data", "base": base}


def _core_runs(path, cmd, places) -> list[list[str]]:  # noqa: ANN001
    """Missing arguments, no project, an empty project, a project with data; bad typed values."""
    missing = places["base"] / "manca.csv"
    has_project = any(p.name == "project" for p in cmd.params)
    runs: list[list[str]] = []
    if any(p.required for p in cmd.params):
        runs.append([*path])  # a required argument missing: a usage error
    if path not in SLOW:
        args = [*path, *_placeholders(cmd, missing)]
        if has_project:
            runs += [[*args, "-p", str(places[k])] for k in ("none", "empty", "data")]
            runs.append([*args, "-p", str(missing)])
        elif path == ("init",):
            runs.append([*path, str(places["empty"])])  # a project is there already
        else:
            runs.append(args)
    base = _base(path, cmd, places)
    for p in _options(cmd):  # parsed before the command runs: cheap
        d = p.type_descriptor
        if d.is_choice or d.annotation in (int, float) or d.is_datetime:
            runs.append([*base, p.opts[0], "zzz"])
    if path == ("quarantine",):
        runs.append([*base, "--format", "xlsx"])  # xlsx needs --out: refused inside the command
    return runs


def _base(path, cmd, places) -> list[str]:  # noqa: ANN001
    has_project = any(p.name == "project" for p in cmd.params)
    return [*path, *_placeholders(cmd, places["base"] / "manca.csv")] + (
        ["-p", str(places["data"])] if has_project else [])


def _options(cmd) -> list:  # noqa: ANN001
    return [p for p in cmd.params if p.param_type_name == "option" and not p.is_flag and p.name != "project"]


def _sweep_runs(path, cmd, places) -> list[list[str]]:  # noqa: ANN001
    """Every text option given a value no vocabulary holds, every output path in a missing folder."""
    if path in SLOW or not any(p.name == "project" for p in cmd.params):
        return []
    base = _base(path, cmd, places)
    runs = []
    for p in _options(cmd):
        d = p.type_descriptor
        if d.is_path:
            runs.append([*base, p.opts[0], str(places["base"] / "no_such_dir" / "out.csv")])
        elif d.annotation is str or d.is_list:
            runs.append([*base, p.opts[0], "zzz"])
    return runs


def _run_all(runs: list[list[str]]) -> int:
    failed = 0
    for args in runs:
        code, out = _run(args)
        _check(args, code, out)
        failed += code != 0
    return failed


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_every_command_fails_in_one_line(path, cmd, places, monkeypatch):
    monkeypatch.chdir(places["none"])
    assert _run_all(_core_runs(path, cmd, places)), f"{path}: no run failed; the corpus does not reach it"


@pytest.mark.slow  # ~30 s of CPU: every text option of every command, on a project with data
@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_every_option_refuses_a_bad_value_in_one_line(path, cmd, places, monkeypatch):
    monkeypatch.chdir(places["none"])
    _run_all(_sweep_runs(path, cmd, places))


def _ingest_corpus(d: Path) -> dict[str, Path]:
    """Files a user may hand to `percorso ingest` that cannot be imported as they are."""
    files = {
        "empty": d / "vuoto.csv", "garbage_csv": d / "rumore.csv", "garbage_parquet": d / "rumore.parquet",
        "garbage_xlsx": d / "rumore.xlsx", "garbage_jsonl": d / "rumore.jsonl", "not_gzip": d / "finto.csv.gz",
        "two_in_zip": d / "due.zip", "xls": d / "vecchio.xls", "unknown_type": d / "dati.dat",
        "folder": d / "cartella", "header_only_blank": d / "spazi.csv", "wrong_kind": d / "ordini.csv",
        "truncated_gzip": d / "tronco.csv.gz", "bad_zip": d / "rotto.zip",
    }
    noise = bytes(range(256)) * 16 + os.urandom(512)
    files["empty"].write_bytes(b"")
    for k in ("garbage_csv", "garbage_parquet", "garbage_xlsx", "garbage_jsonl", "not_gzip", "xls", "unknown_type",
              "bad_zip"):
        files[k].write_bytes(noise)
    with zipfile.ZipFile(files["two_in_zip"], "w") as z:
        z.writestr("a.csv", "order_id,order_date\nO1,2025-01-01\n")
        z.writestr("b.csv", "order_id,order_date\nO2,2025-01-01\n")
    files["folder"].mkdir()
    files["header_only_blank"].write_bytes(b"\r\n \r\n\t\r\n")
    files["wrong_kind"].write_text("order_id,customer_id,order_date,quantity,unit_price\nO1,C1,2025-01-02,1,10\n")
    files["truncated_gzip"].write_bytes(gzip.compress(b"order_id,order_date\n" + b"O1,2025-01-01\n" * 500)[:60])
    return files


def test_ingest_refuses_bad_files_in_one_line(tmp_path, places):
    """Each bad file is refused with one line naming it; nothing of it is written; good files still import."""
    root = tmp_path / "p"
    init_project(root, name="t")
    files = _ingest_corpus(tmp_path)
    kinds = {"wrong_kind": "crm"}
    for name, f in files.items():
        args = ["ingest", kinds.get(name, "ecommerce"), str(f), "-p", str(root)]
        code, out = _run(args)
        assert "Traceback" not in out and code in (1, 2, 3), (name, code, out)
        lines = [ln for ln in out.splitlines() if ln.startswith("errore") and f.name in ln]
        assert len(lines) == 1, (name, out)
    code, out = _run(["ingest", "nosuch", str(files["wrong_kind"]), "-p", str(root)])
    assert "source" in (_check(["ingest nosuch"], code, out) or "")
    with open_project(root) as p:
        assert p.engine.count("events") == 0 and p.engine.count("quarantine") == 0
    good = files["wrong_kind"]
    code, out = _run(["ingest", "ecommerce", str(files["garbage_csv"]), str(good), str(files["xls"]), "-p", str(root)])
    assert code == 1 and "2 of 3 files not imported" in out, out
    with open_project(root) as p:
        assert p.engine.count("events") == 1


def test_exit_codes_are_documented():
    """The table in docs/cli.md and --help list every exit code the CLI uses."""
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    code, out = _run(["--help"])
    assert code == 0
    for number in EXIT_CODES:
        assert f"| {number} |" in doc, number
        assert f"{number} " in out, number


def test_debug_shows_the_traceback(places):
    """--debug (or PERCORSO_DEBUG=1) adds the traceback before the same one line."""
    res = CliRunner().invoke(app, ["--debug", "rfm", "-p", str(places["none"])], env={"PERCORSO_DEBUG": ""})
    assert res.exit_code == 2 and "Traceback" in res.output
    assert res.output.strip().splitlines()[-1].startswith("errore [project_not_found]:")


FULL = {
    # the engine writing a file on a device with no space left (the OS error ENOSPC)
    "device": ["COPY (SELECT range FROM range(1000)) TO '/dev/full' (FORMAT csv)"],
    # the engine spilling past its temporary-folder cap, which defaults to the free disk space:
    # it says "Out of Memory Error", and must still read as a full disk
    "spill": ["SET threads = 1", "SET memory_limit = '20MB'", "SET max_temp_directory_size = '1MB'",
              "CREATE TEMP TABLE _big AS SELECT range AS a, md5(CAST(range AS VARCHAR)) AS b "
              "FROM range(2000000) ORDER BY b"],
}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("how", sorted(FULL))
def test_full_disk_is_reported_as_disk_full_and_the_rerun_imports(tmp_path, monkeypatch, how):
    from percorso.ingest import pipeline

    root = tmp_path / "p"
    init_project(root, name="t")
    f = tmp_path / "orders.csv"
    f.write_text("order_id,order_date,quantity,unit_price\nO1,2025-01-02,1,10\nO2,2025-01-03,2,5\n")

    def full(eng, values):  # noqa: ANN001, ARG001 - the run record is the ingest's last write
        for sql in FULL[how]:
            eng.con.execute(sql)

    monkeypatch.setattr(pipeline.S, "insert_run", full)
    code, out = _run(["ingest", "ecommerce", str(f), "-p", str(root)])
    line = _check(["ingest"], code, out)
    assert code == 7 and line.startswith("errore [disk_full]: disk full"), out
    assert "free some space" in line and "same command" in line and "memory" not in line.lower()
    monkeypatch.undo()
    code, out = _run(["ingest", "ecommerce", str(f), "-p", str(root)])  # space freed: the same command
    assert code == 0, out
    with open_project(root) as p:
        assert p.engine.count("events") == 2 and p.engine.count("ingest_runs") == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_full_disk_while_writing_an_output_file(tmp_path, places):
    out_file = tmp_path / "regole.csv"
    out_file.symlink_to("/dev/full")
    code, out = _run(["channels", "rules", "-p", str(places["empty"]), "--out", str(out_file)])
    line = _check(["channels rules --out"], code, out)
    assert code == 7 and line.startswith("errore [disk_full]"), out
