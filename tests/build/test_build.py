"""Build stage on hand-written sources: sessions, session channels, orders, customers, consent."""

from __future__ import annotations

from pathlib import Path

from percorso.build import run_build
from build_helpers import CRM_HEAD, ECOM_HEAD, POS_HEAD, ingest, seg, write_jsonl


def _rows(p, sql: str) -> list[tuple]:
    return p.engine.con.execute(sql).fetchall()


def test_sessions_split_after_30_minutes_exactly_30_stays(proj, tmp_path: Path):
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1"),
        seg("m2", "2025-03-05T10:30:00Z", anon="a1"),         # exactly 30 min: same session
        seg("m3", "2025-03-05T11:00:01Z", anon="a1"),         # 30 min 1 s later: new session
        seg("m4", "2025-03-05T11:10:00Z", anon="a1"),
    ])
    ingest(proj, "web", f)
    rep = run_build(proj)
    assert rep.mode == "full" and rep.touchpoints == 4 and rep.customers == 1
    sessions = [s.split(":")[1] for (s,) in _rows(proj, "SELECT session_id FROM touchpoints ORDER BY occurred_at")]
    assert sessions == ["0", "0", "1", "1"]


def test_web_events_take_the_channel_of_their_session(proj, tmp_path: Path):
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1", url="https://shop.it/?utm_source=google&utm_medium=cpc"),
        seg("m2", "2025-03-05T10:05:00Z", anon="a1", url="https://shop.it/p/1", ref="https://shop.it/"),
        seg("m3", "2025-03-06T09:00:00Z", anon="a1", url="https://shop.it/"),                       # typed in
        seg("m4", "2025-03-07T09:00:00Z", anon="a1", url="https://shop.it/", ref="https://www.google.it/"),
    ])
    ingest(proj, "web", f)
    run_build(proj)
    got = _rows(proj, "SELECT channel FROM touchpoints ORDER BY occurred_at")
    assert [c for (c,) in got] == ["Paid Search", "Paid Search", "Direct", "Organic Search"]


def test_web_purchase_and_order_file_are_one_order_with_file_values(proj, tmp_path: Path):
    w = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1", url="https://shop.it/?utm_source=newsletter&utm_medium=email"),
        seg("m2", "2025-03-05T10:10:00Z", anon="a1", type="track", event="Order Completed",
            props={"order_id": "W1", "revenue": 90.0}),
        # two days later, typed in: the order is still credited to the e-mail (last non-direct)
        seg("m3", "2025-03-07T10:00:00Z", anon="a1", url="https://shop.it/"),
        seg("m4", "2025-03-07T10:05:00Z", anon="a1", type="track", event="Order Completed",
            props={"order_id": "W2", "revenue": 20.0}),
    ])
    e = tmp_path / "ecom.csv"
    e.write_text(ECOM_HEAD
                 + "W1,1,2025-03-05T11:10:30+01:00,,,,a1,S1,Sheet,lenzuola,2,40.00,0.00,EUR,,0.00,completed\n"
                 + "W1,2,2025-03-05T11:10:30+01:00,,,,a1,S2,Pillow,cuscini,1,25.00,5.00,EUR,,0.00,completed\n",
                 encoding="utf-8")
    ingest(proj, "web", w)
    ingest(proj, "ecommerce", e)
    run_build(proj)
    orders = _rows(proj, "SELECT order_id, revenue, n_lines, n_items, online, channel, is_return FROM orders ORDER BY 1")
    # file revenue: 2×40 + (25 − 5) = 100, not the tracker's 90
    assert orders == [("W1", 100.0, 2, 3.0, True, "Email", False), ("W2", 20.0, 0, 0.0, True, "Email", False)]
    purchases = _rows(proj, "SELECT source_system, revenue FROM touchpoints WHERE event_type = 'purchase' ORDER BY 2")
    assert purchases == [("web", 20.0), ("web", 100.0)]
    # the order file's W1 row (10:10:30, after m2) is left out: its position stays a gap
    assert _rows(proj, "SELECT seq FROM touchpoints ORDER BY occurred_at, event_id") == [(1,), (2,), (4,), (5,)]
    assert _rows(proj, "SELECT n_orders, revenue FROM customers") == [(2, 120.0)]


