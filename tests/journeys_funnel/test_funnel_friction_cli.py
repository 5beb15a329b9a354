"""CLI: percorso funnel and percorso friction on a real project."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from percorso.cli import app
from percorso.testing import cli_error
from tests.journey_cli import cli as _cli
from tests.journey_cli import journey_project

PEOPLE = {
    "anna": [("page_view", "2024-01-01 10:00", {"channel": "Paid Search"}),
             ("add_to_cart", "2024-01-01 10:05"), ("purchase", "2024-01-03 17:00", {"revenue": 120.0})],
    "bruno": [("page_view", "2024-01-02 09:00", {"channel": "Email"}), ("add_to_cart", "2024-01-02 09:01"),
              ("checkout_error", "2024-01-02 09:02"), ("checkout_error", "2024-01-02 09:03")],
    "carla": [("page_view", "2024-01-02 09:00", {"channel": "Email"}), ("checkout_error", "2024-01-02 09:10"),
              ("add_to_cart", "2024-01-02 09:20"), ("purchase", "2024-01-02 09:30", {"revenue": 50.0}),
              ("call", "2024-01-04 09:00", {"channel": "Call center"}),
              ("return", "2024-01-06 09:00", {"channel": "Store / POS"})],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return journey_project(tmp_path_factory.mktemp("cli") / "p", PEOPLE)


def test_funnel_csv_and_json(root):
    f = pd.read_csv(io.StringIO(_cli("funnel", "page_view", "add_to_cart", "purchase", "-p", str(root),
                                     "--window", "7d", "--format", "csv")))
    assert f["reached"].tolist() == [3, 3, 2] and f["dropped"].tolist() == [0, 0, 1]
    rows = json.loads(_cli("funnel", "page_view", "add_to_cart", "purchase", "-p", str(root), "--window", "1d",
                           "--order", "strict", "--format", "json"))
    # strict: carla has an error right after her view; anna buys after more than a day; bruno never
    assert [r["reached"] for r in rows] == [3, 2, 0]


def test_funnel_exclusion_breakdown_and_table(root):
    rows = json.loads(_cli("funnel", "page_view", "add_to_cart", "purchase", "-p", str(root), "--exclude-step",
                           "checkout_error:1:2", "--format", "json"))
    assert [r["reached"] for r in rows] == [3, 2, 1]
    rows = json.loads(_cli("funnel", "page_view", "purchase", "-p", str(root), "--breakdown", "channel",
                           "--format", "json"))
    assert {(r["breakdown"], r["step"]): r["reached"] for r in rows} == {
        ("Email", 1): 2, ("Email", 2): 1, ("Paid Search", 1): 1, ("Paid Search", 2): 1}
    out = _cli("funnel", "page_view", "purchase", "-p", str(root))
    assert "page_view" in out and "time to convert" in out


def test_funnel_dropped_lists_customers_with_hint(root):
    res = CliRunner().invoke(app, ["funnel", "page_view", "add_to_cart", "purchase", "-p", str(root),
                                   "--dropped", "3", "--format", "csv"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == ["customer_id", "bruno"]
    assert "percorso customer show" in res.stderr


def test_funnel_chart_and_bad_options(root, tmp_path):
    chart = tmp_path / "f.html"
    _cli("funnel", "page_view", "purchase", "-p", str(root), "--chart", str(chart), "--format", "csv")
    assert chart.stat().st_size > 10_000 and "Funnel" in chart.read_text()
    for bad in (["--exclude-step", "oops"], ["--window", "7 days"], ["--order", "sideways"]):
        res = CliRunner().invoke(app, ["funnel", "page_view", "purchase", "-p", str(root), *bad])
        assert res.exit_code != 0


def test_friction_prints_three_tables_and_drills_down(root, tmp_path):
    out = _cli("friction", "-p", str(root), "--min-journeys", "1")
    assert "checkout_error" in out and "loops" in out and "cross-channel chains" in out
    f = pd.read_csv(io.StringIO(_cli("friction", "-p", str(root), "--min-journeys", "1", "--format", "csv")))
    assert {"kind", "item", "journeys", "customers", "rate_with", "rate_without", "conversions_at_stake",
            "revenue_at_stake"} <= set(f.columns)
    row = f[(f["kind"] == "node") & (f["item"] == "checkout_error")].iloc[0]
    assert (row["journeys"], row["customers"]) == (2, 2)
    drill = _cli("friction", "-p", str(root), "--min-journeys", "1", "--customers", "loop=checkout_error",
                 "--format", "csv")
    assert drill.split() == ["customer_id", "bruno"]
    chart = tmp_path / "fr.html"
    _cli("friction", "-p", str(root), "--min-journeys", "1", "--chart", str(chart), "--format", "csv")
    assert chart.exists()


def test_misspelt_step_or_anchor_is_an_error_with_did_you_mean(root):
    """A typo used to print an empty funnel / path table (exit 0), read as "nobody did that"."""

    run = CliRunner()
    res = run.invoke(app, ["funnel", "page_veiw", "add_to_cart", "-p", str(root)])
    code, message, exit_code = cli_error(res)
    assert (code, exit_code) == ("not_found", 3) and "'page_veiw': did you mean 'page_view'" in message
    res = run.invoke(app, ["funnel", "page_view", "add_to_cart|chekout", "-p", str(root)])  # an alternative too
    assert cli_error(res)[0] == "not_found" and "'chekout'" in cli_error(res)[1]
    res = run.invoke(app, ["paths", "top", "--node", "channel", "--end", "Store/POS", "-p", str(root)])
    assert cli_error(res)[0] == "not_found" and "did you mean 'Store / POS'" in cli_error(res)[1]
    res = run.invoke(app, ["paths", "sankey", "--end", "purchse", "-p", str(root)])
    assert cli_error(res)[0] == "not_found" and "did you mean 'purchase'" in cli_error(res)[1]


def test_a_real_label_outside_the_date_range_is_a_zero_not_an_error(root):
    rows = json.loads(_cli("funnel", "page_view", "add_to_cart", "-p", str(root), "--from", "2030-01-01",
                           "--format", "json"))
    assert rows == []  # nobody in that range: an empty funnel, as before
    out = _cli("paths", "top", "--end", "return", "--from", "2024-01-05", "--to", "2024-01-05", "-p", str(root),
               "--format", "json")
    assert json.loads(out)[-1]["journeys"] == 0  # only the "other" row, with nothing in it


def test_a_known_event_type_nobody_has_is_a_zero_not_an_error(root):
    rows = json.loads(_cli("funnel", "page_view", "review", "-p", str(root), "--format", "json"))
    assert [r["reached"] for r in rows] == [3, 0]  # nobody reviewed: a true zero
