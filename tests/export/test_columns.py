"""Column kinds, people's formats, tables that never break a number, XLSX number formats."""

from __future__ import annotations

import io
import re
import sys
from datetime import date

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from percorso.cli.tables import build_table, print_table
from percorso.export.columns import column_kind, format_value, is_machine_key, shown_columns
from percorso.export.files import write_frame


@pytest.mark.parametrize(("name", "kind"), [
    ("revenue", "money"), ("revenue_at_stake", "money"), ("cost_to_serve", "money"), ("avg_clv", "money"),
    ("cpa", "money"), ("share", "share"), ("share_of_customers", "share"), ("online_order_share", "share"),
    ("conversion_rate", "share"), ("rate_with", "share"), ("conversion_overall", "share"), ("roi", "share"),
    ("avg_p_alive", "share"), ("median_minutes_from_start", "duration"), ("avg_recency_days", "duration"),
    ("first_seen_at", "datetime"), ("calibration_end", "date"), ("n_orders", "count"), ("roas", "number"),
])
def test_kind_comes_from_the_key(name, kind):
    assert column_kind(name) == kind


def test_kind_of_an_unnamed_column_comes_from_its_values():
    assert column_kind("customers", pd.Series([1, 2])) == "count"
    assert column_kind("estimate", pd.Series([0.5])) == "number"
    assert column_kind("stale", pd.Series([True, False])) == "flag"
    assert column_kind("when", pd.Series([date(2025, 1, 2)])) == "date"
    assert column_kind("channel", pd.Series(["Email"])) == "text"
    assert column_kind("revenue", pd.Series(["n/a"])) == "text"  # a money key holding text is text


def test_people_formats_by_kind_and_locale():
    assert format_value(0.4234, "share", "it") == "42,3 %" and format_value(0.4234, "share", "en") == "42.3%"
    assert format_value(1234.5, "money", "it") == "1.234,50 €" and format_value(1234.5, "money", "en") == "€1,234.50"
    assert format_value(1234, "count", "it") == "1.234" and format_value(2.5, "count", "en") == "2.5"
    assert format_value(float("nan"), "share", "it") == "—" and format_value(None, "text", "it") == ""


def test_durations_take_the_unit_that_fits_the_column():
    minutes = pd.DataFrame({"median_minutes": [30.0, 90.0, 600.0]})   # median 1.5 h → hours
    s = shown_columns(minutes)["median_minutes"]
    assert s.kind == "duration" and s.scale.unit == "minutes"        # < 3 h stays in minutes
    days = pd.DataFrame({"median_days_to_next_stage": [0.5, 1.0, 2.0]})
    s = shown_columns(days)["median_days_to_next_stage"]
    assert s.scale.unit == "hours" and format_value(1.0, "duration", "it", scale=s.scale) == "24,0"
    long = pd.DataFrame({"median_minutes_from_start": [6000.0, 9000.0]})   # ~5 days
    s = shown_columns(long)["median_minutes_from_start"]
    assert s.scale.unit == "days" and format_value(2880.0, "duration", "en", scale=s.scale) == "2.0"
    assert format_value(1.0, "duration", "it", scale=s.scale) == "<0,1"   # one minute in days, not 0,0
    assert format_value(0.0, "duration", "it", scale=s.scale) == "0,0"


def test_a_matrix_shares_its_measure_kind_and_one_unit():
    m = pd.DataFrame({"stage": ["a", "b"], "Email": [0.1, 5.0], "Direct": [0.2, 0.3]})
    shown = shown_columns(m, like={"Email": "median_days_to_next_stage", "Direct": "median_days_to_next_stage"})
    assert shown["stage"].kind == "text"
    assert shown["Email"].scale == shown["Direct"].scale and shown["Email"].scale.unit == "hours"


def test_machine_keys_are_snake_case_ascii():
    assert is_machine_key("share_of_customers") and is_machine_key("ci95_low")
    assert not any(is_machine_key(k) for k in ("canale ", "T", "Share", "quota %", "città", "a__b", "_x"))


def _render(frame: pd.DataFrame, width: int) -> tuple[str, list[str]]:
    table, dropped, _ = build_table(frame, title=None, locale="it", width=width)
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(table)
    return buf.getvalue(), dropped


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e7), st.floats(0, 1), st.integers(0, 10**7)), min_size=1, max_size=6),
       st.integers(40, 160))
