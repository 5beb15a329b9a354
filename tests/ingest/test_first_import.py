"""A first import inserts straight from the typed rows (ADR 0072): the same events, quarantine and
counts as through the typed table.

Oracle: the other path itself. The same files are imported into two new projects, one with
``pipeline.FIRST_IMPORT_STRAIGHT`` off (the typed table, as every re-import), and the tables are
compared whole (``EXCEPT ALL`` both ways, the arrival time and run id left out), with the reports'
counts and generic names. The files hold what each reader of the typed table served: repeated
contents (two and three copies), bad rows of several reasons, generic names, a channel column,
page URLs with UTM tags, columns kept in ``properties``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from pathlib import Path

import duckdb
import pytest

from percorso.engine import ingest_sql as S
from percorso.ingest import ingest_files
from percorso.ingest import pipeline
from percorso.ingest import plan as P
from percorso.project import init_project, open_project

SOURCE = "clickstream"
NAMES = ["page_view", "add_to_cart", "catalog", "Catalog", "cart", "purchase", ""]
CHANNELS = ["Organic", "cpc", "newsletter", "Partner X", "", "web"]
URLS = ["https://x.it/a", "https://x.it/?utm_source=News&utm_medium=email", "https://x.it/p?gclid=abc", ""]


def _rows(seed: int, n: int) -> list[dict]:
    """``n`` rows; about one in six repeats an earlier row (some three times or more), about one in
    twenty is bad (an unreadable or implausible time, no event name, a revenue that is no number)."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        if out and rng.random() < 0.17:
            out.append(dict(rng.choice(out)))
            continue
        when = dt.datetime(2025, 3, 1) + dt.timedelta(seconds=rng.randrange(86400 * 40))
        row = {"user_id": rng.choice([f"u{rng.randrange(30)}", f"00{rng.randrange(5)}", ""]),
               "event_name": rng.choice(NAMES), "ts": when.isoformat(sep=" "),
               "revenue": rng.choice(["", "12.5", "0", "3"]), "channel": rng.choice(CHANNELS),
               "page_url": rng.choice(URLS), "browser": rng.choice(["Firefox", "Chrome"])}
        bad = rng.random()
        if bad < 0.02:
            row["ts"] = "not a date"
        elif bad < 0.035:
            row["ts"] = "1900-01-01 00:00:00"
        elif bad < 0.05:
            row["revenue"] = "dodici"
        out.append(row)
    return out


def _csv(path: Path, rows: list[dict]) -> Path:
    cols = list(rows[0])
    path.write_text("\n".join([",".join(cols)] + [",".join(r[c] for c in cols) for r in rows]) + "\n",
                    encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if v}) + "\n" for r in rows), encoding="utf-8")
    return path


def _parquet(path: Path, rows: list[dict]) -> Path:
    con = duckdb.connect()
    con.execute("CREATE TABLE r (user_id VARCHAR, event_name VARCHAR, ts VARCHAR, revenue VARCHAR, channel VARCHAR, "
                "page_url VARCHAR, browser VARCHAR)")
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?)", [list(r.values()) for r in rows])
    con.execute(f"COPY (SELECT user_id, event_name, TRY_CAST(ts AS TIMESTAMP) AS ts, TRY_CAST(revenue AS DOUBLE) AS "
                f"revenue, channel, page_url, browser FROM r) TO '{path}' (FORMAT parquet)")
    return path


def _import(root: Path, files: list[Path], straight: bool, monkeypatch, scheme: int = 2) -> tuple[list, Path]:
    """Import ``files`` one call each into a new project; (reports, database)."""
    monkeypatch.setattr(pipeline, "FIRST_IMPORT_STRAIGHT", straight)
    init_project(root)
    with open_project(root) as p:
        if scheme == 1:
            p.engine.con.execute("UPDATE project_meta SET value = '1' WHERE key = 'id_scheme'")
        reps = [r for f in files for r in ingest_files(p, SOURCE, [f])]
        db = Path(p.engine.path)
    return reps, db


