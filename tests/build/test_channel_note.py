"""`build`'s touchpoints-by-channel table counts a web event under its session's channel, and says so."""

from __future__ import annotations

from typer.testing import CliRunner

from percorso.build.summary import CHANNEL_NOTE, channel_note
from percorso.cli import app
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

# one visit (3 minutes, one session) whose rows name two channels: the session takes the first
CSV = ("user_id,event,ts,channel\n"
       "u1,page_view,2025-03-01 10:00:00,email\n"
       "u1,page_view,2025-03-01 10:01:00,social\n"
       "u1,page_view,2025-03-01 10:03:00,social\n")


def test_table_counts_the_session_channel_and_the_note_says_why(tmp_path):
    init_project(tmp_path / "p")
    f = tmp_path / "clicks.csv"
    f.write_text(CSV, encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "clickstream", [f])
    res = CliRunner().invoke(app, ["build", "--project", str(tmp_path / "p")], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    # by hand: the file's column says 1 email + 2 social rows; the table says 3 Email touchpoints
    rows = [ln for ln in res.output.splitlines() if "│ Email" in ln or "│ Organic Social" in ln]
    assert len(rows) == 1 and rows[0].split("│")[2].strip() == "3", res.output
    assert "canale della sua sessione" in res.output and "its session's channel" in res.output
    # under the channel table, before the orders table
    at = res.output.index("its session's channel")
    assert res.output.index("touchpoints by channel") < at < res.output.index("dove / where")


def test_no_note_without_online_touchpoints():
    assert channel_note([{"channel": "Store / POS", "online": False, "touchpoints": 4, "customers": 2}]) is None
    assert channel_note([{"channel": "Email", "online": True, "touchpoints": 4, "customers": 2}]) == CHANNEL_NOTE