def test_store_receipts_and_returns_become_orders_in_store(proj, tmp_path: Path):
    f = tmp_path / "pos.csv"
    f.write_text(POS_HEAD
                 + "MI01;7;05/03/2025;10:30;2900000000017;A1;Rete;reti;1;500,00;0;carta;;1\n"
                 + "MI01;8;06/03/2025;11:00;2900000000017;A1;Rete;reti;-1;500,00;0;carta;;1\n"
                 + "TO01;9;10/03/2025;12:00;2900000000017;A2;Cuscino;cuscini;2;30,00;0;carta;;1\n",
                 encoding="utf-8")
    ingest(proj, "pos", f)
    run_build(proj)
    got = _rows(proj, "SELECT store_id, revenue, online, channel, is_return FROM orders ORDER BY occurred_at")
    assert got == [("MI01", 500.0, False, "Store / POS", False), ("MI01", -500.0, False, "Store / POS", True),
                   ("TO01", 60.0, False, "Store / POS", False)]
    cust = _rows(proj, "SELECT n_orders, revenue, home_store, loyalty_card, is_identified, first_channel FROM customers")
    # one receipt in each store (the return does not count): the tie goes to the most recent store
    assert cust == [(2, 60.0, "TO01", "2900000000017", True, "Store / POS")]


def test_consent_and_traits_latest_value_wins(proj, tmp_path: Path):
    f = tmp_path / "crm.csv"
    f.write_bytes((CRM_HEAD
                   + "CRM1;2024-01-01T10:00:00;Anna;Rossi;anna@x.it;3331234567;;Milano;MI;1;1;negozio\n"
                   + "CRM1;2024-06-01T10:00:00;Anna;Rossi;anna@x.it;3331234567;;Torino;TO;1;0;web\n").encode("latin-1"))
    ingest(proj, "crm", f)
    run_build(proj)
    got = _rows(proj, "SELECT first_name, city, consent_profiling, consent_marketing, email_key, phone_key, n_emails, "
                      "n_phones FROM customers")
    # contacts are keyed hashes on the profile (HMAC of the normalised value), the raw values sealed in the vault
    from percorso.identity.normalize import keyed_hash
    from percorso.privacy.contacts import open_contacts

    keys = (keyed_hash(proj.secret, "anna@x.it"), keyed_hash(proj.secret, "+393331234567"))
    assert got == [("Anna", "Torino", True, False, *keys, 1, 1)]
    opened = open_contacts(proj.engine, proj.settings, proj.engine.query("SELECT email_key, phone_key FROM customers"))
    assert opened.to_pylist() == [{"email": "anna@x.it", "phone": "+393331234567"}]


def test_birth_date_from_the_crm_latest_known_value_wins(proj, tmp_path: Path):
    """The CRM's (or loyalty card's) birth date reaches the profile for birthday triggers; a later
    record without one does not erase it, a later record with another one corrects it."""
    f = tmp_path / "crm.csv"
    head = CRM_HEAD.replace(";origin\n", ";origin;data_di_nascita\n")
    f.write_bytes((head
                   + "CRM1;2024-01-01T10:00:00;Anna;Rossi;anna@x.it;;;Milano;MI;1;1;negozio;29/02/1980\n"
                   + "CRM1;2024-06-01T10:00:00;Anna;Rossi;anna@x.it;;;Torino;TO;1;1;web;\n"
                   + "CRM2;2024-01-01T10:00:00;Bruno;Verdi;bruno@x.it;;;Roma;RM;1;1;web;01/03/1975\n"
                   + "CRM2;2024-02-01T10:00:00;Bruno;Verdi;bruno@x.it;;;Roma;RM;1;1;web;02/03/1975\n").encode("latin-1"))
    ingest(proj, "crm", f)
    run_build(proj)
    got = _rows(proj, "SELECT first_name, city, CAST(birth_date AS VARCHAR) FROM customers ORDER BY first_name")
    assert got == [("Anna", "Torino", "1980-02-29"), ("Bruno", "Roma", "1975-03-02")]