def test_a_table_never_breaks_a_number_across_lines(rows, width):
    frame = pd.DataFrame({"campaign": ["saldi_estate_2026_newsletter_molto_lunga"] * len(rows),
                          "revenue": [r[0] for r in rows], "share": [r[1] for r in rows],
                          "customers": [r[2] for r in rows]})
    text, dropped = _render(frame, width)
    assert max(len(line) for line in text.splitlines()) <= width
    shown = {"revenue": "ricavi", "share": "quota", "customers": "clienti"}
    kinds = {"revenue": "money", "share": "share", "customers": "count"}
    for key, label in shown.items():
        if label in dropped:
            continue
        for value in frame[key]:
            cell = format_value(value, kinds[key], "it")
            assert any(cell in line for line in text.splitlines()), (cell, text)


def test_columns_that_do_not_fit_are_left_out_from_the_right_and_named():
    frame = pd.DataFrame({"channel": ["Paid Search"], "revenue": [1549.0], "cost": [1234567.0], "roi": [0.25]})
    text, dropped = _render(frame, 40)
    assert dropped == ["costo", "ROI sui ricavi"] and "1.549,00 €" in text and "Paid Search" in text


def test_piped_output_is_never_wrapped(monkeypatch):
    frame = pd.DataFrame({"explanation": ["una spiegazione lunga " * 20] * 3, "revenue": [1549.0, 2.0, 3.0]})
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)   # not a terminal
    print_table(frame, locale="it")
    body = [line for line in buf.getvalue().splitlines() if line.startswith("│")]
    assert len(body) == 3 and all(("una spiegazione lunga " * 20).strip() in line for line in body)


def test_xlsx_has_localised_headers_and_number_formats(tmp_path):
    frame = pd.DataFrame({"channel": ["Email"], "revenue": [1234.5], "share": [0.42], "customers": [1200],
                          "median_minutes": [30.0], "first_seen_at": [pd.Timestamp("2025-03-01 10:00")]})
    for locale, heads, money, day in (("it", ["canale", "ricavi", "quota", "clienti", "tempo mediano (min)"],
                                       '#,##0.00 "€"', "dd/mm/yyyy"),
                                      ("en", ["channel", "revenue", "share", "customers", "median time (min)"],
                                       '"€"#,##0.00', "yyyy-mm-dd")):
        path = write_frame(frame, tmp_path / f"r_{locale}.xlsx", locale=locale)
        ws = openpyxl.load_workbook(path).active
        assert [c.value for c in ws[1]][:5] == heads
        cells = {h: c for h, c in zip([c.value for c in ws[1]], ws[2])}
        assert (cells[heads[1]].value, cells[heads[1]].number_format) == (1234.5, money)
        assert (cells[heads[2]].value, cells[heads[2]].number_format) == (0.42, "0.0%")
        assert cells[heads[3]].number_format == "#,##0"
        assert re.match(day, ws.cell(2, 6).number_format)


def test_csv_and_json_files_keep_the_keys(tmp_path):
    frame = pd.DataFrame({"channel": ["Email"], "share": [0.42]})
    assert write_frame(frame, tmp_path / "r.csv", locale="it").read_text(encoding="utf-8-sig").startswith("channel;share")
    assert '"share": 0.42' in write_frame(frame, tmp_path / "r.json", locale="it").read_text()


def test_every_result_table_sent_to_a_pipe_keeps_rows_on_one_line(monkeypatch):
    """The hand-made tables (build and demo summaries, customer show) print through the same
    console: on a pipe it has no 80-column limit."""
    from rich.table import Table

    from percorso.cli.common import console

    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)
    t = Table()
    for i in range(12):
        t.add_column(f"colonna {i}")
    t.add_row(*(f"{i:,}.50 €" for i in range(1_000_000, 1_000_012)))
    console(stderr=False).print(t)
    rows = [line for line in buf.getvalue().splitlines() if line.startswith("│")]
    assert len(rows) == 1 and "1,000,011.50 €" in rows[0]


def test_a_stored_table_export_keeps_keys_and_values_with_number_formats(tmp_path):
    from percorso.export.xlsx import write_xlsx

    frame = pd.DataFrame({"order_id": ["A1"], "revenue": [420.0], "n_items": [3], "median_minutes": [90.0]})
    write_xlsx(frame, tmp_path / "orders.xlsx", sheet="orders")
    ws = openpyxl.load_workbook(tmp_path / "orders.xlsx").active
    assert [c.value for c in ws[1]] == ["order_id", "revenue", "n_items", "median_minutes"]
    assert [(c.value, c.number_format) for c in ws[2]][1:] == [
        (420, '#,##0.00 "€"'), (3, "#,##0"), (90, "General")]  # a duration stays in its key's unit
