"""Issue 22, hand-computed: whole orders, values as written, encodings, restated costs, per-file outcomes."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

ORDERS = "order_id;line_no;order_date;email;sku;quantity;unit_price\n"


def _project(tmp_path, toml_extra: str = ""):
    init_project(tmp_path / "p")
    if toml_extra:
        cfg = tmp_path / "p" / "percorso.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + "\n" + toml_extra, encoding="utf-8")
    return open_project(tmp_path / "p")


def _q(p):
    return p.engine.con.execute("SELECT source_line, reason_code, message FROM quarantine ORDER BY 1").fetchall()


def test_order_with_a_bad_line_waits_whole_for_its_corrected_export(tmp_path):
    bad = tmp_path / "o1.csv"
    bad.write_text(ORDERS + "A1;1;05/03/2025 10:00;a@x.it;S1;1;98,00\n"
                   "A1;2;05/03/2025 10:00;a@x.it;S2;1;\"1,299.00\"\n"  # a US-formatted price in an Italian file
                   "B2;1;06/03/2025 11:00;b@x.it;S3;2;10,50\n", encoding="utf-8")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "ecommerce", [bad])
        assert (r.accepted, r.quarantined) == (1, 2)
        q = _q(p)
        assert [(line, code) for line, code, _ in q] == [(1, "incomplete_order"), (2, "bad_number")]
        assert "row 2" in q[0][2] and "bad_number" in q[0][2]
        assert p.engine.con.execute("SELECT order_id, revenue FROM events").fetchall() == [("B2", 21.0)]
        good = tmp_path / "o2.csv"
        good.write_text(bad.read_text(encoding="utf-8").replace('"1,299.00"', "1.170,00"), encoding="utf-8")
        (r2,) = ingest_files(p, "ecommerce", [good])
        assert (r2.accepted, r2.duplicates) == (2, 1)
        assert p.engine.con.execute("SELECT revenue FROM events WHERE order_id = 'A1'").fetchall() == [(1268.0,)]


def test_receipt_with_a_bad_line_waits_whole_and_italian_prices_are_thousands(tmp_path):
    head = "negozio;numero_scontrino;data;ora;articolo;qta;prezzo;sconto\n"
    bad = tmp_path / "r1.csv"
    bad.write_text(head + "MI01;7;28/01/2024;06:43;S1;1;1.299;0,00\n"
                   "MI01;7;28/01/2024;06:43;S2;uno;12;0,00\n"
                   "MI01;7;29/01/2024;09:00;S1;1;1.299;300,00\n", encoding="latin-1")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "pos", [bad])
        assert (r.accepted, r.quarantined) == (1, 2)  # receipt 7 of the 29th is another receipt
        assert p.engine.con.execute("SELECT event_type, revenue FROM events").fetchall() == [("receipt", 999.0)]
        good = tmp_path / "r2.csv"  # the corrected export, written with date and time in one column
        good.write_text("store_id;receipt_number;timestamp;sku;quantity;unit_price;discount\n"
                        "MI01;7;2024-01-28 06:43;S1;1;1.299;0\nMI01;7;2024-01-28 06:43;S2;1;12;0\n"
                        "MI01;7;2024-01-29 09:00;S1;1;1.299;300,00\n", encoding="utf-8")
        (r2,) = ingest_files(p, "pos", [good])
        assert (r2.accepted, r2.duplicates, r2.quarantined) == (2, 1, 0)
        assert sorted(p.engine.con.execute("SELECT revenue FROM events").fetchall()) == [(999.0,), (1311.0,)]


def test_ambiguous_numbers_are_quarantined_not_guessed(tmp_path):
    f = tmp_path / "o.csv"
    f.write_text("order_id,order_date,quantity,unit_price\nA,2025-03-05,1,1.299\nB,2025-03-05,1,12\n", encoding="utf-8")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "ecommerce", [f])
        assert (r.accepted, r.quarantined) == (1, 1)
        ((_, code, msg),) = _q(p)
        assert code == "bad_number" and "ambiguous" in msg
    with _project(tmp_path / "conf", '[sources.shop]\nkind = "ecommerce"\ndecimal = ","\n') as p:
        (r,) = ingest_files(p, "shop", [f])
        assert r.accepted == 2
        assert p.engine.con.execute("SELECT revenue FROM events ORDER BY order_id").fetchall() == [(1299.0,), (12.0,)]


def test_booleans_from_the_vocabulary_only(tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text("crm_id;updated_at;consenso_marketing\nK1;2025-01-02 09:00;sì\nK2;2025-01-02 09:00;forse\n"
                 "K3;2025-01-02 09:00;x\nK4;2025-01-02 09:00;\n", encoding="utf-8")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "crm", [f])
        assert [(line, code) for line, code, _ in _q(p)] == [(2, "bad_boolean"), (3, "bad_boolean")]
        assert p.engine.con.execute("SELECT crm_id, consent_marketing FROM contact_profiles ORDER BY 1").fetchall() == [
            ("K1", True), ("K4", None)]
    cfg = '[sources.crm_x]\nkind = "crm"\ntrue_values = ["x"]\nfalse_values = [""]\n'
    with _project(tmp_path / "x", cfg) as p:
        ingest_files(p, "crm_x", [f])
        assert p.engine.con.execute("SELECT crm_id, consent_marketing FROM contact_profiles ORDER BY 1").fetchall() == [
            ("K3", True), ("K4", False)]


def test_parquet_fractional_counts_and_boolean_costs_are_refused(tmp_path):
    clicks, costs = tmp_path / "clicks.parquet", tmp_path / "costs.parquet"
    pq.write_table(pa.table({"date": ["2025-03-01", "2025-03-02"], "cost": [1.0, 2.0], "clicks": [3.0, 1.7]}), clicks)
    pq.write_table(pa.table({"date": ["2025-03-03"], "cost": [True]}), costs)
    with _project(tmp_path) as p:
        r1, r2 = ingest_files(p, "campaign_costs", [clicks, costs])
        assert (r1.accepted, r1.quarantined, r2.accepted, r2.quarantined) == (1, 1, 0, 1)
        msgs = [m for _, _, m in _q(p)]
        assert any("whole number" in m and "1.7" in m for m in msgs) and any("BOOLEAN" in m for m in msgs)
        assert p.engine.con.execute("SELECT clicks, cost FROM campaign_costs").fetchall() == [(3, 1.0)]


def test_pos_json_lines_keep_the_time_of_day(tmp_path):
    f = tmp_path / "pos.jsonl"
    f.write_text('{"negozio": "MI01", "scontrino": "1", "data": "28/01/2024", "ora": "06:43", "prezzo": 10}\n',
                 encoding="utf-8")
    with _project(tmp_path) as p:
        ingest_files(p, "pos", [f])
        (ts,) = p.engine.con.execute("SELECT strftime(occurred_at, '%H:%M') FROM events").fetchall()[0]
        assert ts == "05:43"  # 06:43 in Rome (UTC+1 in January)


def test_implausible_years_are_quarantined(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("event_id,timestamp,user_id,event\n1,0001-01-01 10:00,u,page_view\n2,9999-12-31 10:00,u,page_view\n"
                 "3,2025-01-01 10:00,u,page_view\n", encoding="utf-8")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "clickstream", [f])
        assert r.accepted == 1 and [c for _, c, _ in _q(p)] == ["implausible_time"] * 2


def test_empty_ids_are_missing_ids(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("event_id,timestamp,user_id,event\n,2025-01-01 10:00,u1,page_view\n,2025-01-01 10:01,u1,page_view\n"
                 ",2025-01-01 10:02,u2,page_view\n", encoding="utf-8")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "clickstream", [f])
        assert (r.accepted, r.duplicates) == (3, 0)


def test_email_events_without_id_do_not_grow_with_overlapping_monthly_exports(tmp_path):
    rows = [f"p{i}@x.it,open,2025-0{1 + i // 3}-0{1 + i % 3} 10:00\n" for i in range(9)]
    head = "email,event,timestamp\n"
    with _project(tmp_path) as p:
        for k, part in enumerate((rows[:6], rows[3:], rows)):
            f = tmp_path / f"m{k}.csv"
            f.write_text(head + "".join(part), encoding="utf-8")
            ingest_files(p, "esp", [f])
        assert p.engine.count("events") == 9


def test_latin1_rows_after_64_kib_of_utf8_are_read(tmp_path):
    f = tmp_path / "crm.csv"
    head = "crm_id;updated_at;first_name\n".encode()
    utf8 = "".join(f"K{i};2025-01-02 09:00;Zoë{i}\n" for i in range(4000)).encode("utf-8")
    latin = "K9999;2025-01-02 09:00;Niccolò\n".encode("latin-1")
    f.write_bytes(head + utf8 + latin)
    assert len(utf8) > 65536
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "crm", [f])
        assert (r.accepted, r.quarantined) == (4001, 0)
        assert p.engine.con.execute("SELECT first_name FROM contact_profiles WHERE crm_id = 'K9999'").fetchall() == [
            ("Niccolò",)]


def test_restated_costs_replace_the_day_and_keep_history(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("date,channel,campaign,cost\n2025-03-01,Paid Search,spring,100.00\n2025-03-02,Paid Search,spring,50.00\n")
    b.write_text("date,channel,campaign,cost\n2025-03-01,Paid Search,spring,100.00\n2025-03-02,Paid Search,spring,61.50\n")
    with _project(tmp_path) as p:
        ingest_files(p, "campaign_costs", [a])
        (r,) = ingest_files(p, "campaign_costs", [b])
        assert (r.accepted, r.duplicates, r.restated) == (1, 1, 1)
        assert p.engine.con.execute("SELECT date::VARCHAR, cost FROM campaign_costs ORDER BY 1").fetchall() == [
            ("2025-03-01", 100.0), ("2025-03-02", 61.5)]
        assert p.engine.con.execute("SELECT cost, replaced_by_run FROM campaign_costs_history").fetchall() == [
            (50.0, r.ingest_run_id)]


def test_one_bad_file_does_not_roll_back_the_good_ones(tmp_path):
    good1, bad, good2 = tmp_path / "a.csv", tmp_path / "b.parquet", tmp_path / "c.csv"
    good1.write_text("event_id,timestamp,user_id,event\n1,2025-01-01 10:00,u,page_view\n")
    bad.write_bytes(b"PAR1 broken")
    good2.write_text("event_id,timestamp,user_id,event\n2,2025-01-01 10:00,u,page_view\n")
    with _project(tmp_path) as p:
        reps = ingest_files(p, "clickstream", [good1, bad, good2])
        assert [r.error_code for r in reps] == [None, "file_unreadable", None]
        assert p.engine.count("events") == 2


def test_xlsx_numbers_are_numbers_not_ambiguous_text(tmp_path):
    from openpyxl import Workbook

    f = tmp_path / "o.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["order_id", "order_date", "quantity", "unit_price"])
    ws.append(["A", "2025-03-05", 2, 1.299])
    wb.save(f)
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "ecommerce", [f])
        assert r.accepted == 1
        assert p.engine.con.execute("SELECT revenue FROM events").fetchall() == [(2.6,)]


def test_xlsx_receipt_date_and_time_cells_keep_the_time(tmp_path):
    import datetime as dt

    from openpyxl import Workbook

    f = tmp_path / "r.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["negozio", "scontrino", "data", "ora", "prezzo"])
    ws.append(["MI01", 4, dt.datetime(2024, 1, 28), dt.time(6, 43), 10])
    wb.save(f)
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "pos", [f])
        assert r.accepted == 1
        assert p.engine.con.execute("SELECT strftime(occurred_at, '%H:%M') FROM events").fetchall() == [("05:43",)]


def test_json_numbers_are_numbers_not_ambiguous_text(tmp_path):
    f = tmp_path / "pos.jsonl"
    f.write_text('{"negozio": "MI01", "scontrino": "1", "data": "2024-01-28 10:00", "prezzo": 1.299, "qta": 2}\n'
                 '{"negozio": "MI01", "scontrino": "2", "data": "2024-01-28 11:00", "prezzo": "1.299,00", "qta": 1}\n',
                 encoding="utf-8")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "pos", [f])
        assert r.accepted == 2
        assert p.engine.con.execute("SELECT revenue FROM events ORDER BY occurred_at").fetchall() == [(2.6,), (1299.0,)]
