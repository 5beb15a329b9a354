"""``events`` as a view over ``event_store`` (ADR 0075): a sparse column is stored once a write fills it.

Oracle: the contract itself (``EVENT_COLUMNS``: names, order, types) and the values written by hand.
"""

from pathlib import Path

import pytest

from percorso.build import run_build
from percorso.engine import event_store as ES
from percorso.events.schema import EVENT_COLUMNS, SPARSE_COLUMNS
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

CONTRACT = [(c.name, c.sql_type) for c in EVENT_COLUMNS]


def _described(p) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in p.engine.con.execute("DESCRIBE events").fetchall()]


def _pos(tmp_path: Path) -> Path:
    f = tmp_path / "pos.csv"
    f.write_text("Negozio;Numero scontrino;Data;Ora;Carta fedeltà;Codice articolo;Quantità;Prezzo unitario;Riga\n"
                 "S1;10;05/03/2025;10:30;ab 12;A1;2;3,5;1\n", encoding="utf-8")
    return f


def test_a_new_project_stores_only_the_columns_every_event_has(tmp_path):
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        assert _described(p) == CONTRACT
        stored = set(ES.stored(p.engine))
        assert stored == {n for n, _ in CONTRACT} - set(SPARSE_COLUMNS)
        # the rowid view: the same columns, then the store's rowid
        assert p.engine.columns(ES.WITH_ROWID) == [n for n, _ in CONTRACT] + ["rowid"]


def test_an_import_adds_the_sparse_columns_it_fills(tmp_path):
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "pos", [_pos(tmp_path)])
        stored = set(ES.stored(p.engine))
        # a receipt fills its store, card, order and items; no URL, cookie or UTM
        assert {"store_id", "loyalty_card", "order_id", "items"} <= stored
        assert not {"page_url", "anonymous_id", "utm_source", "referrer"} & stored
        assert _described(p) == CONTRACT
        row = p.engine.con.execute("SELECT store_id, loyalty_card, revenue, page_url, rowid FROM events_with_rowid"
                                   ).fetchall()
        assert row == [("S1", "AB12", 7.0, None, 0)]   # 2 × 3.50; the card normalised


def test_a_failed_write_takes_its_new_columns_back(tmp_path):
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        before = ES.stored(p.engine)
        with pytest.raises(RuntimeError), p.engine.transaction():
            ES.writable(p.engine, ["page_url", "region"])
            assert "page_url" in ES.stored(p.engine)
            raise RuntimeError("the insert failed")
        assert ES.stored(p.engine) == before
        assert _described(p) == CONTRACT


def test_an_older_project_keeps_its_rows_under_the_view(tmp_path):
    """A database of the layout before migration 7 (``events`` a table of 42 columns, identity's view
    over it): opened by this version, the same rows through ``events``, and identity's views work."""
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "pos", [_pos(tmp_path)])
        run_build(p)
        ES.writable(p.engine, [n for n, _ in CONTRACT])
        rows = p.engine.con.execute("SELECT * FROM events").fetchall()
        con = p.engine.con
        con.execute("DROP VIEW events")
        con.execute("DROP VIEW events_with_rowid")
        con.execute("ALTER TABLE event_store RENAME TO events")
        # identity's view as versions before 7 wrote it: over the table, by its rowid
        con.execute("CREATE OR REPLACE VIEW events_identified AS SELECT e.*, e.rowid AS event_row FROM events e")
        con.execute("DELETE FROM schema_migrations WHERE version = 7")
    with open_project(tmp_path / "p") as p:
        assert len(ES.stored(p.engine)) == len(CONTRACT)
        assert p.engine.con.execute("SELECT * FROM events").fetchall() == rows
        assert _described(p) == CONTRACT
        ident = p.engine.con.execute("SELECT event_id, event_row, customer_id FROM events_identified").fetchall()
        assert [(e, r) for e, r, _ in ident] == [(rows[0][0], 0)] and ident[0][2] is not None
        assert p.engine.count("event_customers") == 1


def test_source_key_is_stored_once_a_natural_key_fills_it(tmp_path):
    """A row keyed by its content has no ``source_key`` (ADR 0074): a new store holds the column only
    once a write brings a natural key, declared uncompressed as ``event_id`` is (ADR 0052, 0086)."""
    clicks = tmp_path / "clicks.csv"
    clicks.write_text("user_id,event,timestamp\nu1,page_view,2025-01-01 10:00\nu2,login,2025-01-01 10:05\n",
                      encoding="utf-8")
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "clickstream", [clicks])
        assert "source_key" not in ES.stored(p.engine)
        assert p.engine.con.execute("SELECT count(*), count(source_key) FROM events").fetchall() == [(2, 0)]
        ingest_files(p, "pos", [_pos(tmp_path)])
        assert "source_key" in ES.stored(p.engine)
        ddl = p.engine.con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'event_store'").fetchall()[0][0]
        assert "source_key VARCHAR USING COMPRESSION Uncompressed" in ddl
        keys = p.engine.con.execute("SELECT source_kind, count(*), count(source_key) FROM events GROUP BY ALL "
                                    "ORDER BY ALL").fetchall()
        assert keys == [("clickstream", 2, 0), ("pos", 1, 1)]
        assert _described(p) == CONTRACT


def test_the_last_rowid_is_the_largest_with_gaps_too(tmp_path):
    """``LAST_ROWID`` reads only the rowids from the count on: the same as the largest rowid on an
    empty store, a full one, and one whose deletes left gaps in the middle and at the end."""
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        con = p.engine.con

        def both() -> tuple[int, int]:
            last = con.execute(f"SELECT {ES.LAST_ROWID}").fetchall()[0][0]
            return last, con.execute(f"SELECT coalesce(max(rowid), -1) FROM {ES.STORE}").fetchall()[0][0]

        assert both() == (-1, -1)
        con.execute(f"INSERT INTO {ES.STORE} (event_id) SELECT 'e' || range FROM range(10)")
        assert both() == (9, 9)
        con.execute(f"DELETE FROM {ES.STORE} WHERE event_id IN ('e2', 'e3', 'e5')")   # 7 rows, the last still 9
        assert both() == (9, 9)
        con.execute(f"DELETE FROM {ES.STORE} WHERE event_id IN ('e8', 'e9')")         # 5 rows, the last 7
        assert both() == (7, 7)
        con.execute(f"DELETE FROM {ES.STORE}")
        assert both() == (-1, -1)
