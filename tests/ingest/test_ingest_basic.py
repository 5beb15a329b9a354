"""Hand-written files: bad rows quarantined with the right reason and line, good rows kept, re-ingest adds 0."""

from pathlib import Path

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

POS = ("\ufeffNegozio;Numero scontrino;Data;Ora;Carta fedeltà;Codice articolo;Descrizione;Categoria;Quantità;"
       "Prezzo unitario;Sconto;Pagamento;Codice coupon;Riga\n"
       "S1;10;05/03/2025;10:30;ab 12;A1;Pane;Food;2;1.234,50;0;card;;1\n"
       "S1;10;05/03/2025;10:30;ab 12;A2;Latte;Food;1;3,5;0;card;;2\n"
       "S1;11;05/03/2025;xx;;A2;Latte;Food;1;3,5;0;card;;1\n"
       "S1;12;05/03/2025\n"
       "S2;13;06/03/2025;11:00;;A2;Latte;Food;uno;3,5;0;card;;1\n")


def _project(tmp_path: Path):
    init_project(tmp_path / "p")
    return open_project(tmp_path / "p")


def test_pos_csv_quarantine_and_reingest(tmp_path):
    f = tmp_path / "pos.csv"
    f.write_bytes(POS.encode())
    p = _project(tmp_path)
    (r,) = ingest_files(p, "pos", [f])
    assert (r.rows_read, r.accepted, r.quarantined, r.duplicates) == (5, 2, 3, 0)
    q = p.engine.con.execute("SELECT source_line, reason_code FROM quarantine ORDER BY source_line").fetchall()
    assert q == [(3, "bad_timestamp"), (4, "wrong_column_count"), (5, "bad_number")]
    ev = p.engine.con.execute("SELECT event_type, revenue, occurred_at, loyalty_card FROM events").fetchall()
    # 2 × 1234.50 + 3.50; 10:30 Rome (CET, UTC+1) = 09:30 UTC
    assert ev[0][0] == "receipt" and ev[0][1] == 2472.5 and ev[0][2].hour == 9 and ev[0][3] == "AB12"
    (r2,) = ingest_files(p, "pos", [f])
    assert (r2.accepted, r2.duplicates, r2.quarantined) == (0, 2, 3)
    assert p.engine.count("events") == 1 and p.engine.count("quarantine") == 3


def test_web_jsonl_utm_skew_and_pii(tmp_path):
    f = tmp_path / "w.jsonl"
    f.write_text(
        '{"type":"page","messageId":"m1","anonymousId":"a1","timestamp":"2025-03-05T10:00:00Z","context":{"page":'
        '{"url":"https://x.it/?utm_source=Google&utm_medium=CPC&gclid=abc"},"traits":{"email":" Mario@X.IT "}}}\n'
        '{bad\n'
        '{"type":"track","event":"Order Completed","messageId":"m2","userId":"u1","originalTimestamp":'
        '"2025-03-05T10:00:00Z","sentAt":"2025-03-05T10:00:10Z","receivedAt":"2025-03-05T10:00:05Z"}\n'
        '{"type":"track","event":"Weird","messageId":"m3","timestamp":"2025-03-05T10:00:00Z"}\n')
    p = _project(tmp_path)
    (r,) = ingest_files(p, "web", [f])
    assert (r.rows_read, r.accepted, r.quarantined) == (4, 2, 2)
    q = p.engine.con.execute("SELECT source_line, reason_code FROM quarantine ORDER BY 1").fetchall()
    assert q == [(2, "bad_json"), (4, "unknown_event_type")]
    rows = dict(p.engine.con.execute("SELECT source_key, occurred_at FROM events").fetchall())
    assert rows["m2"].second == 55  # 10:00:05 − (10:00:10 − 10:00:00)
    u = p.engine.con.execute("SELECT utm_source, utm_medium, click_id_type, click_id FROM events "
                             "WHERE source_key = 'm1'").fetchall()
    assert u == [("google", "cpc", "gclid", "abc")]
    dump = str(p.engine.con.execute("SELECT * FROM events").fetchall()).lower()
    assert "mario@x.it" not in dump
