"""Any generic clickstream goes through the same journey commands (built-in `clickstream` kind)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project

ROWS = ("u1,page_view,2025-01-01 10:00:00,s1\n"
        "u1,add_to_cart,2025-01-01 10:02:00,s1\n"
        "u1,purchase,2025-01-01 10:05:00,s1\n"
        "u2,page_view,2025-01-02 11:00:00,s9\n"
        "u2,add_to_cart,2025-01-02 11:01:00,s9\n"
        "u3,page_view,yesterday,s7\n")


def _cli(*args: str) -> str:
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    return res.stdout


def test_usual_column_names_need_no_mapping(tmp_path: Path):
    init_project(tmp_path / "p", name="t")
    f = tmp_path / "clicks.csv"
    f.write_text("user_id,event_name,timestamp,session_id\n" + ROWS, encoding="utf-8")
    p = str(tmp_path / "p")
    _cli("ingest", "clickstream", str(f), "--project", p)
    _cli("build", "--project", p)
    funnel = json.loads(_cli("funnel", "page_view", "add_to_cart", "purchase", "--project", p, "--format", "json"))
    assert [s["reached"] for s in funnel] == [2, 2, 1]  # u3's row has no valid time: quarantined
    quarantine = _cli("quarantine", "--project", p)
    assert "bad_timestamp" in quarantine


def test_other_column_names_through_a_mapping(tmp_path: Path):
    init_project(tmp_path / "p", name="t")
    cfg = tmp_path / "p" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[sources.app_log]\nkind = "clickstream"\n'
                   'mapping = { user_id = "visitatore", event_name = "azione", occurred_at = "quando" }\n',
                   encoding="utf-8")
    f = tmp_path / "log.csv"
    f.write_text("visitatore;azione;quando;sessione\n" + ROWS.replace(",", ";"), encoding="utf-8")
    p = str(tmp_path / "p")
    _cli("ingest", "app_log", str(f), "--project", p)
    _cli("build", "--project", p)
    top = json.loads(_cli("paths", "top", "--project", p, "--format", "json"))
    # one journey each; equal counts are ordered by path text
    assert [r["path"] for r in top[:2]] == ["page_view → add_to_cart", "page_view → add_to_cart → purchase"]
    assert sum(r["journeys"] for r in top) == 2
