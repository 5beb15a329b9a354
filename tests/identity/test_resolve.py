"""resolve / explain / evaluate on small events tables in a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from percorso.identity import evaluate, explain, is_blocked, resolve
from tests.identity.helpers import add_events, customer_of, new_project, partition


@pytest.fixture
def proj(tmp_path: Path):
    p = new_project(tmp_path)
    yield p
    p.close()


def test_kiosk_fifty_users_on_one_anonymous_id(proj) -> None:
    add_events(proj, [{"source_name": "web", "anonymous_id": "tablet-1", "user_id": f"u{i}"} for i in range(50)])
    report = resolve(proj)
    customers = {customer_of(proj, "user_id", f"u{i}") for i in range(50)}
    assert len(customers) == 50
    flags = proj.engine.query("SELECT id_type, id_value, n_linked FROM identity_flags").to_pylist()
    assert flags == [{"id_type": "anonymous_id", "id_value": "tablet-1", "n_linked": 50}]
    assert customer_of(proj, "anonymous_id", "tablet-1") is None
    assert report.links_flagged == 50 and report.links_used == 0
    # an event on the tablet alone belongs to no customer; a login event to its user
    ec = proj.engine.query("SELECT count(DISTINCT customer_id) AS n FROM event_customers").to_pylist()
    assert ec == [{"n": 50}]


def test_blocklisted_values_never_link(proj) -> None:
    add_events(proj, [
        {"source_name": "ecommerce", "user_id": "guest", "order_id": "o1", "loyalty_card": "L1"},
        {"source_name": "ecommerce", "user_id": "guest", "order_id": "o2", "loyalty_card": "L2"},
        {"source_name": "pos", "loyalty_card": "0000000", "order_id": "o3"},
        {"source_name": "pos", "loyalty_card": "0000000", "order_id": "o4"},
    ])
    resolve(proj)
    assert customer_of(proj, "user_id", "guest") is None
    assert customer_of(proj, "order_id", "o1") != customer_of(proj, "order_id", "o2")
    assert customer_of(proj, "order_id", "o3") != customer_of(proj, "order_id", "o4")
    st = proj.engine.query("SELECT status, count(*) AS n FROM identity_links GROUP BY 1 ORDER BY 1").to_pylist()
    # guest–o1, guest–L1, guest–o2, guest–L2, zeros–o3, zeros–o4 are blocked; o1–L1, o2–L2 used
    assert st == [{"status": "blocked", "n": 6}, {"status": "used", "n": 2}]


def test_an_incremental_run_writes_its_new_links_as_a_full_run_does(proj) -> None:
    """The links an incremental run appends take their ends' kind and text from the run's
    identifiers and only the blocked flag from the stored ones (ADR 0084): a full run over the
    same events writes the same rows (new ends, known ends, a blocked known end, a known pair)."""
    add_events(proj, [
        {"source_name": "ecommerce", "user_id": "guest", "order_id": "o1"},
        {"source_name": "ecommerce", "user_id": "u1", "email_key": "e1", "order_id": "o2"},
    ])
    assert resolve(proj).mode == "full"
    add_events(proj, [
        {"source_name": "ecommerce", "user_id": "guest", "order_id": "o3"},           # blocked known end
        {"source_name": "ecommerce", "user_id": "u1", "loyalty_card": "L1"},          # known end, new end
        {"source_name": "ecommerce", "user_id": "u1", "email_key": "e1"},              # a known pair again
        {"source_name": "pos", "loyalty_card": "0000000", "phone_key": "p1"},          # blocked new end
    ])
    assert resolve(proj).mode == "incremental"
    cols = "id_type_a, id_value_a, id_type_b, id_value_b, event_id, occurred_at, n_events, trusted, status"
    got = proj.engine.con.execute(f"SELECT {cols} FROM identity_links ORDER BY ALL").fetchall()
    assert {r[-1] for r in got} == {"blocked", "used"} and len(got) == 7
    assert ("loyalty_card", "0000000", "phone_key", "p1") in {r[:4] for r in got} | {r[2:4] + r[:2] for r in got}
    resolve(proj, full=True)
    assert proj.engine.con.execute(f"SELECT {cols} FROM identity_links ORDER BY ALL").fetchall() == got


def test_is_blocked_for_ingest_before_hashing() -> None:
    assert is_blocked("email", "test@test.com") and is_blocked("email", "noemail@negozio.it")
    assert is_blocked("phone", "+390000000000") and is_blocked("loyalty_card", "[object Object]")
    assert not is_blocked("email", "mario.rossi@gmail.com") and not is_blocked("phone", "+393401234567")
    # a small shop's customer 111 or card 2222 is a real number; 999999 on a card is a placeholder
    assert not is_blocked("crm_id", "111") and not is_blocked("loyalty_card", "2222")
    assert is_blocked("loyalty_card", "999999") and is_blocked("crm_id", "0000")


def test_untrusted_source_cannot_merge_two_known_customers(proj) -> None:
    add_events(proj, [
        {"source_name": "crm", "crm_id": "c1", "email_key": "e1"},
        {"source_name": "loyalty", "loyalty_card": "L2", "email_key": "e2"},
        {"source_name": "web", "anonymous_id": "a1", "email_key": "e1", "user_id": "u9"},
        {"source_name": "web", "email_key": "e2", "user_id": "u9"},
    ])
    report = resolve(proj)
    assert customer_of(proj, "crm_id", "c1") != customer_of(proj, "loyalty_card", "L2")
    assert report.links_rejected >= 1
    rejected = proj.engine.query("SELECT source_name FROM identity_links WHERE status = 'rejected_untrusted'")
    assert set(rejected["source_name"].to_pylist()) == {"web"}
    # the web visitor's cookie still joins the CRM customer it shares an e-mail with
    assert customer_of(proj, "anonymous_id", "a1") == customer_of(proj, "crm_id", "c1")


def test_trusted_source_merges_and_the_merge_is_logged_and_ids_stay_stable(proj) -> None:
    add_events(proj, [
        {"source_name": "crm", "crm_id": "c1", "email_key": "e1", "occurred_at": None},
        {"source_name": "pos", "loyalty_card": "L1", "order_id": "r1"},
        {"source_name": "web", "anonymous_id": "a1", "user_id": "u1"},
    ])
    resolve(proj)
    old_c1, old_l1, old_u1 = (customer_of(proj, "crm_id", "c1"), customer_of(proj, "loyalty_card", "L1"),
                              customer_of(proj, "user_id", "u1"))
    assert len({old_c1, old_l1, old_u1}) == 3
    assert all(c.startswith("C") and len(c) == 13 for c in (old_c1, old_l1, old_u1))
    # the loyalty sign-up (trusted) joins card and e-mail: incremental run
    add_events(proj, [{"source_name": "loyalty", "loyalty_card": "L1", "email_key": "e1", "source_key": "s"}])
    report = resolve(proj)
    assert report.mode == "incremental" and report.events_read == 1 and report.customers_retired == 1
    merged = customer_of(proj, "crm_id", "c1")
    assert merged == customer_of(proj, "loyalty_card", "L1")
    assert customer_of(proj, "user_id", "u1") == old_u1
    log = proj.engine.query("SELECT retired_id, kept_id, reason, link_event_id FROM identity_merges").to_pylist()
    assert len(log) == 1 and log[0]["reason"] == "merged" and log[0]["kept_id"] == merged
    assert {log[0]["retired_id"], merged} == {old_c1, old_l1}
    assert log[0]["link_event_id"] is not None
    before = partition(proj), sorted(proj.engine.query("SELECT * FROM identity_map").to_pylist(), key=str)
    events_before = proj.engine.query("SELECT * FROM event_customers ORDER BY event_id").to_pylist()
    report = resolve(proj, full=True)
    assert report.mode == "full" and report.customers_new == 0 and report.customers_retired == 0
    assert (partition(proj), sorted(proj.engine.query("SELECT * FROM identity_map").to_pylist(), key=str)) == before
    assert proj.engine.query("SELECT * FROM event_customers ORDER BY event_id").to_pylist() == events_before


def test_oldest_customer_id_is_kept_on_merge(proj) -> None:
    from datetime import datetime

    add_events(proj, [
        {"source_name": "pos", "loyalty_card": "L1", "occurred_at": datetime(2020, 1, 1)},
        {"source_name": "crm", "crm_id": "c1", "occurred_at": datetime(2024, 1, 1)},
    ])
    resolve(proj)
    older = customer_of(proj, "loyalty_card", "L1")
    add_events(proj, [{"source_name": "call_center", "crm_id": "c1", "loyalty_card": "L1"}])
    resolve(proj)
    assert customer_of(proj, "crm_id", "c1") == older


def test_event_gets_customer_of_highest_priority_identifier(proj) -> None:
    t = add_events(proj, [
        {"source_name": "web", "anonymous_id": "tab", "user_id": f"u{i}"} for i in range(3)
    ] + [{"source_name": "web", "anonymous_id": "a7"}, {"source_name": "web", "event_type": "page_view"}])
    resolve(proj)
    rows = {r["event_id"]: r for r in proj.engine.query("SELECT * FROM event_customers").to_pylist()}
    ids = t["event_id"].to_pylist()
    for i in range(3):
        assert rows[ids[i]]["customer_id"] == customer_of(proj, "user_id", f"u{i}")
        assert rows[ids[i]]["id_type"] == "user_id"
    assert rows[ids[3]]["customer_id"] == customer_of(proj, "anonymous_id", "a7")
    assert rows[ids[4]]["customer_id"] is None


def test_explain_lists_the_linking_events(proj) -> None:
    t = add_events(proj, [
        {"source_name": "crm", "crm_id": "c1", "email_key": "e1", "source_file": "crm.csv", "source_line": 4},
        {"source_name": "pos", "loyalty_card": "L1", "email_key": "e1", "source_file": "pos.csv", "source_line": 9},
        {"source_name": "web", "anonymous_id": "tab", "loyalty_card": "L1"},
        {"source_name": "web", "anonymous_id": "tab", "user_id": "u1"},
        {"source_name": "web", "anonymous_id": "tab", "user_id": "u2"},
    ])
    resolve(proj)
    e = explain(proj, "L1")
    assert e.customer_id == customer_of(proj, "crm_id", "c1")
    assert {(r["id_type"], r["id_value"]) for r in e.identifiers} == {
        ("crm_id", "c1"), ("email_key", "e1"), ("loyalty_card", "L1")}
    chain = [(x["from"], x["to"], x["event_id"], x["source_file"], x["source_line"]) for x in e.chain]
    ids = t["event_id"].to_pylist()
    assert chain == [("loyalty_card=L1", "email_key=e1", ids[1], "pos.csv", 9),
                     ("email_key=e1", "crm_id=c1", ids[0], "crm.csv", 4)]
    assert [(x["status"], x["id_value_a"]) for x in e.other_links] == [("flagged_hub", "tab")]
    assert [f["id_value"] for f in e.flags] == ["tab"]
    assert explain(proj, e.customer_id).customer_id == e.customer_id


def test_explain_finds_an_email_by_its_keyed_hash(proj) -> None:
    from percorso.identity.normalize import keyed_hash

    key = keyed_hash(proj.secret, "anna.verdi@example.it")
    add_events(proj, [{"source_name": "crm", "crm_id": "c5", "email_key": key}])
    resolve(proj)
    assert explain(proj, "  Anna.Verdi@Example.IT ").customer_id == customer_of(proj, "crm_id", "c5")


def test_cli_resolve_and_explain_json(proj) -> None:
    from percorso.cli import app

    add_events(proj, [{"source_name": "crm", "crm_id": "c1", "email_key": "e1"}])
    proj.close()
    runner = CliRunner()
    res = runner.invoke(app, ["identity", "resolve", "-p", str(proj.root), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["links_used"] == 1
    res = runner.invoke(app, ["identity", "explain", "c1", "-p", str(proj.root), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["chain"][0]["to"] in ("email_key=e1", "crm_id=c1")


def test_evaluate_pairwise_precision_and_recall_by_hand(proj, tmp_path: Path) -> None:
    # person X: 3 events, person Y: 2 events; resolution puts X's third event with Y
    add_events(proj, [
        {"source_name": "crm", "source_key": "1", "crm_id": "c1"},
        {"source_name": "crm", "source_key": "2", "crm_id": "c1"},
        {"source_name": "crm", "source_key": "3", "crm_id": "c2"},
        {"source_name": "crm", "source_key": "4", "crm_id": "c2"},
        {"source_name": "crm", "source_key": "5", "crm_id": "c2"},
    ])
    resolve(proj)
    gt = tmp_path / "identity.csv"
    gt.write_text("source_name,source_key,person_id\ncrm,1,X\ncrm,2,X\ncrm,3,X\ncrm,4,Y\ncrm,5,Y\n")
    r = evaluate(proj.engine, gt)
    # predicted pairs: C(2,2)+C(3,2)=4; true: C(3,2)+C(2,2)=4; correct: C(2,2)+C(1,2)+C(2,2)=2
    assert (r["predicted_pairs"], r["true_pairs"], r["correct_pairs"]) == (4, 4, 2)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(0.5)


def test_evaluate_scores_identity_assignment_and_reports_unplaced_events(proj, tmp_path: Path) -> None:
    # X: events 1, 2 (crm c1) and 3 (no identifier at all); Y: events 4, 5 (crm c2)
    add_events(proj, [
        {"source_name": "crm", "source_key": "1", "crm_id": "c1"},
        {"source_name": "crm", "source_key": "2", "crm_id": "c1"},
        {"source_name": "crm", "source_key": "3"},
        {"source_name": "crm", "source_key": "4", "crm_id": "c2"},
        {"source_name": "crm", "source_key": "5", "crm_id": "c2"},
    ])
    resolve(proj)
    gt = tmp_path / "identity.csv"
    gt.write_text("source_name,source_key,person_id\ncrm,1,X\ncrm,2,X\ncrm,3,X\ncrm,4,Y\ncrm,5,Y\n")
    r = evaluate(proj.engine, gt)
    # placed events only: predicted C(2,2)+C(2,2)=2, true 2, correct 2
    assert (r["predicted_pairs"], r["true_pairs"], r["correct_pairs"]) == (2, 2, 2)
    assert r["recall"] == 1.0 and r["unassigned_events"] == 1
    # every event: X has C(3,2)=3 true pairs, of which 1 is found; Y 1 of 1 -> 2 / 4
    assert r["recall_all_events"] == pytest.approx(0.5)


def test_evaluate_an_import_with_rows_keyed_by_content(proj, tmp_path: Path) -> None:
    """Imported files: one with an id column (natural keys, named by the truth), one without (rows
    keyed by their content, no ``source_key``, ADR 0074): the truth joins the first file's rows only."""
    from percorso.ingest import ingest_files

    ids = tmp_path / "with_ids.csv"
    ids.write_text("event_id,user_id,event_name,timestamp\ne1,u1,page_view,2025-03-01 10:00:00\n"
                   "e2,u1,page_view,2025-03-01 10:01:00\ne3,u2,page_view,2025-03-01 10:02:00\n"
                   "e4,u2,page_view,2025-03-01 10:03:00\n", encoding="utf-8")
    no_ids = tmp_path / "no_ids.csv"
    no_ids.write_text("user_id,event_name,timestamp\nu1,search,2025-03-02 10:00:00\nu1,search,2025-03-02 10:00:00\n"
                      "u2,search,2025-03-02 10:01:00\n", encoding="utf-8")
    ingest_files(proj, "clickstream", [ids])
    ingest_files(proj, "clickstream", [no_ids])
    keys = proj.engine.con.execute("SELECT source_file, source_key FROM events ORDER BY source_file, source_line")
    assert keys.fetchall() == [("no_ids.csv", None)] * 3 + [("with_ids.csv", f"e{i}") for i in range(1, 5)]
    resolve(proj)
    gt = tmp_path / "identity.csv"
    gt.write_text("source_name,source_key,person_id\nclickstream,e1,X\nclickstream,e2,X\nclickstream,e3,Y\n"
                  "clickstream,e4,X\n")
    r = evaluate(proj.engine, gt)
    # customers u1 {e1, e2 + two content rows}, u2 {e3, e4 + one}; over the named events only:
    # predicted C(2,2)+C(2,2)=2, true X {e1,e2,e4} C(3,2)=3 + Y 0, correct (e1,e2) = 1
    assert (r["predicted_pairs"], r["true_pairs"], r["correct_pairs"]) == (2, 3, 1)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(1 / 3)


def test_identifier_values_and_customer_ids_are_stored_plain(proj) -> None:
    """``id_value`` and ``customer_id`` are written without compression (ADR 0094) by every path that
    rewrites identity's tables whole: a first run (the fresh map) and a full run over a previous map
    (components, stable ids); the values are what the graph gives."""
    add_events(proj, [{"source_name": "web", "user_id": "u1", "anonymous_id": "a1"},
                      {"source_name": "web", "user_id": "u2"}])

    def plain() -> dict[str, bool]:
        ddl = dict(proj.engine.con.execute("SELECT table_name, sql FROM duckdb_tables()").fetchall())
        return {f"{t}.{c}": f"{c} VARCHAR USING COMPRESSION Uncompressed" in ddl[t]
                for t, c in [("identity_identifiers", "id_value"), ("identity_map", "id_value"),
                             ("identity_map", "customer_id")]}

    for full in (False, True):
        resolve(proj, full=full)
        assert all(plain().values()), plain()
        a1, u1, u2 = (customer_of(proj, k, v) for k, v in [("anonymous_id", "a1"), ("user_id", "u1"),
                                                             ("user_id", "u2")])
        assert a1 == u1 != u2
