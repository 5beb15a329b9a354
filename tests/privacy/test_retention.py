"""Retention: rows past their rule are gone, from the tables and from the database file's bytes."""

from __future__ import annotations

import json
from datetime import datetime

from typer.testing import CliRunner

from percorso.build import run_build
from percorso.cli import app
from percorso.ingest import ingest_files
from percorso.privacy.retention import run_retention
from percorso.project import init_project, open_project

NOW = datetime(2026, 12, 1, 12, 0)


def _page(i: int, anon: str, when: str, marker: str) -> str:
    return json.dumps({"type": "page", "messageId": f"m{i}", "anonymousId": anon, "timestamp": when,
                       "context": {"page": {"url": f"https://shop.example.it/{marker}"}}})


def test_expired_rows_leave_tables_and_bytes(tmp_path):
    root = tmp_path / "proj"
    init_project(root, name="ret")
    with (root / "percorso.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[privacy.retention]]\ntable = "events"\nsource = "web"\nmonths = 26\n'
                 '\n[[privacy.retention]]\ntable = "events"\nsource = "pos"\nmonths = 24\naction = "detach"\n')
    # 26 months before 1 Dec 2026 is 1 Oct 2024: the first two pages are older, the last two not
    old = [_page(i, f"anon-old-{i}", "2024-09-15T10:00:00Z", f"vecchia-pagina-{i}-QX7") for i in range(40)]
    new = [_page(100 + i, f"anon-new-{i}", "2025-06-15T10:00:00Z", f"nuova-pagina-{i}-QX7") for i in range(40)]
    web = tmp_path / "web.jsonl"
    web.write_text("\n".join(old + new) + "\n", encoding="utf-8")
    pos = tmp_path / "pos.csv"
    pos.write_bytes(("\ufeffNegozio;Numero scontrino;Data;Ora;Carta fedeltà;Codice articolo;Descrizione;Categoria;"
                     "Quantità;Prezzo unitario;Sconto;Pagamento;Codice coupon;Riga\n"
                     "S1;10;05/03/2024;10:30;CARD77QX;A1;Pane;Food;1;3,5;0;card;;1\n"
                     "S1;11;05/03/2026;10:30;CARD88QX;A1;Pane;Food;1;3,5;0;card;;1\n").encode())
    with open_project(root) as p:
        ingest_files(p, "web", [web])
        ingest_files(p, "pos", [pos])
        run_build(p)
        assert p.engine.count("events") == 82
    db = root / "percorso.duckdb"
    assert b"anon-old-1" in db.read_bytes() or b"vecchia-pagina" in db.read_bytes()   # the scan sees them first
    # a dry run counts and deletes nothing
    with open_project(root) as p:
        dry = run_retention(p, now=NOW, dry_run=True)
        assert [r["rows"] for r in dry.rules[:2]] == [40, 1] and p.engine.count("events") == 82
    res = CliRunner().invoke(app, ["retention", "run", "--project", str(root), "--format", "json"])
    assert res.exit_code == 0, res.output   # (the CLI's now is today: same rows expire)
    with open_project(root) as p:
        e = p.engine
        assert e.count("events") == 42
        assert e.query("SELECT count(*) FROM events WHERE anonymous_id LIKE 'anon-old-%'").column(0)[0].as_py() == 0
        # their touchpoints went with them (a touchpoint's page is its event's, read by id: ADR 0061)
        assert e.query("SELECT count(*) FROM touchpoints WHERE event_id NOT IN (SELECT event_id FROM events)"
                       ).column(0)[0].as_py() == 0
        # the old receipt is kept for the tax law, without its card; the recent one keeps it
        rows = e.query("SELECT order_id, loyalty_card FROM events WHERE source_name = 'pos' ORDER BY order_id").to_pylist()
        assert [r["loyalty_card"] for r in rows] == [None, "CARD88QX"]
        log = e.query("SELECT action, rows_removed FROM privacy_log").to_pylist()
        assert log == [{"action": "retention", "rows_removed": 41}]
        again = run_retention(p, now=NOW)
        assert again.total == 0   # nothing twice
    data = b"".join(f.read_bytes() for f in root.rglob("*") if f.is_file())
    for i in range(40):
        assert f"anon-old-{i}".encode() not in data and f"vecchia-pagina-{i}-".encode() not in data
    assert b"CARD77QX" not in data
    assert b"anon-new-1" in data or b"nuova-pagina" in data   # what did not expire is still there


def test_the_server_schedule(tmp_path):
    """``[privacy] retention_every_hours``: due when never run or that long ago; 0 turns it off."""
    from datetime import timedelta

    from percorso.privacy.retention import retention_due, scheduled_retention

    init_project(tmp_path / "p", name="s")
    with open_project(tmp_path / "p") as p:
        assert not retention_due(p, NOW)                        # off unless asked for
        p.settings.privacy = {"retention_every_hours": 24}
        assert retention_due(p, NOW)
        first = scheduled_retention(p, NOW)
        assert first is not None and first.total == 0          # nothing to expire, but the run is logged
        assert not retention_due(p, NOW + timedelta(hours=23))
        assert scheduled_retention(p, NOW + timedelta(hours=23)) is None
        assert retention_due(p, NOW + timedelta(hours=24))
        p.settings.privacy = {"retention_every_hours": 0}
        assert not retention_due(p, NOW + timedelta(days=400))
