"""CLI: percorso journey-map and percorso omnichannel on a real project with the hand-made customers."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from jm_people import PEOPLE
from typer.testing import CliRunner

from percorso.cli import app
from percorso.testing import cli_error
from tests.journey_cli import cli as _cli
from tests.journey_cli import journey_project


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return journey_project(tmp_path_factory.mktemp("cli") / "p", PEOPLE)


def test_journey_map_table_pivots_stage_by_channel(root):
    out = _cli("journey-map", "-p", str(root), "--min-customers", "1")
    assert "stage × channel" in out and "consideration" in out and "Store / POS" in out
    assert "⚠ attrito / friction cells" in out and "Social" in out    # the one friction cell
    # counts: a stage with no touchpoints in a channel shows 0 (awareness only on Display)
    line = next(x for x in out.splitlines() if "awareness" in x)
    assert [c.strip() for c in line.split("│")[1:-1]] == ["awareness", "0", "2", "0", "0", "0", "0"]
    assert "conversione tra fasi" in out and "conversione a una fase dopo" in out  # headers in Italian (it project)


def test_journey_map_long_form_csv(root):
    f = pd.read_csv(io.StringIO(_cli("journey-map", "-p", str(root), "--format", "csv")))
    assert len(f) == 10 and f["touchpoints"].sum() == 21
    email = f[(f["stage"] == "consideration") & (f["channel"] == "Email")].iloc[0]
    assert (email["customers"], email["purchase_share"]) == (4, 0.5)


def test_journey_map_drill_down_and_chart(root, tmp_path):
    f = pd.read_csv(io.StringIO(_cli("journey-map", "-p", str(root), "--customers",
                                     "stage=consideration,channel=Email", "--format", "csv")))
    assert list(f["customer_id"]) == ["anna", "bruno", "carla", "elena"]
    chart = tmp_path / "map.html"
    _cli("journey-map", "-p", str(root), "--chart", str(chart), "--format", "csv")
    assert "heatmap" in chart.read_text(encoding="utf-8")


def test_out_html_writes_the_charts(root, tmp_path):
    _cli("journey-map", "-p", str(root), "--out", str(tmp_path / "m.html"))
    _cli("omnichannel", "-p", str(root), "--out", str(tmp_path / "o.html"))
    assert "heatmap" in (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "online_to_store" in (tmp_path / "o.html").read_text(encoding="utf-8")


def test_omnichannel_excel_export(root, tmp_path):
    _cli("omnichannel", "-p", str(root), "--format", "xlsx", "--out", str(tmp_path / "mix.xlsx"))
    f = pd.read_excel(tmp_path / "mix.xlsx")
    assert list(f["mix"]) == ["online_only", "store_only", "omnichannel", "no_purchase"]


def test_journey_map_rejects_an_unknown_measure(root):
    res = CliRunner().invoke(app, ["journey-map", "-p", str(root), "--measure", "clients"])
    assert res.exit_code != 0 and "customers" in res.output


def test_omnichannel_json(root):
    rows = json.loads(_cli("omnichannel", "-p", str(root), "--format", "json"))
    by = {r["mix"]: r for r in rows}
    assert by["omnichannel"]["customers"] == 1 and by["omnichannel"]["revenue_per_customer"] == 260.0
    assert by["online_only"]["customers"] == 2 and by["no_purchase"]["customers"] == 3


def test_omnichannel_tables_with_titles(root):
    out = _cli("omnichannel", "-p", str(root), "--research-days", "2")
    for title in ("mix di canali / customers by channel mix", "ROPO", "negozi / stores",
                  "prima del primo acquisto", "online ↔ offline"):
        assert title in out
    assert "MI01" in out and "store_to_online" in out


def test_omnichannel_drill_down(root):
    f = pd.read_csv(io.StringIO(_cli("omnichannel", "-p", str(root), "--customers", "store=MI01",
                                     "--format", "csv")))
    assert list(f["customer_id"]) == ["bruno", "dario"]
    f = pd.read_csv(io.StringIO(_cli("omnichannel", "-p", str(root), "--customers", "ropo=online_to_store",
                                     "--format", "csv")))
    assert list(f["customer_id"]) == ["bruno"]


def test_omnichannel_drill_down_misspelt_value_is_an_error(root):
    """`--customers mix=omnichanel` used to list nobody (exit 0), as if the cell were empty."""

    run = CliRunner()
    res = run.invoke(app, ["omnichannel", "-p", str(root), "--customers", "mix=omnichanel"])
    assert cli_error(res)[0] == "input_invalid" and "did you mean 'omnichannel'" in cli_error(res)[1]
    res = run.invoke(app, ["omnichannel", "-p", str(root), "--customers", "ropo=online_store"])
    assert cli_error(res)[0] == "input_invalid" and "did you mean 'online_to_store'" in cli_error(res)[1]
    f = pd.read_csv(io.StringIO(_cli("omnichannel", "-p", str(root), "--customers", "mix=omnichannel",
                                     "--format", "csv")))
    assert len(f) == 1  # the one omnichannel customer of the hand-made people (see test_omnichannel_json)


def test_drill_down_pages_with_limit_and_offset(root):
    """The four customers of consideration × Email, two at a time: a full page names the next offset."""
    run = CliRunner()
    args = ["journey-map", "-p", str(root), "--customers", "stage=consideration,channel=Email", "--format", "csv"]
    first = run.invoke(app, [*args, "--limit", "2"])
    second = run.invoke(app, [*args, "--limit", "2", "--offset", "2"])
    last = run.invoke(app, [*args, "--limit", "3", "--offset", "2"])
    assert first.exit_code == second.exit_code == last.exit_code == 0, first.output
    assert first.stdout.split() == ["customer_id", "anna", "bruno"] and "--offset 2" in first.stderr
    assert second.stdout.split() == ["customer_id", "carla", "elena"] and "--offset 4" in second.stderr
    assert last.stdout.split() == ["customer_id", "carla", "elena"] and "--offset" not in last.stderr
    omni = run.invoke(app, ["omnichannel", "-p", str(root), "--customers", "store=MI01", "--format", "csv",
                            "--limit", "1", "--offset", "1"])
    assert omni.exit_code == 0 and omni.stdout.split() == ["customer_id", "dario"]  # bruno, dario: the second


def test_journey_commands_take_a_saved_segment(tmp_path):
    """`--segment` on the read-only journey commands: was a traceback (CREATE on a read-only
    database in the segment store, then an Ibis join error in omnichannel's first-purchase table)."""
    root = journey_project(tmp_path / "p", PEOPLE)
    rule = '{"type":"behaviour","action":"bought_in_store"}'
    _cli("segment", "create", "negozio", "--rule", rule, "-p", str(root))
    every = {r["mix"]: r["customers"] for r in json.loads(_cli("omnichannel", "-p", str(root), "--format", "json"))}
    only = {r["mix"]: r["customers"] for r in json.loads(_cli("omnichannel", "-p", str(root), "--segment", "negozio",
                                                              "--format", "json"))}
    # the segment is exactly the store buyers: store only and omnichannel, as in the whole base
    assert only == {"online_only": 0, "store_only": every["store_only"], "omnichannel": every["omnichannel"],
                    "no_purchase": 0}
    for args in (["journey-map"], ["paths", "top"], ["funnel", "receipt", "return"]):
        _cli(*args, "-p", str(root), "--segment", "negozio", "--format", "csv")


def test_project_locale_sets_the_number_format(tmp_path):
    """`[project] locale = "en"` in percorso.toml was never read: tables stayed 1.025,11 and sì/no."""
    root = journey_project(tmp_path / "p", PEOPLE)
    it = _cli("omnichannel", "-p", str(root))
    toml = root / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('locale = "it"', 'locale = "en"'), encoding="utf-8")
    en = _cli("omnichannel", "-p", str(root))
    # the omnichannel customer's 260 of revenue per customer (test_omnichannel_json), in each format
    assert "260,00" in it and "260.00" not in it
    assert "260.00" in en and "260,00" not in en
    out = tmp_path / "mix.csv"
    _cli("omnichannel", "-p", str(root), "--out", str(out))
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("mix,customers")  # a plain CSV, not ';'
    italian = journey_project(tmp_path / "q", PEOPLE)
    assert "260,00" in _cli("omnichannel", "-p", str(italian))  # the next command, on an Italian project


