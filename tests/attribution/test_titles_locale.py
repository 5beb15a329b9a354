"""Attribution and ROI titles follow the project's language (`[project] locale`), table and chart."""

from __future__ import annotations

import json
import re

from journey_cli import cli, journey_project

HAND = {
    "anna": [("page_view", "2024-03-01 10:00", {"channel": "Email"}),
             ("purchase", "2024-03-01 10:05", {"channel": "Email", "revenue": 50.0})],
    "bruno": [("page_view", "2024-03-02 10:00", {"channel": "Paid Search"}),
              ("purchase", "2024-03-02 10:05", {"channel": "Paid Search", "revenue": 20.0})],
}


def _chart_title(path) -> str:
    return json.loads(re.search(r'"title":(\{"text":"[^"]*"\})', path.read_text(encoding="utf-8")).group(1))["text"]


def test_titles_follow_the_project_language(tmp_path):
    root = journey_project(tmp_path / "p", HAND)
    it = cli("attribution", "--project", str(root), "--models", "last")
    assert "Attribuzione (conversioni)" in it and "Attribution" not in it
    cli("attribution", "--project", str(root), "--models", "last", "--out", str(tmp_path / "it.html"))
    assert _chart_title(tmp_path / "it.html") == "Attribuzione per modello (conversioni)"
    assert "ROI sui ricavi" in cli("roi", "--project", str(root), "--models", "last")

    toml = root / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('locale = "it"', 'locale = "en"'), encoding="utf-8")
    en = cli("attribution", "--project", str(root), "--models", "last", "--measure", "value")
    assert "Attribution (value)" in en and "Attribuzione" not in en
    cli("attribution", "--project", str(root), "--models", "last", "--out", str(tmp_path / "en.html"))
    assert _chart_title(tmp_path / "en.html") == "Attribution by model (conversions)"
    roi = cli("roi", "--project", str(root), "--models", "last")
    assert "ROI on revenue" in roi and "ROI sui ricavi" not in roi
    cli("roi", "--project", str(root), "--models", "last", "--out", str(tmp_path / "roi.html"))
    assert _chart_title(tmp_path / "roi.html") == "ROAS by model"
