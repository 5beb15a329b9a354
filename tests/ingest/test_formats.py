"""CSV sniffing (delimiter, decimal comma, BOM, Latin-1), XLSX, broken rows in the middle, quarantine CLI."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from typer.testing import CliRunner

from percorso.ingest import ingest_files
from percorso.ingest.readers import sniff_csv
from percorso.project import init_project, open_project

ORDERS_HEADER = "order_id{d}line_no{d}order_date{d}email{d}sku{d}quantity{d}unit_price{d}discount{d}currency\n"


def _project(tmp_path: Path):
    init_project(tmp_path / "p")
    return open_project(tmp_path / "p")


def _q(p) -> list[tuple]:
    return p.engine.con.execute("SELECT source_line, reason_code FROM quarantine ORDER BY source_line").fetchall()


def test_semicolon_decimal_comma_bom(tmp_path):
    f = tmp_path / "orders.csv"
    text = (ORDERS_HEADER.format(d=";")
            + "O1;1;2025-03-05 10:00;a@x.it;S1;2;1.234,50;0;EUR\n"
            + "O1;2;2025-03-05 10:00;a@x.it;S2;1;3,25;0,75;EUR\n")
    f.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert sniff_csv(f) == ("utf-8", ";", True)
    p = _project(tmp_path)
    (r,) = ingest_files(p, "ecommerce", [f])
    assert (r.rows_read, r.accepted, r.quarantined) == (2, 2, 0)
    (rev,) = p.engine.con.execute("SELECT revenue FROM events").fetchall()[0]
    assert rev == 2 * 1234.50 + 3.25 - 0.75
    p.close()


def test_comma_and_dot(tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text(ORDERS_HEADER.format(d=",") + "O9,1,2025-03-05 10:00,b@x.it,S1,3,10.5,1.5,EUR\n",
                 encoding="utf-8")
    assert sniff_csv(f) == ("utf-8", ",", False)
    p = _project(tmp_path)
    ingest_files(p, "ecommerce", [f])
    assert p.engine.con.execute("SELECT order_id, revenue FROM events").fetchall() == [("O9", 30.0)]
    p.close()


def test_latin1_accented_names(tmp_path):
    f = tmp_path / "crm.csv"
    f.write_bytes(("crm_id;updated_at;first_name;last_name;city;email\n"
                   "K1;2025-01-02 09:00;Niccolò;Pietà;Forlì;n@x.it\n").encode("latin-1"))
    assert sniff_csv(f)[:2] == ("latin-1", ";")
    p = _project(tmp_path)
    (r,) = ingest_files(p, "crm", [f])
    assert r.accepted == 1
    assert p.engine.con.execute("SELECT first_name, last_name, city FROM contact_profiles").fetchall() == [
        ("Niccolò", "Pietà", "Forlì")]
    p.close()


def test_windows_1252_keeps_euro_and_apostrophe(tmp_path):
    # Italian Excel on Windows: 0x80 is the euro sign, 0x92 the typographic apostrophe;
    # read as Latin-1 both would become invisible control characters
    f = tmp_path / "crm.csv"
    f.write_bytes(("crm_id;updated_at;first_name;last_name;city;email\n"
                   "K1;2025-01-02 09:00;Niccolò;D’Angelo;Forlì;n@x.it\n"
                   "K2;2025-01-02 09:00;Anna;Buono da 10 €;Cantù;a@x.it\n").encode("cp1252"))
    p = _project(tmp_path)
    (r,) = ingest_files(p, "crm", [f])
    assert r.accepted == 2
    assert p.engine.con.execute("SELECT last_name, city FROM contact_profiles ORDER BY crm_id").fetchall() == [
        ("D’Angelo", "Forlì"), ("Buono da 10 €", "Cantù")]
    p.close()


def test_line_ends_switching_after_the_sample(tmp_path):
    # 2,000 LF rows (over 64 KiB), then CRLF rows: the currency of the later rows must be EUR, not 'EUR\r'
    f = tmp_path / "orders.csv"
    rows = [f"O{i};1;2025-03-05 10:00;a{i}@x.it;S1;1;10,00;0;EUR" for i in range(2000)]
    later = [f"P{i};1;2025-03-05 11:00;b{i}@x.it;S1;1;10,00;0;EUR" for i in range(5)]
    f.write_bytes((ORDERS_HEADER.format(d=";") + "\n".join(rows) + "\n" + "\r\n".join(later) + "\r\n").encode())
    assert f.stat().st_size > 64 * 1024
    p = _project(tmp_path)
    (r,) = ingest_files(p, "ecommerce", [f])
    assert (r.accepted, r.quarantined) == (2005, 0)
    bad = p.engine.con.execute("SELECT count(*) FROM events WHERE order_id LIKE 'P%' AND "
                               "(currency <> 'EUR' OR revenue <> 10)").fetchall()
    assert bad == [(0,)]
    p.close()


def test_configured_encoding_is_checked() -> None:
    import pytest

    from percorso.config import SourceSection
    from percorso.sections import SectionError

    assert SourceSection(kind="crm", encoding="Windows-1252").encoding == "cp1252"
    assert SourceSection(kind="crm", encoding="ISO-8859-1").encoding == "latin-1"
    with pytest.raises(SectionError, match="valid: utf-8"):
        SourceSection(kind="crm", encoding="ebcdic")


def test_xlsx_loyalty(tmp_path):
    f = tmp_path / "loyalty.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["card_number", "registered_at", "first_name", "email", "birth_date"])
    ws.append(["L-001", datetime(2025, 1, 10, 9, 30), "Anna", "anna@x.it", date(1990, 5, 1)])
    ws.append(["L-002", "ieri", "Bruno", "b@x.it", None])
    ws.append(["L-003", "2025-02-01", "Carla", None, None])
    wb.save(f)
    p = _project(tmp_path)
    (r,) = ingest_files(p, "loyalty", [f])
    assert (r.rows_read, r.accepted, r.quarantined) == (3, 2, 1)
    assert _q(p) == [(2, "bad_timestamp")]
    rows = p.engine.con.execute("SELECT loyalty_card, event_type FROM events ORDER BY 1").fetchall()
    assert rows == [("L-001", "loyalty_signup"), ("L-003", "loyalty_signup")]
    assert p.engine.con.execute("SELECT birth_date FROM contact_profiles WHERE first_name = 'Anna'").fetchall() == [
        (date(1990, 5, 1),)]
    p.close()


OFFLINE = ("record_id,event_type,occurred_at,email,store_id\n"
           "R1,fair_visit,2025-04-01 10:00,a@x.it,S1\n"          # 1 good
           "R2,store_visit,2025-04-01 11:00,b@x.it\n"             # 2 wrong column count
           "R3,store_visit,2025-13-45 11:00,b@x.it,S1\n"          # 3 bad date
           "R4,teleport,2025-04-01 12:00,c@x.it,S2\n"             # 4 unknown event type
           "R5,flyer_received,2025-04-02 08:00,d@x.it,S2\n")      # 5 good


def test_broken_rows_in_the_middle(tmp_path):
    f = tmp_path / "offline.csv"
    f.write_text(OFFLINE, encoding="utf-8")
    costs = tmp_path / "costs.csv"
    costs.write_text("date,channel,campaign,cost,impressions,clicks\n"
                     "2025-04-01,Paid Search,brand,10.5,100,5\n"
                     "2025-04-02,Paid Search,brand,-3,100,5\n"
                     "2025-04-03,Paid Search,brand,4,100,-1\n", encoding="utf-8")
    p = _project(tmp_path)
    (r,) = ingest_files(p, "events", [f])
    assert (r.rows_read, r.accepted, r.quarantined, r.duplicates) == (5, 2, 3, 0)
    assert _q(p) == [(2, "wrong_column_count"), (3, "bad_timestamp"), (4, "unknown_event_type")]
    raw = dict(p.engine.con.execute("SELECT source_line, raw_text FROM quarantine").fetchall())
    assert "R2" in raw[2] and "2025-13-45" in raw[3] and "teleport" in raw[4]
    ev = p.engine.con.execute("SELECT source_line, event_type, channel FROM events ORDER BY 1").fetchall()
    assert ev == [(1, "fair_visit", "Events & fairs"), (5, "flyer_received", "Direct mail / flyer")]
    (c,) = ingest_files(p, "costs", [costs])
    assert (c.rows_read, c.accepted, c.quarantined) == (3, 1, 2)
    neg = p.engine.con.execute("SELECT source_line, reason_code, message FROM quarantine "
                               "WHERE source_name = 'costs' ORDER BY 1").fetchall()
    assert [(n[0], n[1]) for n in neg] == [(2, "negative_value"), (3, "negative_value")]
    assert "-3" in neg[0][2]
    p.close()


def test_quarantine_cli_counts_by_reason(tmp_path):
    from percorso.cli import app

    f = tmp_path / "offline.csv"
    f.write_text(OFFLINE, encoding="utf-8")
    p = _project(tmp_path)
    ingest_files(p, "events", [f])
    p.close()
    runner = CliRunner()
    res = runner.invoke(app, ["quarantine", "--counts", "-p", str(tmp_path / "p"), "--format", "json"])
    assert res.exit_code == 0, res.output
    got = {(r["source_name"], r["reason_code"]): r["rows"] for r in json.loads(res.stdout)}
    assert got == {("events", "bad_timestamp"): 1, ("events", "unknown_event_type"): 1,
                   ("events", "wrong_column_count"): 1}
    res = runner.invoke(app, ["quarantine", "-p", str(tmp_path / "p"), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert [r["source_line"] for r in json.loads(res.stdout)] == [2, 3, 4]


def test_ingest_cli_reports_the_reconciliation(tmp_path):
    from percorso.cli import app

    f = tmp_path / "offline.csv"
    f.write_text(OFFLINE, encoding="utf-8")
    init_project(tmp_path / "p")
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "events", str(f), "-p", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert "5 = accettate / accepted 2 + quarantena / quarantined 3 + duplicati / duplicates 0" in res.output
    res = runner.invoke(app, ["ingest", "events", str(f), "-p", str(tmp_path / "p")])
    assert "already ingested" in res.output
    assert "5 = accettate / accepted 0 + quarantena / quarantined 3 + duplicati / duplicates 2" in res.output


def test_docs_sources_tables_are_current():
    from percorso.ingest.reference import kinds_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text(encoding="utf-8")
    assert kinds_markdown() in doc, "regenerate docs/sources.md from percorso.ingest.reference.kinds_markdown()"
