"""Files as users have them: minimal columns, line endings, compression, Excel layouts."""

from __future__ import annotations

import json
from pathlib import Path

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