def test_rebuild_with_nothing_new_changes_nothing_and_ids_are_stable(proj, tmp_path: Path):
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1", email="x@y.it"),
        seg("m2", "2025-03-06T10:00:00Z", anon="a2"),
    ])
    ingest(proj, "web", f)
    run_build(proj)
    before = _rows(proj, "SELECT * FROM touchpoints ORDER BY event_id")
    rep = run_build(proj)
    assert rep.mode == "incremental" and rep.customers_rebuilt == 0
    assert _rows(proj, "SELECT * FROM touchpoints ORDER BY event_id") == before
    assert _rows(proj, "SELECT count(*) FROM builds") == [(2,)]


def test_order_and_customer_ids_are_stored_plain_and_kept_so_by_appends(proj, tmp_path: Path):
    """A full build writes ``orders``' ids and ``customers.customer_id`` without compression (ADR 0095);
    an incremental build appends its rows into those columns, which keep their storage."""
    def plain() -> dict[str, bool]:
        ddl = dict(_rows(proj, "SELECT table_name, sql FROM duckdb_tables()"))
        return {f"{t}.{c}": f"{c} VARCHAR USING COMPRESSION Uncompressed" in ddl[t]
                for t, c in [("orders", "order_id"), ("orders", "customer_id"), ("orders", "event_id"),
                             ("customers", "customer_id")]}

    ingest(proj, "web", write_jsonl(tmp_path / "w1.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1", type="track", event="Order Completed",
            props={"order_id": "W1", "revenue": 90.0})]))
    assert run_build(proj).mode == "full" and all(plain().values()), plain()
    ingest(proj, "web", write_jsonl(tmp_path / "w2.jsonl", [
        seg("m2", "2025-03-06T10:00:00Z", anon="a2", type="track", event="Order Completed",
            props={"order_id": "W2", "revenue": 20.0})]))
    assert run_build(proj).mode == "incremental" and all(plain().values()), plain()
    got = _rows(proj, """SELECT o.order_id, o.revenue, c.n_orders FROM orders o JOIN customers c USING (customer_id)
                         ORDER BY 1""")
    assert got == [("W1", 90.0, 1), ("W2", 20.0, 1)]


def test_events_without_any_identifier_are_counted_not_hidden(proj, tmp_path: Path):
    f = tmp_path / "offline.csv"
    f.write_text("record_id,event_type,occurred_at,email,phone,crm_id,loyalty_card,store_id,campaign,coupon_code,"
                 "fair_name\nR1,flyer_received,2025-03-01T10:00:00,,,,,,flyer_primavera,,\n", encoding="utf-8")
    ingest(proj, "events", f)
    rep = run_build(proj)
    assert (rep.events, rep.touchpoints, rep.events_without_customer) == (1, 0, 1)


def test_build_summary_counts_buyers_per_place(proj, tmp_path: Path):
    """A return receipt without a card becomes a customer of its own: it is a return, not a store buyer."""
    from percorso.build.summary import orders_by_place

    f = tmp_path / "pos.csv"
    f.write_text(POS_HEAD
                 + "MI01;7;05/03/2025;10:30;2900000000017;A1;Rete;reti;1;500,00;0;carta;;1\n"
                 + "MI01;8;06/03/2025;11:00;;A1;Rete;reti;-1;500,00;0;carta;;1\n",
                 encoding="utf-8")
    ingest(proj, "pos", f)
    run_build(proj)
    assert _rows(proj, "SELECT count(*) FROM customers") == [(2,)]  # the card holder and the unlinked return
    (store,) = orders_by_place(proj.engine)
    assert store == {"online": False, "orders": 1, "returns": 1, "revenue": 0.0, "customers": 1}


