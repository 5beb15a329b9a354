"""`percorso channels check` and `channels rules` end to end on real files in tmp_path."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from percorso.channels import load_rules
from percorso.channels.check import check_plan
from percorso.cli import app

PLAN = (
    "\ufeffutm_source;utm_medium;utm_campaign\n"
    "google;cpc;brand_2026\n"
    "Facebook;paid_social;saldi estate\n"
    "newsletter;newsletter;promo\n"
    "facebook;social;post\n"
    "fbb;cpc;x\n"
    ";email;dem\n"
)


def test_check_plan_rows(tmp_path):
    f = tmp_path / "piano.csv"
    f.write_text(PLAN, encoding="utf-8")
    df = check_plan(f, load_rules())
    assert list(df["channel"]) == ["Paid Search", "Paid Social", "Unassigned", "Organic Social", "Paid Other", "Email"]
    assert list(df["line"]) == [2, 3, 4, 5, 6, 7]
    assert df.loc[0, "rule"] == "ga4-2026:6"
    assert "motori di ricerca" in df.loc[0, "explanation"]
    assert df.loc[0, "warnings"] == ""
    assert "maiuscole" in df.loc[1, "warnings"] and "spazi" in df.loc[1, "warnings"]
    assert "scritto in modi diversi" in df.loc[1, "warnings"]           # Facebook vs facebook
    assert "Unassigned" in df.loc[2, "warnings"] and "'email'" in df.loc[2, "warnings"]
    assert "Paid Other" in df.loc[4, "warnings"] and "'fb'" in df.loc[4, "warnings"]
    assert "source mancante" in df.loc[5, "warnings"]


def test_cli_check_writes_out_file(tmp_path):
    f = tmp_path / "piano.csv"
    f.write_text("source,medium,campaign\nbing,ppc,x\nsms,,y\n", encoding="utf-8")
    out = tmp_path / "risultato.csv"
    res = CliRunner().invoke(app, ["channels", "check", str(f), "--out", str(out), "--project", str(tmp_path)])
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines(), delimiter=";" if text.count(";") > text.count(",") else ","))
    assert [r["channel"] for r in rows] == ["Paid Search", "SMS"]
    assert [r["rule"] for r in rows] == ["ga4-2026:6", "ga4-2026:26"]


def test_cli_check_json_stdout_and_version(tmp_path):
    f = tmp_path / "piano.csv"
    f.write_text("source;medium\ngoogle;organic\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["channels", "check", str(f), "--format", "json", "-p", str(tmp_path),
                                   "--rules-version", "ga4-2026"])
    assert res.exit_code == 0, res.output
    assert '"Organic Search"' in res.stdout


def test_cli_rules_prints_version(tmp_path):
    res = CliRunner().invoke(app, ["channels", "rules", "-p", str(tmp_path), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "ga4-2026" in res.output
    assert "Mobile Push Notifications" in res.stdout


def test_cli_unknown_version_is_an_error(tmp_path):
    f = tmp_path / "piano.csv"
    f.write_text("source;medium\ngoogle;cpc\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["channels", "check", str(f), "-p", str(tmp_path), "--rules-version", "ga4-1999"])
    assert res.exit_code != 0
