"""The engine gateway: migrations, batch appends, the single-writer lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from percorso.engine import Engine
from percorso.errors import EngineError, NotFound
from percorso.events.schema import EVENT_COLUMN_NAMES, SCHEMA_VERSION


def test_migrations_create_contract_tables(tmp_path: Path) -> None:
    with Engine(tmp_path / "db.duckdb") as engine:
        assert engine.columns("events") == list(EVENT_COLUMN_NAMES)
        for table in ("quarantine", "ingest_runs", "pii_vault", "campaign_costs", "contact_profiles"):
            assert engine.has_table(table)
    assert SCHEMA_VERSION >= 1


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    Engine(path).close()
    with Engine(path) as engine:
        versions = engine.query("SELECT version FROM schema_migrations").column("version").to_pylist()
    assert versions == sorted(set(versions))


def test_append_arrow_and_ibis_read(tmp_path: Path) -> None:
    with Engine(tmp_path / "db.duckdb") as engine:
        engine.create_empty_table("t", [("a", "BIGINT"), ("b", "VARCHAR")])
        n = engine.append_arrow("t", pa.table({"b": ["x", "y", "x"], "a": [1, 2, 3]}))
        assert n == 3
        t = engine.table("t")
        out = engine.execute(t.group_by("b").agg(s=t.a.sum()).order_by("b"))
        assert out.to_dict("list") == {"b": ["x", "y"], "s": [4, 2]}


def test_unknown_table_is_not_found(tmp_path: Path) -> None:
    with Engine(tmp_path / "db.duckdb") as engine, pytest.raises(NotFound, match="build"):
        engine.table("touchpoints")


def test_create_empty_table_rejects_unknown_types(tmp_path: Path) -> None:
    with Engine(tmp_path / "db.duckdb") as engine, pytest.raises(EngineError):
        engine.create_empty_table("t", [("a", "INT; DROP TABLE events")])


def test_second_writer_process_gets_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    with Engine(path) as engine:
        engine.count("events")  # hold the connection (and the lock) open
        code = (
            "from percorso.engine import Engine\n"
            "from percorso.errors import DatabaseLocked\n"
            f"e = Engine({str(path)!r})\n"
            "try:\n    e.count('events')\nexcept DatabaseLocked as exc:\n    print('LOCKED', exc.code)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOCKED database_locked" in out.stdout, out.stderr


def test_transaction_rolls_back(tmp_path: Path) -> None:
    with Engine(tmp_path / "db.duckdb") as engine:
        engine.create_empty_table("t", [("a", "BIGINT")])
        with pytest.raises(RuntimeError):
            with engine.transaction():
                engine.append_arrow("t", pa.table({"a": [1]}))
                raise RuntimeError("boom")
        assert engine.count("t") == 0


def test_create_if_missing_on_a_read_only_database(tmp_path):
    """replace=False on an existing table is a no-op, also read-only (DuckDB refuses CREATE there)."""
    from percorso.engine import open_engine

    with open_engine(tmp_path / "e.duckdb") as e:
        e.create_empty_table("t", (("a", "VARCHAR"),))
        e.con.execute("INSERT INTO t VALUES ('kept')")
    with open_engine(tmp_path / "e.duckdb", read_only=True) as ro:
        ro.create_empty_table("t", (("a", "VARCHAR"),), replace=False)
        assert ro.con.execute("SELECT a FROM t").fetchall() == [("kept",)]


def test_facts_are_kept_by_a_read_only_engine_only(tmp_path):
    """A read-only engine sees one state of its file: what it read from the data stays for its
    life; a writable one starts from nothing at each call (it may be written in between)."""
    from percorso.engine import open_engine

    with open_engine(tmp_path / "e.duckdb") as e:
        e.facts("names")["cart"] = {"custom"}
        assert e.facts("names") == {}
    with open_engine(tmp_path / "e.duckdb", read_only=True) as ro:
        ro.facts("names")["cart"] = {"custom"}
        assert ro.facts("names") == {"cart": {"custom"}} and ro.facts("other") == {}
        ro.close()   # opened again, its connection may see a file another process wrote meanwhile
        assert ro.facts("names") == {}


def test_compile_writes_what_ibis_to_sql_writes(tmp_path):
    """:meth:`Engine.compile` skips ``to_sql``'s rebuilding of the expression on unbound tables:
    the same text for tables of the engine, a temporary one, a memtable and a scalar."""
    import ibis

    from percorso.engine import open_engine

    with open_engine(tmp_path / "e.duckdb") as e:
        e.con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(n, s)")
        e.con.execute("CREATE TEMP TABLE u AS SELECT 1 AS n, 2.5 AS x")
        t, u = e.table("t"), e.table("u")
        m = ibis.memtable({"s": ["a"], "label": ["uno"]})
        sums = t.group_by("s").aggregate(total=t.n.sum())
        exprs = [t.filter(t.n > 1), sums.join(t, "s").join(m, "s"), t.join(u, "n").select("s", "x"),
                 t.n.max(), t.drop("s").mutate(k=t.n * 2), t.union(t.view()).order_by("n")]
        for expr in exprs:
            assert e.compile(expr) == str(ibis.to_sql(expr, dialect="duckdb"))


def test_no_progress_bar_on_stdout(tmp_path) -> None:
    """DuckDB draws its progress bar on stdout, which corrupted `--format csv > file` output."""
    from percorso.engine import Engine

    with Engine(tmp_path / "p.duckdb") as eng:
        for con in (eng.con, eng.fork().con):
            assert con.execute("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]


def test_a_transaction_inside_a_transaction_joins_it(tmp_path: Path) -> None:
    """An incremental build runs identity's transaction inside its own: one commit, and a
    failure after the inner one ends rolls the inner writes back too."""
    eng = Engine(tmp_path / "t.duckdb")
    eng.run("CREATE TABLE t (x INTEGER)")
    with eng.transaction():
        with eng.transaction():
            eng.run("INSERT INTO t VALUES (1)")
        eng.run("INSERT INTO t VALUES (2)")
    assert eng.con.execute("SELECT sum(x) FROM t").fetchall()[0][0] == 3
    with pytest.raises(RuntimeError), eng.transaction():
        with eng.transaction():
            eng.run("INSERT INTO t VALUES (10)")
        raise RuntimeError("after the inner transaction")
    assert eng.con.execute("SELECT sum(x) FROM t").fetchall()[0][0] == 3
    with eng.transaction():   # usable again: nothing left open
        eng.run("INSERT INTO t VALUES (4)")
    assert eng.con.execute("SELECT sum(x) FROM t").fetchall()[0][0] == 7
    eng.close()


def test_a_write_transaction_inside_a_snapshot_is_refused(tmp_path: Path) -> None:
    """A snapshot ends in a rollback: a write inside it must fail, never vanish silently."""
    import duckdb

    eng = Engine(tmp_path / "t.duckdb")
    eng.run("CREATE TABLE t (x INTEGER)")
    with pytest.raises(duckdb.Error), eng.snapshot(), eng.transaction():
        eng.run("INSERT INTO t VALUES (1)")
    assert eng.con.execute("SELECT count(*) FROM t").fetchall()[0][0] == 0
    eng.close()


def test_has_table_and_columns_answer_as_a_query_finds_the_name(tmp_path: Path) -> None:
    """The relation lookup gives what ``information_schema`` gives for the name a query would
    read (tables, temporary tables, views; ``events`` is also in an attached database, whose
    columns must not be mixed in; names that do not exist); a table only in an attached
    database is not found (a query does not find it either); a view that no longer binds still
    exists; and a name not found leaves an open transaction usable (a failed query aborts it).
    ``existing`` answers for several names what ``has_table`` answers for each."""
    eng = Engine(tmp_path / "t.duckdb")
    other = Engine(tmp_path / "o.duckdb")
    other.run("CREATE TABLE elsewhere (z INTEGER, y VARCHAR)")
    other.close()
    eng.run("CREATE TABLE t (x INTEGER, w VARCHAR)")
    eng.run("CREATE TEMP TABLE tmp_t (b DOUBLE, a INTEGER)")
    eng.run("CREATE VIEW v AS SELECT w, x FROM t")
    eng.run("CREATE TABLE gone (g INTEGER)")
    eng.run("CREATE VIEW broken AS SELECT g FROM gone")
    eng.run("DROP TABLE gone")
    eng.run(f"ATTACH '{tmp_path / 'o.duckdb'}' AS o (READ_ONLY)")

    def catalog(name: str) -> tuple[bool, list[str]]:
        """The name in this database or its temporary tables (what a query reads)."""
        cols = eng.con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                               "AND table_catalog IN (current_database(), 'temp') ORDER BY ordinal_position",
                               [name]).fetchall()
        return bool(cols), [c[0] for c in cols]

    with eng.transaction():
        eng.run("INSERT INTO t VALUES (1, 'a')")
        for name in ("t", "tmp_t", "v", "events", "nope", "t2", "elsewhere"):
            assert (eng.has_table(name), eng.columns(name)) == catalog(name), name
        assert eng.has_table("broken") and eng.columns("broken") == []
        eng.run("CREATE TABLE t2 AS SELECT 2 AS x")       # made inside the transaction: found there
        assert eng.has_table("t2") and eng.columns("t2") == ["x"]
        names = ("t", "tmp_t", "v", "events", "nope", "t2", "elsewhere", "broken")
        assert eng.existing(names) == {n for n in names if eng.has_table(n)}   # one query, the same answer
        eng.run("INSERT INTO t VALUES (3, 'c')")          # the transaction is still usable
    assert eng.con.execute("SELECT sum(x) FROM t").fetchall()[0][0] == 4 and eng.count("t2") == 1
    eng.close()


def test_execute_bound_equals_execute_and_compiles_once(tmp_path: Path) -> None:
    """A query compiled once with a placeholder, run for other values (quotes included), gives
    what running its Ibis expression gives: frames and scalars, rows and no rows."""
    import ibis

    with Engine(tmp_path / "db.duckdb") as engine:
        engine.run("""CREATE TABLE t AS SELECT * FROM (VALUES ('a', 1, TIMESTAMP '2025-01-01 10:00', NULL::DOUBLE),
            ('a', 2, TIMESTAMP '2025-01-02 10:00', 2.5), ('O''Brien', 3, NULL, 1.0)) v(k, n, ts, x)""")
        made: list[str] = []

        def rows(value: str):
            made.append(value)
            t = engine.table("t")
            return t.filter(t.k == value).order_by("n")

        def count(value: str):
            t = engine.table("t")
            return t.filter((t.k == value) & (t.n > ibis.literal(0))).count()

        for value in ("a", "O'Brien", "nobody", "a' OR '1'='1"):
            got = engine.execute_bound("rows", rows, value)
            want = engine.execute(rows(value))
            assert got.equals(want) and list(got.dtypes) == list(want.dtypes), value
            assert engine.execute_bound("count", count, value) == engine.execute(count(value))
        # compiled once (the placeholder), then one call per value for the comparison above
        assert made[0] != "a" and made.count("a") == 1


def test_execute_bound_follows_a_change_of_columns(tmp_path: Path) -> None:
    """A table that gains a column, loses one or changes a type after a statement was compiled:
    once the engine is told the database was written, the next run compiles again and gives
    what running the Ibis expression gives (a full build under a running server)."""
    with Engine(tmp_path / "db.duckdb") as engine:
        engine.run("CREATE TABLE c AS SELECT * FROM (VALUES ('a', 1), ('b', 2)) v(k, n)")

        def one(value: str):
            t = engine.table("c")
            return t.filter(t.k == value)

        assert engine.execute_bound("one", one, "a").to_dict("records") == [{"k": "a", "n": 1}]
        for change in ("ALTER TABLE c ADD COLUMN x DOUBLE DEFAULT 0.5",
                       "ALTER TABLE c DROP COLUMN n",
                       "ALTER TABLE c ALTER COLUMN x TYPE VARCHAR"):
            engine.run(change)
            engine.data_written()
            got, want = engine.execute_bound("one", one, "b"), engine.execute(one("b"))
            assert got.equals(want) and list(got.columns) == engine.columns("c"), change
        # an unchanged table keeps its compiled statement through a write
        made: list[str] = []

        def two(value: str):
            made.append(value)
            return one(value)

        engine.execute_bound("two", two, "a")
        engine.run("INSERT INTO c VALUES ('a', '9')")
        engine.data_written()
        assert engine.execute_bound("two", two, "a").shape[0] == 2 and len(made) == 1


def test_written_is_the_rows_a_statement_wrote(tmp_path: Path) -> None:
    """``Engine.written`` (issue 15): the count DuckDB reports equals the change of ``count(*)``."""
    engine = Engine(tmp_path / "w.duckdb")
    try:
        def n() -> int:
            return engine.count("t")

        assert engine.written("CREATE TABLE t AS SELECT range AS x FROM range(7)") == 7 == n()
        assert engine.written("INSERT INTO t SELECT range FROM range(3)") == 3 and n() == 10
        assert engine.written("INSERT INTO t SELECT x FROM t WHERE x > 100") == 0 and n() == 10
        assert engine.written("UPDATE t SET x = x + 1 WHERE x < 2") == 4   # 0 and 1, twice each
        # 2 twice (one of each range) and twice from the update (1 + 1)
        assert engine.written("DELETE FROM t WHERE x = ?", [2]) == 4 and n() == 6
        assert engine.written("CREATE OR REPLACE TEMP TABLE e AS SELECT * FROM t WHERE x < 0") == 0
    finally:
        engine.close()