def _same(a: Path, b: Path) -> None:
    """The events and quarantine of two databases are equal (arrival time and run id left out)."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    for table, skip in (("events", ("received_at", "ingest_run_id")),
                        ("quarantine", ("ingest_run_id", "quarantined_at"))):
        cols = [c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = 'a' AND "
                                          "table_name = ? ORDER BY column_index", [table]).fetchall() if c not in skip]
        sel = ", ".join(cols)
        assert con.execute(f"SELECT count(*) FROM a.{table}").fetchall() == \
            con.execute(f"SELECT count(*) FROM b.{table}").fetchall()
        for x, y in (("a", "b"), ("b", "a")):
            assert con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM {x}.{table} EXCEPT ALL "
                               f"SELECT {sel} FROM {y}.{table})").fetchall()[0][0] == 0, (table, x, y)
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM a.events").fetchall()[0] == \
        con.execute("SELECT count(*), count(*) FROM a.events").fetchall()[0]


def _counts(reps: list) -> list[tuple]:
    return [(r.rows_read, r.accepted, r.quarantined, r.duplicates, r.generic_event_names, r.error) for r in reps]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("scheme", [1, 2])
def test_first_import_equals_the_typed_table(tmp_path, monkeypatch, fmt, scheme):
    """One file into a new project, then a second one (a re-import: the typed table either way)."""
    write = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet}[fmt]
    rows = _rows(7, 600)
    more = rows[100:300] + _rows(8, 200)
    files = [write(tmp_path / f"a.{fmt}", rows), write(tmp_path / f"b.{fmt}", more)]
    calls = []
    monkeypatch.setattr(S, "checked_pass", lambda *a, _f=S.checked_pass, **k: calls.append(1) or _f(*a, **k))
    straight, db1 = _import(tmp_path / "s", files, True, monkeypatch, scheme)
    assert calls == [1]  # the first file straight, the second through the typed table
    typed, db2 = _import(tmp_path / "t", files, False, monkeypatch, scheme)
    assert calls == [1]
    assert _counts(straight) == _counts(typed)
    first = straight[0]
    assert first.quarantined > 0 and first.generic_event_names and straight[1].duplicates > 0
    assert first.reconciles and straight[1].reconciles
    _same(db1, db2)


def test_rows_sharing_a_content_hash_are_not_copies_unless_their_keys_are(tmp_path, monkeypatch):
    """The content hash finds the candidates for renumbering; a hash every row shares (as if they all
    collided) makes every good row a candidate, and the events are still those of the typed table."""
    rows = _rows(11, 300)
    f = _csv(tmp_path / "a.csv", rows)
    monkeypatch.setattr(P, "content_hash", lambda sources, tz, values=None: "hash(1)")
    straight, db1 = _import(tmp_path / "s", [f], True, monkeypatch)
    typed, db2 = _import(tmp_path / "t", [f], False, monkeypatch)
    assert _counts(straight) == _counts(typed)
    _same(db1, db2)


def _ids(db: Path) -> list[tuple[str, str | None]]:
    """(event_id, source_key) of each event, in line order."""
    return duckdb.connect(str(db), read_only=True).execute(
        "SELECT event_id, source_key FROM events ORDER BY source_line").fetchall()


def _copy_ids(once: list[str], copy: list[tuple[int, int]]) -> list[str]:
    """The event ids of a file's lines under scheme 2 (ADR 0063), from ``once``, the ids of its
    contents imported one row each (nothing to number there): line by line (content, copy number),
    a first copy's id the content's, the n-th ``md5(<that id>:n)``."""
    return [once[c] if n == 1 else hashlib.md5(f"{once[c]}:{n}".encode()).hexdigest() for c, n in copy]


def test_the_copies_are_numbered_in_line_order(tmp_path, monkeypatch):
    """Hand-made: three copies of one content and two of another; the second and third copies are
    numbered 2 and 3 by line, as the typed table numbers them. Rows keyed by content store no key."""
    row = {"user_id": "u1", "event_name": "page_view", "ts": "2025-03-05 10:00:00", "revenue": "", "channel": "",
           "page_url": "", "browser": "Firefox"}
    other = dict(row, event_name="cart")
    later = dict(row, ts="2025-03-05 10:00:01")
    rows = [row, other, dict(row, browser="Chrome"), row, other, later]
    (rep,), db = _import(tmp_path / "s", [_csv(tmp_path / "a.csv", rows)], True, monkeypatch)
    assert (rep.accepted, rep.duplicates) == (6, 0)
    _, db_once = _import(tmp_path / "o", [_csv(tmp_path / "o.csv", [row, other, later])], True, monkeypatch)
    once = [i for i, _ in _ids(db_once)]
    # the browser is kept in properties, not in the content key: line 3's row is line 1's second copy
    assert _ids(db) == [(i, None) for i in _copy_ids(once, [(0, 1), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1)])]


def test_numbers_whose_hash_is_not_their_text(tmp_path, monkeypatch):
    """NaN (``nan`` and ``-nan``: two texts, one hash), -0.0 and 0.0 (two texts, one hash), NULL: the copies
    are numbered by their key's text, as through the typed table."""
    con = duckdb.connect()

    def parquet(path: Path, values: str) -> Path:
        con.execute(f"COPY (SELECT 'u1' AS user_id, 'page_view' AS event_name, TIMESTAMP '2025-03-05 10:00:00' AS ts, "
                    f"v AS revenue FROM (VALUES {values}) t(v)) TO '{path}' (FORMAT parquet)")
        return path

    path = parquet(tmp_path / "n.parquet", "('nan'::DOUBLE), ('-0.0'::DOUBLE), ('nan'::DOUBLE), (0.0), (NULL), "
                                           "('-0.0'::DOUBLE), (0.0), ('-nan'::DOUBLE)")
    (rep,), db1 = _import(tmp_path / "s", [path], True, monkeypatch)
    (_,), db2 = _import(tmp_path / "t", [path], False, monkeypatch)
    _same(db1, db2)
    once_path = parquet(tmp_path / "o.parquet", "('nan'::DOUBLE), ('-0.0'::DOUBLE), (0.0), (NULL), ('-nan'::DOUBLE)")
    _, db_once = _import(tmp_path / "o", [once_path], True, monkeypatch)
    once = [i for i, _ in _ids(db_once)]
    assert len(set(once)) == 5  # -nan: its own text
    assert _ids(db1) == [(i, None) for i in _copy_ids(once, [(0, 1), (1, 1), (0, 2), (2, 1), (3, 1), (1, 2), (2, 2),
                                                             (4, 1)])]


