"""Attribution's notes (``meta["notes"]``) follow the project's language and the CLI prints them
under the table, on stderr (standard output keeps the table or the JSON alone)."""

from __future__ import annotations

import json

from journey_cli import journey_project
from typer.testing import CliRunner

from percorso.attribution.analysis import NOTES
from percorso.cli import app

HAND = {
    "anna": [("page_view", "2024-03-01 10:00", {"channel": "Email"}),
             ("purchase", "2024-03-01 10:05", {"channel": "Email", "revenue": 50.0})],
    "bruno": [("page_view", "2024-03-02 10:00", {"channel": "Paid Search"}),
              ("purchase", "2024-03-02 10:05", {"channel": "Paid Search", "revenue": 20.0})],
}


def _run(*args: str):
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res


def test_notes_in_the_project_language_under_the_table(tmp_path):
    root = journey_project(tmp_path / "p", HAND)
    direct_it, direct_en = NOTES["direct_ignored"]
    # last and last_non_direct under GA4's Direct convention (the default): the same numbers, said
    it = _run("attribution", "--project", str(root), "--models", "last,last_non_direct")
    assert "last_non_direct è uguale a last (Direct è già ignorato)" in it.stderr and direct_en not in it.stderr
    assert direct_it not in it.stdout and "Attribuzione (conversioni)" in it.stdout
    # JSON: the rows on standard output (keys unchanged), the note on stderr
    js = _run("attribution", "--project", str(root), "--models", "last,last_non_direct", "--format", "json")
    assert {"node", "last", "last_non_direct"} <= set(json.loads(js.stdout)[0]) and direct_it in js.stderr
    # a model whose numbers need no note: none
    assert _run("attribution", "--project", str(root), "--models", "last").stderr.strip() == ""

    toml = root / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('locale = "it"', 'locale = "en"'), encoding="utf-8")
    en = _run("attribution", "--project", str(root), "--models", "last,last_non_direct")
    assert "last_non_direct equals last (Direct is already ignored)" in en.stderr and direct_it not in en.stderr

    # a paths file inside the English project: both of its notes in English, also with --out chart.html
    paths = tmp_path / "paths.csv"
    paths.write_text("path,total_conversions,total_conversion_value,total_null\n"
                     "Email > Paid Search,2,20,1\nEmail,1,5,0\n", encoding="utf-8")
    chart = _run("attribution", "--project", str(root), "--paths", str(paths), "--models", "time_decay",
                 "--out", str(tmp_path / "a.html"))
    assert "time_decay on a paths file: one step back counts as one day" in chart.stderr
    assert "paths file: only journeys with touchpoints are known; not attributable = 0" in chart.stderr
    # outside a project: Italian, the default language
    bare = _run("attribution", "--project", str(tmp_path / "none"), "--paths", str(paths), "--models", "time_decay")
    assert "time_decay su un file di percorsi: un passo indietro vale un giorno" in bare.stderr
    assert "file di percorsi: si conoscono solo i percorsi con punti di contatto" in bare.stderr
