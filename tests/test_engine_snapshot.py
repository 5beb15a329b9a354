"""Engine.snapshot: several reads see one committed state while another connection commits."""

from __future__ import annotations

from percorso.engine import Engine


def test_reads_inside_a_snapshot_do_not_see_a_later_commit(tmp_path) -> None:
    eng = Engine(tmp_path / "db.duckdb")
    eng.run("CREATE TABLE t (x INTEGER)")
    eng.run("INSERT INTO t VALUES (1)")
    other = eng.fork()  # as a server job writes: its own connection to the same database
    with eng.snapshot():
        assert eng.count("t") == 1
        other.run("INSERT INTO t VALUES (2)")  # committed by the other connection
        assert eng.count("t") == 1  # still the state at the snapshot's start
        with eng.snapshot():  # nested: the same snapshot, no error
            assert eng.count("t") == 1
    assert eng.count("t") == 2  # after it, the commit is seen
    other.close()
    eng.close()
