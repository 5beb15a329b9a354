"""CLI: percorso paths top | transitions | sankey on a real project with the hand-made people."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from paths_people import EC, PEOPLE, PU, PV, RC, p
from typer.testing import CliRunner

from percorso.cli import app
from percorso.testing import cli_error
from tests.journey_cli import cli as _cli
from tests.journey_cli import journey_project


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return journey_project(tmp_path_factory.mktemp("cli") / "p", PEOPLE)


def test_top_json_with_end_and_collapse(root):
    rows = json.loads(_cli("paths", "top", "-p", str(root), "--end", RC, "--format", "json"))
    assert [(r["path"], r["journeys"], r["revenue"]) for r in rows] == [
        (p(PV, EC, EC, RC), 1, 120.0), ("other (0 varianti / variants)", 0, 0.0)]
    rows = json.loads(_cli("paths", "top", "-p", str(root), "--collapse", "--top", "1", "--format", "json"))
    assert [(r["path"], r["journeys"]) for r in rows] == [(EC, 1), ("other (3 varianti / variants)", 3)]


def test_transitions_json_and_drill_down(root):
    rows = json.loads(_cli("paths", "transitions", "-p", str(root), "--top", "1", "--format", "json"))
    assert rows[0]["from_node"] == PV and rows[0]["transitions"] == 3 and rows[0]["median_minutes"] == 20.0
    assert rows[1]["transitions"] == 4 and rows[1]["customers"] == 3
    f = pd.read_csv(io.StringIO(_cli("paths", "transitions", "-p", str(root), "--customers",
                                     f"from_node={EC},to_node={PU}", "--format", "csv")))
    assert list(f["customer_id"]) == ["bruno"]


def test_sankey_csv_session_scope_and_chart(root, tmp_path):
    f = pd.read_csv(io.StringIO(_cli("paths", "sankey", "-p", str(root), "--steps", "2", "--scope", "session",
                                     "--format", "csv")))
    # six sessions: three of one step flow into (end); two go page_view → email_click
    links = {(s, a, b): j for s, a, b, j in f[["step", "source", "target", "journeys"]].itertuples(index=False)}
    assert links == {(1, PV, EC): 2, (1, PV, "(end)"): 1, (1, EC, PV): 1, (1, EC, "(end)"): 1,
                     (1, RC, "(end)"): 1}
    chart = tmp_path / "s.html"
    _cli("paths", "sankey", "-p", str(root), "--out", str(chart))
    assert "sankey" in chart.read_text(encoding="utf-8")


def test_bad_selector_is_a_clean_error(root):
    res = CliRunner().invoke(app, ["paths", "sankey", "-p", str(root), "--customers", "color=red"])
    # the console entry point (percorso.cli.main) prints a PercorsoError as one line
    code, message, exit_code = cli_error(res)
    assert (code, exit_code) == ("input_invalid", 2) and "step=N" in message
