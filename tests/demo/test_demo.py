"""`percorso demo` end to end on a small retailer: generate → import → build → checked summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import open_project
from percorso.testing import cli_error

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("demo") / "shop"
    result = CliRunner().invoke(app, ["demo", "--customers", "400", "--seed", "3", "--dir", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    return folder, json.loads(result.stdout)


def _counts(folder: Path) -> dict[str, int]:
    with open_project(folder) as p:
        e = p.engine
        return {t: int(e.execute(e.table(t).count())) for t in
                ("events", "quarantine", "touchpoints", "orders", "customers", "identity_map")}


def test_every_source_reconciles_and_every_malformed_row_is_quarantined(demo_run: tuple[Path, dict]) -> None:
    folder, r = demo_run
    assert {s["source"] for s in r["sources"]} >= {"web", "app", "ecommerce", "pos", "loyalty", "crm", "email",
                                                   "ads", "call_center", "events", "costs"}
    for s in r["sources"]:
        assert s["rows_read"] == s["accepted"] + s["quarantined"] + s["duplicates"], s
    truth = (folder / "ground_truth" / "malformed.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert sum(x["generated"] for x in r["reconciliation"]) == len(truth) > 0
    assert all(x["missing"] == 0 for x in r["reconciliation"]), r["reconciliation"]
    assert sum(q["rows"] for q in r["quarantine"]) >= len(truth)


def test_summary_counts_match_the_database(demo_run: tuple[Path, dict]) -> None:
    folder, r = demo_run
    counts = _counts(folder)
    assert r["customers"]["customers"] == counts["customers"] == r["build"]["customers"]
    assert sum(c["touchpoints"] for c in r["channels"]) == counts["touchpoints"]
    assert sum(o["orders"] + o["returns"] for o in r["orders"]) == counts["orders"]
    places = {o["online"] for o in r["orders"]}
    assert places == {True, False}  # the retailer sells online and in store
    c = r["customers"]
    assert c["online_only"] + c["store_only"] + c["omnichannel"] == c["buyers"] > 0
    assert c["customers"] >= c["with_touchpoints"] >= c["buyers"]  # people found ⊇ with touchpoints ⊇ buyers
    assert {"Store / POS", "Email", "Direct"} <= {x["channel"] for x in r["channels"]}


def test_identity_is_measured_against_the_truth(demo_run: tuple[Path, dict]) -> None:
    _folder, r = demo_run
    i = r["identity"]
    assert i["true_pairs"] > 0 and i["predicted_pairs"] > 0
    # the 100,000-customer figures live in bench/identity_quality.py; a small demo is already close
    assert i["precision"] >= 0.97 and i["recall"] >= 0.9, i


def test_second_run_changes_nothing(demo_run: tuple[Path, dict]) -> None:
    folder, first = demo_run
    before = _counts(folder)
    result = CliRunner().invoke(app, ["demo", "--customers", "400", "--seed", "3", "--dir", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["generated"] is False
    assert _counts(folder) == before
    assert all(s["accepted"] == 0 for s in again["sources"]), again["sources"]
    assert again["identity"]["precision"] == first["identity"]["precision"]


def test_other_parameters_on_the_same_folder_are_refused(demo_run: tuple[Path, dict]) -> None:
    folder, _ = demo_run
    result = CliRunner().invoke(app, ["demo", "--customers", "500", "--dir", str(folder)])
    assert "--fresh" in cli_error(result)[1]


def test_table_summary_prints_the_sections(demo_run: tuple[Path, dict]) -> None:
    from rich.console import Console

    import percorso.cli.demo as demo_cli

    _folder, r = demo_run
    console = Console(record=True, width=160)
    original = demo_cli.console
    demo_cli.console = lambda stderr=True: console  # type: ignore[assignment]
    try:
        demo_cli.print_demo_summary(r)
    finally:
        demo_cli.console = original  # type: ignore[assignment]
    text = console.export_text()
    for needle in ("clienti / customers", "punti di contatto per canale", "quarantena per motivo", "precisione",
                   "every malformed row is in quarantine"):
        assert needle in text


def test_the_quick_start_size_runs(tmp_path: Path) -> None:
    """`make demo` runs the default 20,000 customers: it must fit the engine's import memory."""
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "demo"), "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["customers_simulated"] == 20_000
    assert all(x["missing"] == 0 for x in r["reconciliation"])
    assert r["identity"]["precision"] >= 0.99