def test_seq_orders_each_customers_touchpoints_by_time_then_event_id(proj, tmp_path: Path):
    """``touchpoints.seq`` (what every journey analysis orders by, ADR 0035) is the customer's
    order by time then event id, from 1; events of one second at a session's start share it."""
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1"),
        seg("m2", "2025-03-05T10:00:00Z", anon="a1"),         # same second as m1
        seg("m3", "2025-03-05T11:00:01Z", anon="a1"),         # a new session ...
        seg("m4", "2025-03-05T11:00:01Z", anon="a1"),         # ... which m4, in the same second, is in too
        seg("m5", "2025-03-05T11:10:00Z", anon="a1"),
        seg("m6", "2025-03-05T09:00:00Z", anon="b1"),
    ])
    ingest(proj, "web", f)
    run_build(proj)
    rows = _rows(proj, "SELECT customer_id, event_id, occurred_at, seq, session_id FROM touchpoints")
    by_customer: dict[str, list[tuple]] = {}
    for r in rows:
        by_customer.setdefault(r[0], []).append(r)
    assert sorted(len(v) for v in by_customer.values()) == [1, 5]
    for mine in by_customer.values():
        ordered = sorted(mine, key=lambda r: (r[2], r[1]))
        assert [r[3] for r in ordered] == list(range(1, len(mine) + 1))
    five = sorted(max(by_customer.values(), key=len), key=lambda r: r[3])
    assert [s.split(":")[1] for *_, s in five] == ["0", "0", "1", "1", "1"]


def test_seq_of_events_of_one_time_follows_their_event_ids(proj, tmp_path: Path):
    """A full build sorts a customer's rows by time and row (ADR 0064) and then puts the rows of one
    time in the order of their event ids: ``seq`` is still the order of (time, event id), and each
    block of one time is in one session (here 8 events of one second, then 2, then one more)."""
    f = write_jsonl(tmp_path / "w.jsonl", [
        *[seg(f"t{i}", "2025-03-05T10:00:00Z", anon="a1") for i in range(8)],
        seg("u1", "2025-03-05T12:00:00Z", anon="a1"), seg("u2", "2025-03-05T12:00:00Z", anon="a1"),
        seg("u3", "2025-03-05T12:10:00Z", anon="a1"),
    ])
    ingest(proj, "web", f)
    assert run_build(proj).mode == "full"
    by_row = [r[0] for r in _rows(proj, "SELECT event_id FROM events_with_rowid ORDER BY occurred_at, rowid")]
    assert by_row[:8] != sorted(by_row[:8])           # the rows' order is not the ids' (else nothing is tested)
    rows = _rows(proj, "SELECT event_id, occurred_at, seq, session_id FROM touchpoints")
    ordered = sorted(rows, key=lambda r: (r[1], r[0]))
    assert [r[2] for r in ordered] == list(range(1, 12))
    assert [r[3].split(":")[1] for r in ordered] == ["0"] * 8 + ["1"] * 3


