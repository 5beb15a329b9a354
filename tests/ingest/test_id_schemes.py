"""Event id schemes (ADR 0063): a project keeps its scheme, and under each one a re-import finds
the same rows again.

Oracle: the definitions of :data:`percorso.ingest.plan.ID_SCHEMES` written again in Python
(``hashlib``, ``json``) over the generated rows: scheme 1 ``sha256`` of ``to_json([name, value,
...])`` and of ``source|record key``; scheme 2 ``md5`` of ``md5(to_json([source, name, ...]))``
then ``to_json([value, ...])``, of ``key:n`` for a later copy and of ``source|key`` for a natural key;
the stored ``source_key`` is the natural key, none for a row keyed by its content (ADR 0074).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from percorso.engine import ingest_sql as S
from percorso.ingest import ingest_files, pipeline
from percorso.project import init_project, open_project

SOURCE = "clickstream"


def _rows(seed: int, n: int, start: int = 0) -> list[tuple[str, str, dt.datetime, str]]:
    """``n`` rows (user, event, local time, session); about one in five repeats an earlier row
    exactly (two page views in the same second), some three times."""
    rng = random.Random(seed)
    out: list[tuple[str, str, dt.datetime, str]] = []
    for i in range(n):
        if out and rng.random() < 0.2:
            out.append(rng.choice(out))
            continue
        user = f"u{rng.randrange(40)}"
        when = dt.datetime(2025, 3, 1) + dt.timedelta(seconds=rng.randrange(86400 * 60), microseconds=start + i)
        out.append((user, rng.choice(["page_view", "add_to_cart", "search"]), when, f"s-{user}-{rng.randrange(3)}"))
    return out


def _csv(path: Path, rows: list[tuple], ids: list[str] | None = None) -> Path:
    head = "user_id,event_name,occurred_at,session_id" + (",event_id" if ids else "")
    lines = [f"{u},{e},{t.isoformat(sep=' ')},{s}" + (f",{ids[i]}" if ids else "")
             for i, (u, e, t, s) in enumerate(rows)]
    path.write_text("\n".join([head, *lines]) + "\n", encoding="utf-8")
    return path


def _values(row: tuple) -> list[tuple[str, str]]:
    """(name, key text) of a row's typed values, names sorted (the instant in UTC)."""
    u, e, t, s = row
    utc = t.replace(tzinfo=ZoneInfo("Europe/Rome")).astimezone(dt.UTC).replace(tzinfo=None)
    return [("event_name", e), ("occurred_at", utc.strftime("%Y-%m-%dT%H:%M:%S.%f")), ("session_id", s),
            ("user_id", u)]


def _json(items: list) -> str:
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _oracle(rows: list[tuple], scheme: int, ids: list[str] | None = None) -> list[tuple[str, str | None]]:
    """(event_id, source_key) of each line, by the definition of ``scheme``: a row with an id
    stores it as its key, a row keyed by its content (no id, or an empty one) stores none (ADR
    0074), its id hashing the record key ``c:<content key>:<n>`` all the same."""
    out, seen = [], {}
    for i, row in enumerate(rows):
        if ids and ids[i]:
            key = ids[i]
            out.append((_sha(f"{SOURCE}|{key}") if scheme == 1 else _md5(f"{SOURCE}|{key}"), key))
            continue
        pairs = _values(row)
        if scheme == 1:
            ckey = _sha(_json([x for pair in pairs for x in pair]))
        else:
            ckey = _md5(_md5(_json([SOURCE, *(n for n, _ in pairs)])) + _json([v for _, v in pairs]))
        n = seen[ckey] = seen.get(ckey, 0) + 1
        key = f"c:{ckey}:{n}"
        if scheme == 1:
            out.append((_sha(f"{SOURCE}|{key}"), None))
        else:
            out.append((ckey if n == 1 else _md5(f"{ckey}:{n}"), None))
    return out


def _project(tmp_path: Path, scheme: int):
    """A new project; scheme 1 as an older project records it."""
    init_project(tmp_path / "p")
    p = open_project(tmp_path / "p")
    assert S.id_scheme(p.engine) == 2  # a new project
    if scheme == 1:
        p.engine.con.execute("UPDATE project_meta SET value = '1' WHERE key = 'id_scheme'")
    assert S.id_scheme(p.engine) == scheme
    return p


def _stored(p) -> list[tuple[str, str]]:
    return p.engine.con.execute("SELECT event_id, source_key FROM events ORDER BY source_file, source_line").fetchall()


@pytest.mark.parametrize("scheme", [1, 2])
def test_ids_are_the_definition_of_the_scheme(tmp_path, scheme):
    rows = _rows(1, 300)
    assert len(set(rows)) < len(rows)  # copies of one content
    ids = [f"ev-{i:04d}" for i in range(len(rows))]
    with _project(tmp_path, scheme) as p:
        (a,) = ingest_files(p, SOURCE, [_csv(tmp_path / "a.csv", rows)])
        (b,) = ingest_files(p, SOURCE, [_csv(tmp_path / "b.csv", rows, ids)])
        assert (a.accepted, b.accepted) == (len(rows), len(rows))
        assert _stored(p) == _oracle(rows, scheme) + _oracle(rows, scheme, ids)
        # identical rows of a file are distinct events
        assert p.engine.con.execute("SELECT count(DISTINCT event_id) FROM events").fetchall()[0][0] == 2 * len(rows)


