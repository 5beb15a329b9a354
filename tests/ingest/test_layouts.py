"""Files as users have them: minimal columns, line endings, compression, Excel layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project


def _project(tmp_path: Path):
    init_project(tmp_path / "p")
    return open_project(tmp_path / "p")


def test_orders_without_line_numbers(tmp_path):
    """The five columns a shop export often has; no line_no: lines keep their file order."""
    f = tmp_path / "orders.csv"
    f.write_text("order_id,customer_id,order_date,quantity,unit_price\n"
                 "O1,C1,2025-01-02,1,10.5\nO1,C1,2025-01-02,2,3\nO2,C2,2025-01-03,2,3\n", encoding="utf-8")
    p = _project(tmp_path)
    (r,) = ingest_files(p, "ecommerce", [f])
    assert (r.rows_read, r.accepted, r.quarantined, r.events_written) == (3, 3, 0, 2)
    rows = p.engine.con.execute("SELECT order_id, user_id, revenue, items FROM events ORDER BY 1").fetchall()
    assert [(o, u, rev) for o, u, rev, _ in rows] == [("O1", "C1", 16.5), ("O2", "C2", 6.0)]
    assert [i["qty"] for i in json.loads(rows[0][3])] == [1, 2]
    p.close()


# One logical table (3 lines, 2 orders), written the ways office software, tills and Excel write it.
ROWS = [("A-1", "05/03/2025 10:30", "Sedia", "2", "10,50"), ("A-1", "05/03/2025 10:30", "Tavolo", "1", "100"),
        ("B-2", "06/03/2025 18:00", "Lampada \"Arco\"; nera", "1", "1.234,00")]
HEADER = ["Numero ordine", "Data ordine", "Descrizione", "Quantità", "Prezzo unitario"]


def _csv(rows, header=HEADER, delim=";", eol="\r\n", head_eol=None, trailing="") -> str:  # noqa: ANN001
    def cell(v: str) -> str:
        return f'"{v.replace(chr(34), chr(34) * 2)}"' if (delim in v or '"' in v) else v
    lines = [delim.join(cell(c) for c in header) + trailing + (head_eol or eol)]
    lines += [delim.join(cell(c) for c in r) + trailing + eol for r in rows]
    return "".join(lines)


def _write(tmp_path: Path, layout: str) -> Path:
    import gzip
    import zipfile

    f = tmp_path / "ordini.csv"
    if layout == "excel_semicolon_bom_crlf":
        f.write_bytes(b"\xef\xbb\xbf" + _csv(ROWS).encode("utf-8"))
    elif layout == "header_lf_rows_crlf":
        f.write_bytes(_csv(ROWS, head_eol="\n").encode("utf-8"))
    elif layout == "crlf_rows_lf_inside_quotes":  # Excel: a cell with a line break is quoted, the break is LF
        rows = [ROWS[0], ROWS[1], (*ROWS[2][:2], "Lampada\nda terra", *ROWS[2][3:])]
        text = _csv(rows).replace("Lampada\nda terra", '"Lampada\nda terra"')
        f.write_bytes(text.encode("utf-8"))
    elif layout == "old_mac_cr":
        f.write_bytes(_csv(ROWS, eol="\r").encode("latin-1"))
    elif layout == "sep_line_latin1":  # Excel's "sep=;" hint line, Windows-1252/Latin-1 text
        f.write_bytes(("sep=;\r\n" + _csv(ROWS)).encode("latin-1"))
    elif layout == "trailing_empty_columns_and_lines":  # a range formatted past the data
        text = _csv(ROWS, header=[*HEADER], trailing=";;") + ";;;;;;\r\n;;;;;;\r\n\r\n"
        f.write_bytes(text.encode("utf-8"))
    elif layout == "header_spaces_case_accents":
        f.write_bytes(_csv(ROWS, header=["  NUMERO ORDINE ", "data ordine", "DESCRIZIONE", " quantita'", "Prezzo  Unitario"])
                      .encode("utf-8"))
    elif layout == "utf16_tab":  # Excel "Testo Unicode": UTF-16 LE with BOM, tab separated
        f = tmp_path / "ordini.txt"
        f.write_bytes(_csv(ROWS, delim="\t").encode("utf-16"))
    elif layout == "gzip":
        f = tmp_path / "ordini.csv.gz"
        f.write_bytes(gzip.compress(_csv(ROWS).encode("utf-8")))
    elif layout == "gzip_mixed_newlines":
        f = tmp_path / "ordini.csv.gz"
        f.write_bytes(gzip.compress(_csv(ROWS, head_eol="\n").encode("utf-8")))
    elif layout == "zip":
        f = tmp_path / "ordini.zip"
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("export/ordini.csv", _csv(ROWS))
            z.writestr("__MACOSX/export/._ordini.csv", b"\x00")
    elif layout == "xlsx_trailing_columns":
        from openpyxl import Workbook

        f = tmp_path / "ordini.xlsx"
        wb = Workbook()
        ws = wb.active
        ws.append([*(f" {h} " for h in HEADER), None, None])
        for r in ROWS:
            ws.append([r[0], r[1], r[2], int(r[3]), float(r[4].replace(".", "").replace(",", "."))])
        ws.append([None] * 7)
        wb.save(f)
    return f


LAYOUTS = ["excel_semicolon_bom_crlf", "header_lf_rows_crlf", "crlf_rows_lf_inside_quotes", "old_mac_cr",
           "sep_line_latin1", "trailing_empty_columns_and_lines", "header_spaces_case_accents", "utf16_tab", "gzip",
           "gzip_mixed_newlines", "zip", "xlsx_trailing_columns"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_users_have_import_the_same_orders(tmp_path, layout):
    f = _write(tmp_path, layout)
    p = _project(tmp_path)
    (r,) = ingest_files(p, "ecommerce", [f])
    assert (r.rows_read, r.accepted, r.quarantined, r.events_written) == (3, 3, 0, 2), layout
    rows = p.engine.con.execute("SELECT order_id, revenue, properties, items FROM events ORDER BY 1").fetchall()
    assert [(o, rev) for o, rev, _, _ in rows] == [("A-1", 121.0), ("B-2", 1234.0)]
    assert p.engine.count("quarantine") == 0
    products = [i["product"] for i in json.loads(rows[1][3])]
    assert products[0].startswith("Lampada"), products
    p.close()


def test_rows_ending_in_a_delimiter_the_header_lacks(tmp_path):
    """``a;b;c`` over ``1;2;3;``: the empty trailing field is not a fourth column, nor a bad row;
    a row with real values past it is still refused."""
    f = tmp_path / "ordini.csv"
    f.write_text("order_id;order_date;unit_price\r\nA;2025-03-05;10;\r\nB;2025-03-06;20;\r\n"
                 "C;2025-03-07;30;oops;x\r\n", encoding="utf-8")
    p = _project(tmp_path)
    (r,) = ingest_files(p, "ecommerce", [f])
    assert (r.rows_read, r.accepted, r.quarantined) == (3, 2, 1)
    assert p.engine.con.execute("SELECT source_line, reason_code FROM quarantine").fetchall() == [
        (3, "wrong_column_count")]
    assert p.engine.con.execute("SELECT order_id, revenue FROM events ORDER BY 1").fetchall() == [
        ("A", 10.0), ("B", 20.0)]
    p.close()