def test_customer_no_is_the_number_of_the_id_and_no_reader_sees_it(proj, tmp_path: Path):
    """``touchpoints.customer_no`` (ADR 0062): the 12 hex digits of the customer id read as a number,
    in a full build and for the customers an incremental one adds; an export shows the fields alone."""
    from percorso.build.details import with_details
    from percorso.build.schema import TOUCHPOINT_FIELDS

    ingest(proj, "web", write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1"), seg("m2", "2025-03-05T10:05:00Z", anon="a2")]))
    assert run_build(proj).mode == "full"
    ingest(proj, "web", write_jsonl(tmp_path / "w2.jsonl", [
        seg("m3", "2025-03-06T10:00:00Z", anon="a3"), seg("m4", "2025-03-06T10:05:00Z", anon="a1")]))
    assert run_build(proj).mode == "incremental"
    got = _rows(proj, "SELECT DISTINCT customer_id, customer_no FROM touchpoints")
    assert len(got) == 3 and len({n for _, n in got}) == 3
    assert all(n == int(cid[1:], 16) and len(cid) == 13 for cid, n in got)
    shown = with_details(proj.engine, proj.engine.table("touchpoints")).columns
    assert list(shown) == [c for c, _ in TOUCHPOINT_FIELDS]


def test_campaign_is_the_utm_one_else_the_properties_campaign_else_campaign_name(proj, tmp_path: Path):
    """``touchpoints.campaign`` (a full build reads the properties once per distinct text, ADR 0066):
    the UTM campaign when the row has one, whatever its properties say; else the properties'
    ``campaign`` when it is a string, else their ``campaign_name`` when it is one; else NULL. Two
    rows share each properties text, one of them with a UTM campaign, so a text's value is not
    taken for a row the UTM tag decides. An incremental build reads them per row: same values."""
    url = "https://shop.it/?utm_source=news&utm_medium=email&utm_campaign=Spring"
    props = [({"campaign": "Natale"}, "Natale"), ({"campaign_name": "Saldi"}, "Saldi"),
             ({"campaign": 5, "campaign_name": "Cinque"}, "Cinque"), ({"campaign": None}, None),
             ({"campaign": "Primo", "campaign_name": "Secondo"}, "Primo"), ({}, None)]
    msgs, expected = [], {}
    for i, (p, want) in enumerate(props):
        msgs.append(seg(f"p{i}", f"2025-03-0{i + 1}T10:00:00Z", anon=f"a{i}", props=p))
        msgs.append(seg(f"u{i}", f"2025-03-0{i + 1}T11:00:00Z", anon=f"a{i}", url=url, props=p))
        expected |= {f"p{i}": want, f"u{i}": "spring"}
    ingest(proj, "web", write_jsonl(tmp_path / "w.jsonl", msgs))
    assert run_build(proj, full=True).mode == "full"
    sql = "SELECT e.source_key, t.campaign FROM touchpoints t JOIN events e USING (event_id)"
    assert dict(_rows(proj, sql)) == expected
    ingest(proj, "web", write_jsonl(tmp_path / "w2.jsonl", [seg("n1", "2025-03-09T10:00:00Z", anon="a0",
                                                                props={"campaign_name": "Dopo"})]))
    assert run_build(proj).mode == "incremental"
    assert dict(_rows(proj, sql)) == expected | {"n1": "Dopo"}


def _web_channels(proj) -> dict[str, tuple]:
    """Per event id: its touchpoint's time, session number and channel."""
    return {e: (at, s, ch) for e, at, s, ch in _rows(
        proj, "SELECT event_id, occurred_at, session_no, channel::VARCHAR FROM touchpoints")}


def test_session_channel_from_its_first_informative_row_first_or_later_or_tied(proj, tmp_path: Path):
    """A full build takes a session's channel from its first row when that row gives one, and
    groups the other sessions (ADR 0085): a session opened by a typed-in visit takes the channel
    of its later campaign visit; one opened by a search visit keeps it; in one opened by two rows
    of one second, the row with the smaller event id gives it (the order of ties)."""
    cpc = "https://shop.it/?utm_source=google&utm_medium=cpc"
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1"),                                  # typed in: Direct
        seg("m2", "2025-03-05T10:05:00Z", anon="a1", url=cpc),                         # Paid Search
        seg("m3", "2025-03-05T12:00:00Z", anon="a1", ref="https://www.google.it/"),    # Organic Search
        seg("m4", "2025-03-05T12:05:00Z", anon="a1", url=cpc),
        seg("m5", "2025-03-05T14:00:00Z", anon="a1", url=cpc),                         # one second: two
        seg("m6", "2025-03-05T14:00:00Z", anon="a1", ref="https://www.google.it/"),    # informative rows
        seg("m7", "2025-03-05T14:10:00Z", anon="a1"),
    ])
    ingest(proj, "web", f)
    assert run_build(proj).mode == "full"
    got = sorted(_web_channels(proj).items(), key=lambda kv: (kv[1][0], kv[0]))
    assert [s for _e, (_at, s, _ch) in got] == [0, 0, 1, 1, 2, 2, 2]
    assert [ch for _e, (_at, _s, ch) in got[:4]] == ["Paid Search", "Paid Search", "Organic Search", "Organic Search"]
    # which of m5 (Paid Search) and m6 (Organic Search) has the smaller id is the hash's: the oracle reads the ids
    ids = {e for e, (at, _s, _ch) in got if at.hour == 14 and at.minute == 0}
    first_is_m5 = _rows(proj, f"SELECT count(*) FROM events WHERE event_id = '{min(ids)}' "
                              "AND source_key LIKE '%m5%'")[0][0] == 1
    expected = "Paid Search" if first_is_m5 else "Organic Search"
    assert len(ids) == 2 and [ch for _e, (_at, _s, ch) in got[4:]] == [expected] * 3


