"""A new project's ``event_store`` keeps ``event_type``, ``source_kind`` and ``source_system`` as
enumerations of the values the code writes (ADR 0082); readers see text, and an older store keeps text.

Oracles: the values written by hand, read back through ``events`` and compared with what was
written; the contract's types (``EVENT_COLUMNS``) for what readers see.
"""

from pathlib import Path

import pyarrow as pa

from percorso.activation.outbox import TOUCHPOINT_TYPE
from percorso.build import run_build
from percorso.engine import event_store as ES
from percorso.engine.privacy_sql import retention_apply
from percorso.events.schema import ACTIVATION_SOURCE, EVENT_COLUMNS, arrow_schema, enumerated_columns
from percorso.ingest import ingest_files
from percorso.ingest.kinds import KINDS
from percorso.ingest.pipeline import _enumerated_values
from percorso.privacy.erasure import erase
from percorso.project import init_project, open_project

CONTRACT = [(c.name, c.sql_type) for c in EVENT_COLUMNS]
ENUMERATED = ("event_type", "source_kind", "source_system")


def _store_types(p) -> dict[str, str]:
    return dict(p.engine.con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                     "WHERE table_name = 'event_store'").fetchall())


def _batch(rows: list[dict]) -> pa.Table:
    base = {"schema_version": 1, "occurred_at": None, "received_at": None, "source_name": "s", "online": True}
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=arrow_schema())


def _web(tmp_path: Path, names: list[str]) -> Path:
    f = tmp_path / "clicks.csv"
    f.write_text("event_id,user_id,event_name,timestamp\n" + "".join(
        f"e{i},u{i % 2},{n},2025-03-0{1 + i % 9} 10:00:00\n" for i, n in enumerate(names)), encoding="utf-8")
    return f


class _Source:   # a source without a mapping of its own
    mapping: dict = {}


def test_every_value_the_code_writes_is_in_the_enumerations():
    """What each kind's import may write, and the outbox's sends: never a conversion to text."""
    vocab = enumerated_columns()
    for kind in KINDS.values():
        for column, values in _enumerated_values(kind, _Source(), {"event_name": None}).items():
            assert {v for v in values if v is not None} <= vocab[column], (kind.name, column)
    assert set(TOUCHPOINT_TYPE.values()) <= vocab["event_type"]
    assert ACTIVATION_SOURCE in vocab["source_kind"] and ACTIVATION_SOURCE in vocab["source_system"]


def test_a_new_store_takes_every_value_of_its_enumerations(tmp_path):
    init_project(tmp_path / "p")
    vocab = enumerated_columns()
    longest = max(len(v) for v in vocab.values())
    rows = [{"event_id": f"e{i}", **{c: sorted(vocab[c])[i % len(vocab[c])] for c in ENUMERATED}}
            for i in range(longest)]
    with open_project(tmp_path / "p") as p:
        types = _store_types(p)
        assert all(types[c].startswith("ENUM(") for c in ENUMERATED)
        assert ES.append_arrow(p.engine, _batch(rows)) == longest
        assert _store_types(p) == types   # no column turned to text
        got = p.engine.query(f"SELECT event_id, {', '.join(ENUMERATED)} FROM events").to_pylist()
        assert sorted(got, key=lambda r: r["event_id"]) == sorted(
            ({"event_id": r["event_id"], **{c: r[c] for c in ENUMERATED}} for r in rows), key=lambda r: r["event_id"])
        # readers see the contract's types, and every value of each column as written
        assert [(r[0], r[1]) for r in p.engine.con.execute("DESCRIBE events").fetchall()] == CONTRACT
        for c in ENUMERATED:
            assert {r[0] for r in p.engine.con.execute(f"SELECT DISTINCT {c} FROM events").fetchall()} == vocab[c]
        assert p.engine.table("events").schema()[ENUMERATED[0]].is_string()


def test_a_value_outside_turns_the_column_to_text_and_keeps_the_rows(tmp_path):
    """A source's mapping to a type of its own (and a batch of a type the code does not write)."""
    init_project(tmp_path / "p")
    with (tmp_path / "p" / "percorso.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[sources.clicks]\nkind = "clickstream"\nmapping = { "event.video" = "video_play" }\n')
    with open_project(tmp_path / "p") as p:
        ES.append_arrow(p.engine, _batch([{"event_id": "x1", "event_type": "purchase", "source_kind": "web",
                                           "source_system": "web"}]))
        rep = ingest_files(p, "clicks", [_web(tmp_path, ["video", "page_view", "catalog"])])[0]
        assert rep.accepted == 3
        types = _store_types(p)
        assert types["event_type"] == "VARCHAR"   # the mapping's type is no value of the enumeration
        assert types["source_kind"].startswith("ENUM(") and types["source_system"].startswith("ENUM(")
        got = p.engine.con.execute("SELECT event_name, event_type, source_kind FROM events").fetchall()
        assert sorted(got, key=str) == sorted([
            ("catalog", "custom", "clickstream"), ("video", "video_play", "clickstream"),
            ("page_view", "page_view", "clickstream"), (None, "purchase", "web")], key=str)
        ES.append_arrow(p.engine, _batch([{"event_id": "x2", "event_type": "purchase", "source_kind": "mine",
                                           "source_system": "web"}]))
        assert _store_types(p)["source_kind"] == "VARCHAR"
        assert p.engine.query("SELECT source_kind FROM events WHERE event_id = 'x2'").column(0).to_pylist() == ["mine"]
        assert [(r[0], r[1]) for r in p.engine.con.execute("DESCRIBE events").fetchall()] == CONTRACT


def test_an_older_text_store_keeps_text(tmp_path):
    """A store made before ADR 0082 (its columns text): imports and sends write into it as text."""
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        for c in ENUMERATED:
            p.engine.con.execute(f"ALTER TABLE event_store ALTER COLUMN {c} TYPE VARCHAR")
        ES.refresh_views(p.engine.con)
        ingest_files(p, "clickstream", [_web(tmp_path, ["page_view", "catalog"])])
        ES.append_arrow(p.engine, _batch([{"event_id": "x1", "event_type": "email_sent",
                                           "source_kind": ACTIVATION_SOURCE, "source_system": ACTIVATION_SOURCE}]))
        assert all(_store_types(p)[c] == "VARCHAR" for c in ENUMERATED)
        got = p.engine.con.execute("SELECT event_type, source_kind, source_system FROM events").fetchall()
        assert sorted(got) == [("custom", "clickstream", "web"), ("email_sent", "activation", "activation"),
                               ("page_view", "clickstream", "web")]
        assert [(r[0], r[1]) for r in p.engine.con.execute("DESCRIBE events").fetchall()] == CONTRACT


def test_retention_erasure_and_rewrite_on_a_new_store(tmp_path):
    """Retention by event type, an erasure and the database rewrite (``COPY FROM DATABASE``) keep
    the enumerations and the other rows."""
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "clickstream", [_web(tmp_path, ["page_view", "catalog", "purchase", "page_view"])])
        assert retention_apply(p.engine, "events", "2030-01-01", source=None, event_types=["purchase"],
                               detach=False) == 1
        run_build(p)
        report = erase(p, ["u1"])   # lines 2 and 4 (3, the purchase, is gone already)
        assert report.events_deleted + report.events_detached == 2
        types = _store_types(p)
    with open_project(tmp_path / "p") as p:
        assert _store_types(p) == types and types["event_type"].startswith("ENUM(")
        assert p.engine.con.execute("SELECT source_line, event_type, source_kind, source_system FROM events "
                                    "ORDER BY source_line").fetchall() == [(1, "page_view", "clickstream", "web")]
