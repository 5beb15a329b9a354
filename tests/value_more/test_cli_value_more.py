"""CLI: cost-to-serve, health and personas through typer's CliRunner on a real project."""

from __future__ import annotations

import json

import pytest
from test_personas import clustered_journeys
from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project, open_project
from percorso.testing import journeys_for
from percorso.testing import cli_error


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, clustered_journeys(per=8)[0])
    return root


def _ok(args):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def test_cost_to_serve(project, tmp_path):
    doc = json.loads(_ok(["cost-to-serve", "-p", str(project), "-f", "json", "--chart", str(tmp_path / "c.html")]).stdout)
    assert sum(r["customers"] for r in doc) == 24
    assert (tmp_path / "c.html").exists()
    rows = json.loads(_ok(["cost-to-serve", "-p", str(project), "-f", "json", "--customers", "all", "--limit", "5"]).stdout)
    assert len(rows) == 5 and "margin_after" in rows[0]


def test_cost_to_serve_names_its_default_rates(project, tmp_path):
    err = _ok(["cost-to-serve", "-p", str(project)]).stderr
    # no [value.cost_to_serve] in the project: every rate is a default, named with its value
    assert ("tariffe predefinite: call_center_contact 4,50 €, return_handling 8,00 €, "
            "delivery 6,90 €, margin_rate 45,0 %, email_contact 0,01 €, sms_contact 0,08 €, flyer_contact 0,60 €, "
            "default_contact_cost 0,05 €; impostale in percorso.toml [value.cost_to_serve]") in err  # Italian project
    cfg = project / "percorso.toml"
    before = cfg.read_text(encoding="utf-8")
    try:
        cfg.write_text(before + "\n[value.cost_to_serve]\ndelivery = 5.0\nmargin_rate = 0.5\n", encoding="utf-8")
        err = _ok(["cost-to-serve", "-p", str(project)]).stderr
        assert "call_center_contact 4,50 €" in err and "delivery" not in err and "margin_rate" not in err
    finally:
        cfg.write_text(before, encoding="utf-8")


def test_health(project):
    doc = json.loads(_ok(["health", "-p", str(project), "-f", "json", "--as-of", "2024-03-01"]).stdout)
    assert [r["band"] for r in doc] == ["0-20", "20-40", "40-60", "60-80", "80-100"]
    assert sum(r["customers"] for r in doc) == 24
    res = CliRunner().invoke(app, ["health", "-p", str(project), "--band", "0-10"])
    assert res.exit_code != 0


def test_health_without_consent_source(tmp_path):
    root = tmp_path / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, {"anna": [("page_view", "2024-02-01 10:00", {"channel": "Email"})]})
        p.engine.run("UPDATE customers SET consent_marketing = NULL")
    res = _ok(["health", "-p", str(root), "--as-of", "2024-03-01"])
    row = next(ln for ln in res.stdout.splitlines() if "│ 0-20" in ln)
    assert row.rstrip().rstrip("│").rstrip().endswith("—"), row      # the consent column: not 0,00
    # the note in the project's language only (an Italian project)
    assert "consenso: non misurato" in res.output and "consent: not measured" not in res.output


def test_personas(project):
    out = _ok(["personas", "-p", str(project), "--k", "3"]).stdout
    assert "Store / POS" in out and "Canale principale" in out
    en = _ok(["personas", "-p", str(project), "--k", "3", "--lang", "en"]).stdout
    assert "Main channel" in en
    doc = json.loads(_ok(["personas", "-p", str(project), "-f", "json"]).stdout)
    assert sum(r["customers"] for r in doc) == 24 and all(r["description_en"] for r in doc)


def test_personas_stored_and_drill_down_do_not_recluster(project):
    _ok(["personas", "-p", str(project), "--k", "3", "--seed", "2"])
    with open_project(project) as p:
        runs = p.engine.count("persona_runs")
        assigned = p.engine.execute(p.engine.table("customer_personas").order_by("customer_id"))
    doc = json.loads(_ok(["personas", "-p", str(project), "--stored", "-f", "json"]).stdout)
    assert len(doc) == 3 and sum(r["customers"] for r in doc) == 24
    listed = json.loads(_ok(["personas", "-p", str(project), "--persona", "2", "-f", "json"]).stdout)
    assert {r["customer_id"] for r in listed} == set(assigned.loc[assigned.persona == 2, "customer_id"])
    with open_project(project) as p:
        assert p.engine.count("persona_runs") == runs
        again = p.engine.execute(p.engine.table("customer_personas").order_by("customer_id"))
    assert again.equals(assigned)
    res = CliRunner().invoke(app, ["personas", "-p", str(project), "--stored", "--k", "3"])
    assert "--k starts a new clustering" in cli_error(res)[1]


def test_personas_cards_follow_the_project_locale(tmp_path):
    """An English project (`[project] locale = "en"`) printed the Italian cards unless --lang en."""
    root = tmp_path / "en"
    init_project(root, name="t")
    toml = root / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('locale = "it"', 'locale = "en"'), encoding="utf-8")
    with open_project(root) as p:
        journeys_for(p.engine, clustered_journeys(per=8)[0])
    out = _ok(["personas", "-p", str(root), "--k", "3"]).stdout
    assert "Main channel" in out and "Canale principale" not in out
    assert "Canale principale" in _ok(["personas", "-p", str(root), "--stored", "--lang", "it"]).stdout
    # the help names the setting (brackets escaped: Rich markup ate "[project]")
    assert "[project] locale" in " ".join(_ok(["personas", "--help"]).stdout.split())