def test_session_channel_of_rows_without_a_time(proj, tmp_path: Path):
    """Rows without a time (the ingest refuses them; the build takes them as they come) make every
    session grouped (ADR 0085): the first of them by event id joins the customer's last timed
    session, each other one opens a session of its own (ADR 0064), and the channels follow that."""
    cpc = "https://shop.it/?utm_source=google&utm_medium=cpc"
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("n1", "2025-03-05T10:00:00Z", anon="b1", url=cpc),                         # Paid Search
        seg("n2", "2025-03-05T10:10:00Z", anon="b1"),                                  # Direct
        seg("n3", "2025-03-05T11:00:00Z", anon="b1", ref="https://www.google.it/"),    # made timeless
        seg("n4", "2025-03-05T11:01:00Z", anon="b1", ref="https://www.google.it/"),    # made timeless
    ])
    ingest(proj, "web", f)
    proj.engine.con.execute("UPDATE event_store SET occurred_at = NULL "
                            "WHERE occurred_at >= TIMESTAMP '2025-03-05 11:00:00'")
    assert run_build(proj).mode == "full"
    got = _web_channels(proj)
    timeless = sorted(e for e, (at, _s, _ch) in got.items() if at is None)
    assert len(got) == 4 and len(timeless) == 2
    assert [got[e][1:] for e in timeless] == [(0, "Paid Search"), (1, "Organic Search")]
    assert sorted(v[1:] for e, v in got.items() if e not in timeless) == [(0, "Paid Search"), (0, "Paid Search")]


def test_latest_email_of_a_person_is_the_last_seen_then_the_largest_key(proj, tmp_path: Path):
    """``customers.email_key`` is the person's e-mail key seen last (by its first time seen), a tie
    broken by the larger key; a person without one has none. Oracle: the identity map itself."""
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-01T10:00:00Z", anon="a1", user="u1", email="uno@x.it"),
        seg("m2", "2025-03-05T10:00:00Z", user="u1", email="due@x.it"),
        seg("m3", "2025-03-05T10:00:00Z", user="u1", email="tre@x.it"),    # seen first at the same time
        seg("m4", "2025-03-02T10:00:00Z", user="u2", email="solo@x.it"),
        seg("m5", "2025-03-03T10:00:00Z", anon="a9"),
    ])
    ingest(proj, "web", f)
    run_build(proj)
    emails: dict[str, list[tuple]] = {}
    for customer, at, value in _rows(proj, "SELECT customer_id, first_seen_at, id_value FROM identity_map "
                                           "WHERE id_type = 'email_key'"):
        emails.setdefault(customer, []).append((at, value))
    assert sorted(len(v) for v in emails.values()) == [1, 3]      # the choice is made among three
    want = {c: max(v)[1] for c, v in emails.items()}
    got = dict(_rows(proj, "SELECT customer_id, email_key FROM customers"))
    assert len(got) == 3 and {c: k for c, k in got.items() if k is not None} == want
    assert _rows(proj, "SELECT n_emails FROM customers ORDER BY n_emails") == [(0,), (1,), (3,)]