def test_journey_map_xlsx_is_a_map(root, tmp_path):
    """`--out FILE.xlsx` writes stage rows × channel columns per measure, coloured, not the long table."""
    import openpyxl

    _cli("journey-map", "-p", str(root), "--out", str(tmp_path / "map.xlsx"))
    wb = openpyxl.load_workbook(tmp_path / "map.xlsx")
    assert wb.sheetnames[:3] == ["clienti", "punti di contatto", "quota con acquisto"] and wb.sheetnames[-1] == "dati"
    long = pd.read_csv(io.StringIO(_cli("journey-map", "-p", str(root), "--format", "csv")))
    for sheet, measure, fmt in (("clienti", "customers", "#,##0"), ("quota con acquisto", "purchase_share", "0.0%")):
        ws = wb[sheet]
        head = [c.value for c in ws[1]]
        assert head[0] == "fase" and set(head[1:]) == set(long["channel"])
        cells = {(r[0].value, head[i]): r[i] for r in ws.iter_rows(min_row=2) for i in range(1, len(head))}
        for row in long.itertuples(index=False):
            cell = cells[(row.stage, row.channel)]
            assert cell.value == pytest.approx(getattr(row, measure)) and cell.number_format == fmt
        assert any(r.type == "colorScale" for cf in ws.conditional_formatting for r in cf.rules)