@pytest.mark.parametrize("straight", [True, False])
@pytest.mark.parametrize("scheme", [1, 2])
def test_a_content_keyed_row_stores_no_key(tmp_path, monkeypatch, scheme, straight):
    """A file without ids (a first import, straight or through the typed table), then one whose id
    column is empty on some rows: ids as the scheme defines them, copies numbered among the rows
    without an id, ``source_key`` NULL for those rows and the id's text for the others."""
    monkeypatch.setattr(pipeline, "FIRST_IMPORT_STRAIGHT", straight)
    rows = _rows(7, 300)
    mixed = _rows(8, 200)
    ids = [f"m-{i:04d}" if i % 3 else "" for i in range(len(mixed))]
    assert len(set(r for r, i in zip(mixed, ids) if not i)) < ids.count("")  # copies among the rows without an id
    with _project(tmp_path, scheme) as p:
        (a,) = ingest_files(p, SOURCE, [_csv(tmp_path / "a.csv", rows)])
        (b,) = ingest_files(p, SOURCE, [_csv(tmp_path / "b.csv", mixed, ids)])
        assert (a.accepted, b.accepted) == (len(rows), len(mixed))
        stored = _stored(p)
        assert stored == _oracle(rows, scheme) + _oracle(mixed, scheme, ids)
        assert [k for _, k in stored] == [None] * len(rows) + [i or None for i in ids]
        assert len({e for e, _ in stored}) == len(rows) + len(mixed)  # identical rows are distinct events
        for name in ("a.csv", "b.csv"):
            (r,) = ingest_files(p, SOURCE, [tmp_path / name], force=True)
            assert (r.accepted, r.duplicates) == (0, r.rows_read)
        assert _stored(p) == stored


@pytest.mark.parametrize("scheme", [1, 2])
def test_a_re_import_finds_the_same_rows(tmp_path, scheme):
    """The same file again, the rows shuffled, the rows with ten new ones: only the ten accepted."""
    rows = _rows(2, 400)
    ids = [f"ev-{i:04d}" for i in range(len(rows))]
    shuffled = list(range(len(rows)))
    random.Random(3).shuffle(shuffled)
    fresh = [r for r in dict.fromkeys(_rows(4, 40, start=500)) if r not in rows][:10]
    assert len(set(fresh)) == 10
    more = [rows[i] for i in shuffled] + fresh
    random.Random(5).shuffle(more)
    with _project(tmp_path, scheme) as p:
        ingest_files(p, SOURCE, [_csv(tmp_path / "a.csv", rows)])
        ingest_files(p, SOURCE, [_csv(tmp_path / "n.csv", rows, ids)])
        before = set(_stored(p))
        (r,) = ingest_files(p, SOURCE, [tmp_path / "a.csv"], force=True)
        assert (r.accepted, r.duplicates) == (0, len(rows))
        (r,) = ingest_files(p, SOURCE, [_csv(tmp_path / "s.csv", [rows[i] for i in shuffled])])
        assert (r.accepted, r.duplicates) == (0, len(rows))
        (r,) = ingest_files(p, SOURCE, [_csv(tmp_path / "ns.csv", [rows[i] for i in shuffled],
                                              [ids[i] for i in shuffled])])
        assert (r.accepted, r.duplicates) == (0, len(rows))
        (r,) = ingest_files(p, SOURCE, [_csv(tmp_path / "m.csv", more)])
        assert (r.accepted, r.duplicates) == (10, len(rows))
        added = set(_stored(p)) - before
        assert added == set(_oracle(fresh, scheme))


def test_an_older_project_keeps_scheme_1(tmp_path):
    """A database imported into before schemes were recorded (no ``project_meta``, migration 6 not
    applied) is recorded as scheme 1 when this code opens it: its file again is all duplicates."""
    rows = _rows(6, 200)
    with _project(tmp_path, 1) as p:
        ingest_files(p, SOURCE, [_csv(tmp_path / "a.csv", rows)])
        stored = _stored(p)
        assert stored == _oracle(rows, 1)
    con = duckdb.connect(str(tmp_path / "p" / "percorso.duckdb"))
    con.execute("DROP TABLE project_meta")
    con.execute("DELETE FROM schema_migrations WHERE version = 6")
    con.close()
    with open_project(tmp_path / "p") as p:
        assert S.id_scheme(p.engine) == 1
        (r,) = ingest_files(p, SOURCE, [_csv(tmp_path / "s.csv", rows[::-1])])
        assert (r.accepted, r.duplicates) == (0, len(rows))
        assert _stored(p) == stored


# events are written to their store (``events`` is a view over it, ADR 0075)
@pytest.mark.parametrize("table", ["event_store", "campaign_costs", "ingest_runs", None])
def test_the_scheme_a_migrated_database_gets(tmp_path, table):
    """Scheme 2 only where nothing was imported; a database holding rows keeps scheme 1."""
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        con = p.engine.con  # the database is created (and migrated) when first used
        if table:
            con.execute(f"INSERT INTO {table} (source_name) VALUES ('x')")
    con = duckdb.connect(str(tmp_path / "p" / "percorso.duckdb"))
    con.execute("DROP TABLE project_meta")
    con.execute("DELETE FROM schema_migrations WHERE version = 6")
    con.close()
    with open_project(tmp_path / "p") as p:
        assert S.id_scheme(p.engine) == (1 if table else 2)
        assert p.engine.con.execute("SELECT count(*) FROM project_meta").fetchall()[0][0] == 1
