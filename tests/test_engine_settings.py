"""The engine settings a one-shot command sets for its own process (ADR 0035, 2026-12-05)."""

from __future__ import annotations

from pathlib import Path

from percorso.engine import Engine
from percorso.project import init_project, open_project, share_engine, unshare_engine


def _setting(engine: Engine, name: str) -> object:
    return engine.con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0]


def test_unordered_writes_restores_the_setting(tmp_path: Path) -> None:
    eng = Engine(tmp_path / "e.duckdb")
    assert _setting(eng, "preserve_insertion_order") is True
    with eng.unordered_writes():
        assert _setting(eng, "preserve_insertion_order") is False
        eng.run("CREATE TABLE t AS SELECT * FROM (VALUES (3), (1), (2)) v(a)")
    assert _setting(eng, "preserve_insertion_order") is True
    assert sorted(r[0] for r in eng.con.execute("SELECT a FROM t").fetchall()) == [1, 2, 3]
    try:
        with eng.unordered_writes():
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert _setting(eng, "preserve_insertion_order") is True
    eng.close()


def test_joins_as_written_adds_the_side_swap_to_the_disabled_optimizers_and_restores_them(tmp_path: Path) -> None:
    eng = Engine(tmp_path / "e.duckdb")
    eng.run("SET disabled_optimizers = 'top_n'")          # a user's own choice stays in force
    with eng.joins_as_written():
        assert sorted(str(_setting(eng, "disabled_optimizers")).split(",")) == ["build_side_probe_side", "top_n"]
        eng.run("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(a, b)")
        got = eng.con.execute("SELECT a FROM t SEMI JOIN (SELECT 2 AS a) s USING (a)").fetchall()
        assert got == [(2,)]
    assert _setting(eng, "disabled_optimizers") == "top_n"
    try:
        with eng.joins_as_written():
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert _setting(eng, "disabled_optimizers") == "top_n"
    eng.close()


def test_block_memory_kept_by_a_command_of_its_own_not_inside_the_server(tmp_path: Path) -> None:
    root = tmp_path / "p"
    init_project(root)
    with open_project(root) as p:            # a command in its own process
        before = _setting(p.engine, "block_allocator_memory")
        p.keep_block_memory()
        assert _setting(p.engine, "block_allocator_memory") != before
        assert _setting(p.engine, "block_allocator_memory") == _setting(p.engine, "memory_limit")
    with open_project(root) as owner:        # ``percorso serve`` owns the engine: a command it runs leaves it be
        server = owner.engine
        share_engine(server, owner.database_path)
        try:
            before = _setting(server, "block_allocator_memory")
            with open_project(root) as p:
                p.keep_block_memory()
                assert p.engine is server
            assert _setting(server, "block_allocator_memory") == before
        finally:
            unshare_engine(owner.database_path)


def test_a_build_of_its_own_process_keeps_block_memory_only_when_it_is_full(tmp_path: Path) -> None:
    """ADR 0098: the incremental build reads little; the kept blocks cost it more than they save."""
    from percorso.build import run_build
    from percorso.ingest import ingest_files

    root = tmp_path / "p"
    init_project(root)

    def import_and_build(first: int) -> tuple[str, object, object]:
        f = tmp_path / f"e{first}.csv"
        f.write_text("event_id,timestamp,user_id,event\n" + "".join(
            f"{i},2025-01-01 10:00,u{i},page_view\n" for i in range(first, first + 50)), encoding="utf-8")
        with open_project(root) as p:
            ingest_files(p, "clickstream", [f])
        with open_project(root) as p:
            before = _setting(p.engine, "block_allocator_memory")
            mode = run_build(p, refresh=False, keep_block_memory=True).mode
            return mode, before, _setting(p.engine, "block_allocator_memory")

    mode, before, after = import_and_build(0)
    assert mode == "full" and after != before
    mode, before, after = import_and_build(50)
    assert mode == "incremental" and after == before
