"""The audit log's own connection (ADR 0049): an audited answer never waits for the database
worker, and every row is in the file and in ``GET /v1/audit`` as soon as its answer has left."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from percorso.project import open_project
from percorso.server.tokens import create_token
from tests.server.conftest import Server, percorso


def _views(engine: object) -> int:
    return engine.query("SELECT count(*) AS n FROM audit_log WHERE action = 'customer_view'").column("n")[0].as_py()  # type: ignore[attr-defined]


def test_an_audited_answer_does_not_wait_for_a_busy_database_worker(demo: Path) -> None:
    """The dashboard's customer page reads its profile once per data version (ServerState.read);
    the second opening only writes its audit row. With the database worker held by a long job
    (as a micro-batch's commit or checkpoint once held the row's commit) it must still answer,
    its row already committed, and ``/v1/audit`` lists it once the worker is free."""
    with open_project(demo) as p:
        who = str(p.engine.con.execute("SELECT min(customer_id) FROM customers").fetchall()[0][0])
        analyst, _ = create_token(p.engine, "audit-analyst", "analyst")
        admin, _ = create_token(p.engine, "audit-admin", "admin")
    from percorso.server.app import create_app

    page = {"Authorization": f"Bearer {analyst}", "Accept": "text/html"}
    with TestClient(create_app(demo), base_url="http://127.0.0.1") as client:
        state = client.app.state.percorso  # type: ignore[attr-defined]
        assert client.get("/cliente", params={"id": who}, headers=page).status_code == 200  # reads, caches
        release, holding = threading.Event(), threading.Event()

        def hold() -> None:
            holding.set()
            release.wait(60)

        busy = state._db.submit(hold)
        try:
            assert holding.wait(10)
            answer: dict[str, int] = {}
            opener = threading.Thread(target=lambda: answer.update(
                status=client.get("/cliente", params={"id": who}, headers=page).status_code))
            opener.start()
            opener.join(20)
            assert answer.get("status") == 200, "the audited page waited for the database worker"
            assert not busy.done()  # the worker was still held when the answer left
            # the row went to the journal before the answer; its commit, on the audit log's own
            # connection, follows in a group: wait for that (never for the held database worker)
            state.audit_log.flush().result(timeout=20)
            assert not busy.done()
            reader = state.engine.fork()  # a connection of this thread's own: the row is committed
            try:
                assert _views(reader) == 2
            finally:
                reader.close()
        finally:
            release.set()
            busy.result(timeout=30)
        rows = client.get("/v1/audit", headers={"Authorization": f"Bearer {admin}"}).json()["audit"]
        seen = [r for r in rows if r["action"] == "customer_view"]
        assert len(seen) == 2 and all(json.loads(r["query"]) == {"customer_id": who} for r in seen)
        assert {r["who"] for r in seen} == {"audit-analyst"}


def test_every_row_is_listed_at_once_and_kept_through_a_kill_and_a_stop(demo: Path) -> None:
    """Views are listed by the very next request, survive a ``kill -9`` right after their answer
    (the journal, replayed at the next start) and a clean stop."""
    with open_project(demo) as p:
        who = str(p.engine.con.execute("SELECT min(customer_id) FROM customers").fetchall()[0][0])

    def views(http: object) -> list[dict]:
        return [a for a in http.get("/v1/audit").json()["audit"] if a["action"] == "customer_view"]  # type: ignore[attr-defined]

    server = Server.start(demo)
    try:
        with server.client(server.admin_token) as http:
            for _ in range(3):
                assert http.get(f"/v1/customers/{who}").status_code == 200
            seen = views(http)
            assert len(seen) == 3 and all(json.loads(a["query"]) == {"customer_id": who} for a in seen)
            assert http.get(f"/v1/customers/{who}").status_code == 200
        # `percorso audit` reaches the running server (the CLI bridge), which flushes first
        listed = json.loads(percorso("audit", "--format", "json", "-p", str(demo)).stdout)
        assert sum(r["action"] == "customer_view" for r in listed) == 4
    finally:
        server.kill()
    server = Server.start(demo)
    try:
        with server.client(server.admin_token) as http:
            assert len(views(http)) == 4
            assert http.get(f"/v1/customers/{who}").status_code == 200
    finally:
        assert server.stop() == 0
    with open_project(demo) as p:
        assert _views(p.engine) == 5
    assert (demo / ".percorso" / "audit-journal.jsonl").read_bytes() == b""  # all of it committed


def test_the_journal_is_replayed_once_and_a_cut_line_is_skipped(tmp_path: Path) -> None:
    """Rows journaled but never committed (no connection here, as after a kill) are committed by
    the next start's replay, once each; the line a kill cut was never acknowledged."""
    from percorso.engine import Engine
    from percorso.engine import server_sql as S
    from percorso.server.audit import AuditWriter, audit_row

    journal = tmp_path / ".percorso" / "audit-journal.jsonl"
    writer = AuditWriter(journal)
    rows = [audit_row(None, "customer_view", "GET /v1/customers/{identifier}", {"customer_id": f"C{i}"}, 200, i)
            for i in range(3)]
    for done in [writer.submit(r) for r in rows]:
        done.result(timeout=30)  # durable in the journal: the answer may leave
    writer.close()  # the commit failed (no connection): the rows stay journaled
    kept = journal.read_bytes()
    assert kept.count(b"\n") == 3
    with Engine(tmp_path / "a.duckdb") as engine:
        S.ensure_service_tables(engine)
        journal.write_bytes(kept + b'{"audit_id": "cut", "occurred_at": "2026-')
        assert AuditWriter(journal).replay(engine) == 3
        assert journal.read_bytes() == b""
        journal.write_bytes(kept)  # the same rows again (a kill before the journal was emptied)
        assert AuditWriter(journal).replay(engine) == 0
        got = engine.query("SELECT audit_id, occurred_at, query, row_count FROM audit_log ORDER BY row_count").to_pylist()
    assert [(g["audit_id"], g["occurred_at"], g["query"], g["row_count"]) for g in got] == \
        [(r["audit_id"], r["occurred_at"], r["query"], r["row_count"]) for r in rows]
