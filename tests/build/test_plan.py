"""The incremental build's compiled queries (ADR 0032): kept, found again, and compiled anew when
anything they depend on changes."""

from __future__ import annotations

import dataclasses

import pytest
from build_helpers import ingest, seg, two_web_batches, write_jsonl

from percorso.build import plan as P
from percorso.build import run_build
from percorso.build.runner import _settings_fingerprint
from percorso.channels import load_rules
from percorso.engine import build_sql as S
from percorso.project import init_project, open_project


def _tables(p) -> dict[str, list[tuple]]:
    return {t: p.engine.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("touchpoints", "orders", "customers", "record_updates")}


def test_a_new_process_runs_the_stored_plan_without_compiling(tmp_path, monkeypatch):
    init_project(tmp_path / "p", name="t")
    p = open_project(tmp_path / "p")
    try:
        first, second = two_web_batches(tmp_path)
        ingest(p, "web", first)
        assert run_build(p).mode == "full"
        assert p.engine.count(S.PLAN) == 1          # the full build compiled the incremental one
        P._MEMO.clear()                             # as a new process would start

        def no_compile(*_a, **_k):
            raise AssertionError("compiled again")

        monkeypatch.setattr(P, "compile_plan", no_compile)
        ingest(p, "web", second)
        assert run_build(p).mode == "incremental"
        incremental = _tables(p)
        monkeypatch.undo()
        run_build(p, full=True)
        assert _tables(p) == incremental
    finally:
        p.close()


def test_the_key_follows_rules_settings_and_columns(tmp_path):
    init_project(tmp_path / "p", name="t")
    p = open_project(tmp_path / "p")
    try:
        ingest(p, "web", write_jsonl(tmp_path / "a.jsonl", [seg("m1", "2025-03-01T08:00:00Z", anon="a1")]))
        run_build(p)
        rules = load_rules(p, p.settings.channels.rules_version)
        fp = _settings_fingerprint(p)
        key = P.plan_key(p.engine, fp, rules)
        assert P.plan_key(p.engine, fp, rules) == key
        assert P.plan_key(p.engine, fp + "x", rules) != key
        assert P.plan_key(p.engine, fp, dataclasses.replace(rules, rules=rules.rules[1:])) != key
        # the rules' file paths are not part of it (a copied project keeps its plan)
        assert P.plan_key(p.engine, fp, dataclasses.replace(rules, files={})) == key
        p.engine.run("ALTER TABLE contact_profiles ADD COLUMN extra VARCHAR")
        assert P.plan_key(p.engine, fp, rules) != key
    finally:
        p.close()


@pytest.fixture(autouse=True)
def _fresh_memo():
    P._MEMO.clear()
    yield
    P._MEMO.clear()


def test_the_plan_reads_only_the_event_columns_its_queries_use(tmp_path):
    """DuckDB's planner names the event columns the incremental queries read; the scope's
    events are read with those alone (the others left NULL), and the result is a full build's."""
    init_project(tmp_path / "p", name="t")
    p = open_project(tmp_path / "p")
    try:
        ingest(p, "web", write_jsonl(tmp_path / "a.jsonl", [
            seg("m1", "2025-03-01T08:00:00Z", anon="a1", url="https://shop.it/?utm_source=google&utm_medium=cpc"),
            seg("m2", "2025-03-02T09:00:00Z", user="u1")]))
        run_build(p)
        plan = S.read_plan(p.engine, P.plan_key(p.engine, _settings_fingerprint(p),
                                                load_rules(p, p.settings.channels.rules_version)))
        cols = P.event_columns(plan)
        assert cols is not None
        # what a touchpoint, a session and a customer are made of is read...
        assert {"event_id", "occurred_at", "event_type", "utm_source", "page_url", "referrer"} <= set(cols)
        # ...and the lineage of the import is not
        assert not {"ingest_run_id", "source_file", "source_line", "received_at"} & set(cols)
        ingest(p, "web", write_jsonl(tmp_path / "b.jsonl", [
            seg("m3", "2025-03-03T10:00:00Z", anon="a1", user="u1"), seg("m4", "2025-03-03T10:31:00Z", anon="a2")]))
        assert run_build(p).mode == "incremental"
        incremental = _tables(p)
        run_build(p, full=True)
        assert _tables(p) == incremental
    finally:
        p.close()


def test_a_plan_found_in_this_process_is_kept_in_each_project(tmp_path):
    """Two projects of the same code, settings and columns have the same plan: the second one,
    built in the process that compiled it for the first, keeps it too (else its next build, in
    a new process, would compile it again)."""
    keys = []
    for name in ("p1", "p2"):
        init_project(tmp_path / name, name="t")
        p = open_project(tmp_path / name)
        try:
            ingest(p, "web", write_jsonl(tmp_path / f"{name}.jsonl", [seg("m1", "2025-03-01T08:00:00Z", anon="a1")]))
            run_build(p)
            rules = load_rules(p, p.settings.channels.rules_version)
            keys.append(P.plan_key(p.engine, _settings_fingerprint(p), rules))
            assert S.has_plan(p.engine, keys[-1])
        finally:
            p.close()
    assert keys[0] == keys[1] and len(P._MEMO) == 1   # one compilation, kept in both


def test_narrowed_sql_cuts_unread_columns_and_gives_the_same_rows():
    """Oracle: the query as written, run on the same table (a ``rowid`` and a star included)."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE e AS SELECT i AS a, i * 2 AS b, 'x' || i AS c FROM range(5) t(i)")
    sql = '''SELECT "t2".* EXCLUDE ("b") FROM (SELECT "t1"."a", "t1"."b", "t1"."c", "t1"."r" FROM (
             SELECT "t0"."a", "t0"."b", "t0"."c", "t0"."rowid" AS "r" FROM "e" AS "t0") AS "t1"
             WHERE "t1"."b" > 2) AS "t2"'''
    out = S.narrowed(sql, {"e": ["a", "b", "c"]})
    assert out.count('"c"') < sql.count('"c"') or len(out) < len(sql)
    assert '"t0"."rowid"' in out
    assert con.execute(out + " ORDER BY ALL").fetchall() == con.execute(sql + " ORDER BY ALL").fetchall()
    # a table it does not know: its star cannot be expanded, the SQL stays as it was
    assert S.narrowed('SELECT * FROM (SELECT * FROM "e" AS "t0") AS "t1"', {}) == \
        'SELECT * FROM (SELECT * FROM "e" AS "t0") AS "t1"'


def test_light_planning_is_restored_after_the_step_and_after_a_failure():
    import duckdb

    class Eng:
        con = duckdb.connect()

    eng = Eng()
    eng.con.execute("SET disabled_optimizers = 'top_n'")
    assert S.light_planning(eng, S.LIGHT_PLANNING_EVENTS + 1) is None
    light = S.light_planning(eng, 1_000)
    assert light is not None
    off = light[0].split("'")[1].split(",")
    assert "join_order" in off and "filter_pushdown" not in off and "top_n" in off
    S.run_plan_step(eng, "x", "SELECT 1 AS a", temp=True, settings=light)
    assert eng.con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == "top_n"
    with pytest.raises(duckdb.Error):
        S.run_plan_step(eng, "y", "SELECT * FROM missing_table", temp=True, settings=light)
    assert eng.con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == "top_n"