@pytest.mark.parametrize("repeats", [False, True])
def test_a_file_without_bad_rows_is_read_without_the_checks(tmp_path, monkeypatch, repeats):
    """No row fails a check: the straight select leaves the checks out; no content repeats: the typed
    table is made without reading the file and no row is left out of the straight select (ADR 0077).
    The events are those of the typed table either way."""
    good = [r for r in _rows(13, 500) if r["event_name"] and r["ts"].startswith("2025") and r["revenue"] != "dodici"]
    if not repeats:  # one row per (user, name, time): no two rows share a content key
        good = list({(r["user_id"], r["event_name"].lower(), r["ts"]): r for r in good}.values())
    f = _csv(tmp_path / "a.csv", good)
    seen: dict[str, list] = {"straight": [], "where": []}
    straight_of = pipeline._first_import_typed

    def keep(*a):  # noqa: ANN002, ANN202
        seen["straight"].append(straight_of(*a))
        return seen["straight"][-1]

    monkeypatch.setattr(pipeline, "_first_import_typed", keep)
    monkeypatch.setattr(S, "build_typed", lambda *a, _f=S.build_typed, **k: seen["where"].append(k.get("stage_where"))
                        or _f(*a, **k))
    (rep,), db1 = _import(tmp_path / "s", [f], True, monkeypatch)
    (typed,), db2 = _import(tmp_path / "t", [f], False, monkeypatch)
    assert _counts([rep]) == _counts([typed])
    assert (rep.rows_read, rep.accepted, rep.quarantined) == (len(good), len(good), 0)
    (sql,) = seen["straight"]
    assert "missing_required" not in sql  # the checks' reason codes: no CASE of them
    assert (S.lines_not_in("_ing_typed") in sql) is repeats
    assert (seen["where"][0] == S.NO_ROWS) is not repeats
    _same(db1, db2)


def test_names_looked_up_as_written_give_what_the_normalised_lookup_gives(tmp_path, monkeypatch):
    """A file's event names are looked up by their distinct values as written (CSV, Parquet: ADR 0078),
    a JSON line's by their normalised form in every row: the same rows give the same types, names and
    ids either way (names differing in case, spaces, dashes; aliases, generic and unknown names)."""
    names = [" Page View", "page-view", "PAGE_VIEW", "Add To Cart", "add-to-cart", "Catalog", "catalog ", "cart",
             "purchase", "ordine_completato", "\\x", "é€ Page"]
    rng = random.Random(5)
    rows = [{"user_id": f"u{i % 7}", "event_name": rng.choice(names),
             "ts": (dt.datetime(2025, 3, 1) + dt.timedelta(minutes=i)).isoformat(sep=" ")} for i in range(300)]
    got = {}
    for fmt, write in (("csv", _csv), ("jsonl", _jsonl)):
        for straight in (True, False):
            _, db = _import(tmp_path / f"{fmt}{straight}", [write(tmp_path / f"a.{fmt}", rows)], straight, monkeypatch)
            got[fmt, straight] = duckdb.connect(str(db), read_only=True).execute(
                "SELECT source_line, event_id, event_type, event_name FROM events ORDER BY source_line").fetchall()
    assert len(got["jsonl", False]) == 300 and len({t for _, _, t, _ in got["jsonl", False]}) > 3
    assert all(v == got["jsonl", False] for v in got.values())
