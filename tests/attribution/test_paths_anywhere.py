"""``attribution --paths FILE`` runs anywhere: a path table needs no events and no database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from percorso.attribution.analysis import NOT_ATTRIBUTABLE, TOTAL
from percorso.cli import app
from percorso.project import init_project
from percorso.testing import cli_error

# Hand-computed: 'Email > Direct' converts 3 times, 'Direct' once, 'Paid Search > Email' twice.
# Last touch under GA4's Direct convention (Direct dropped unless alone): Email 3 + 2 = 5,
# Direct 1, Paid Search 0. Crediting Direct: Direct 3 + 1 = 4, Email 2.
PATHS = ("path;total_conversions;total_conversion_value;total_null\n"
         "Email > Direct;3;30;5\nDirect;1;10;7\nPaid Search > Email;2;20;1\n")


def _last(args: list[str], cwd: Path, monkeypatch) -> dict[str, float]:
    monkeypatch.chdir(cwd)
    res = CliRunner().invoke(app, ["attribution", *args, "--models", "last", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["node"]: r["last"] for r in json.loads(res.stdout)}
    # a path table knows only journeys with touchpoints: nothing unattributable, total = 6 conversions
    assert (rows.pop(NOT_ATTRIBUTABLE), rows.pop(TOTAL)) == (0.0, 6.0)
    return rows


def test_outside_any_project(tmp_path, monkeypatch):
    (tmp_path / "p.csv").write_text(PATHS, encoding="utf-8")
    assert _last(["--paths", "p.csv"], tmp_path, monkeypatch) == {"Email": 5.0, "Direct": 1.0, "Paid Search": 0.0}


def test_in_a_project_folder_without_a_database(tmp_path, monkeypatch):
    """A fresh project (nothing ingested, no database file) runs, with its own [attribution]
    settings: here Direct is credited, so the last touch moves to Direct."""
    init_project(tmp_path / "proj", name="t")
    cfg = tmp_path / "proj" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[attribution]\ndirect = "credit"\n', encoding="utf-8")
    (tmp_path / "p.csv").write_text(PATHS, encoding="utf-8")
    got = _last(["--paths", str(tmp_path / "p.csv")], tmp_path / "proj", monkeypatch)
    assert got == {"Direct": 4.0, "Email": 2.0, "Paid Search": 0.0}
    assert not (tmp_path / "proj" / "percorso.duckdb").exists()  # nothing was created either
    # --project pointing at it from elsewhere gives the same
    assert _last(["--paths", "p.csv", "--project", "proj"], tmp_path, monkeypatch) == got


def test_without_paths_a_database_is_still_needed(tmp_path, monkeypatch):
    init_project(tmp_path / "proj", name="t")
    monkeypatch.chdir(tmp_path / "proj")
    res = CliRunner().invoke(app, ["attribution", "--models", "last"])
    code, message, exit_code = cli_error(res)
    assert (code, exit_code) == ("not_found", 3) and "percorso ingest" in message
