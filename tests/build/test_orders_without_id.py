"""An order event without an order id is an order of its own (ADR 0057).

A shop's clickstream export often has ``purchase`` rows with a value and no transaction id.
Attribution counted each as a conversion while ``orders`` (and so RFM, CLV, the customers'
revenue) had none of them: the two totals that ``percorso.build.definitions`` says are equal
were not. Hand-written files, hand-computed expectations.
"""

from __future__ import annotations

from pathlib import Path

from percorso.api import AttributionQuery, run
from percorso.build import run_build
from build_helpers import ECOM_HEAD, ingest, seg, write_jsonl

CLICKS_HEAD = "customer_id,ts,event_type,channel,revenue,order_id\n"


def _rows(p, sql: str) -> list[tuple]:
    return p.engine.con.execute(sql).fetchall()


def _clicks(path: Path, rows: list[str]) -> Path:
    path.write_text(CLICKS_HEAD + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_each_purchase_without_an_id_is_one_order_named_by_its_event(proj, tmp_path: Path):
    f = _clicks(tmp_path / "c.csv", [
        "u1,2025-03-05 10:00:00,page_view,newsletter,,",
        "u1,2025-03-05 10:05:00,purchase,newsletter,30,",
        "u1,2025-03-05 10:06:00,purchase,newsletter,20,",       # a second one, same session: another order
        "u1,2025-03-09 09:00:00,purchase,cpc,50,X1",            # with an id: as before
        "u2,2025-03-06 12:00:00,purchase,organic,,",             # no value: an order of 0 €
        "u2,2025-03-07 12:00:00,refund,organic,-10,",            # a refund without an id: a return
    ])
    ingest(proj, "clickstream", f)
    run_build(proj)
    got = _rows(proj, """SELECT o.customer_id = c.customer_id, o.revenue, o.is_return, o.channel,
                                o.order_id = o.event_id, o.order_id
                         FROM orders o JOIN (SELECT DISTINCT customer_id FROM touchpoints) c USING (customer_id)
                         ORDER BY o.occurred_at""")
    assert [g[1:5] for g in got] == [
        (30.0, False, "Email", True), (20.0, False, "Email", True), (0.0, False, "Organic Search", True),
        (-10.0, True, "Organic Search", True), (50.0, False, "Paid Search", False)]
    assert got[-1][5] == "X1"
    # the id-less orders' ids are their purchase touchpoints' event ids, one each
    assert _rows(proj, """SELECT count(*) FROM orders o JOIN touchpoints t ON t.event_id = o.order_id
                          WHERE t.order_id IS NULL AND t.event_type IN ('purchase', 'refund')""") == [(4,)]
    cust = dict(_rows(proj, """SELECT t.user_id, (c.n_orders, c.revenue) FROM customers c JOIN
                                 (SELECT DISTINCT customer_id, e.user_id FROM touchpoints JOIN events e USING (event_id)) t
                                 USING (customer_id)"""))
    # u1: 30 + 20 + 50; u2: an order of 0 € and a return of −10 € (n_orders counts purchase orders)
    assert cust == {"u1": (3, 100.0), "u2": (1, -10.0)}


def test_attribution_total_equals_the_purchase_orders(proj, tmp_path: Path):
    """``definitions``: attribution's default conversion counts the purchase orders and their
    gross revenue; with purchases that have no id the two totals now agree."""
    f = _clicks(tmp_path / "c.csv", [
        "u1,2025-03-05 10:00:00,page_view,newsletter,,",
        "u1,2025-03-05 10:05:00,purchase,newsletter,30,",
        "u1,2025-03-05 10:06:00,purchase,newsletter,20,",
        "u2,2025-03-06 12:00:00,page_view,cpc,,",
        "u2,2025-03-06 12:01:00,purchase,cpc,45,A7",
    ])
    ingest(proj, "clickstream", f)
    run_build(proj)
    orders = _rows(proj, "SELECT count(*), sum(revenue) FROM orders WHERE NOT is_return")
    assert orders == [(3, 95.0)]
    res = run(proj.engine, AttributionQuery(models=["last_touch"]))
    total = res.totals[(res.totals["row"] == "total") & (res.totals["model"] == "last")].iloc[0]
    assert (int(total["conversions"]), float(total["value"])) == (3, 95.0)


def test_a_web_purchase_with_an_id_and_the_order_file_stay_one_order(proj, tmp_path: Path):
    """Orders with ids keep the one-row-per-order rule; a purchase without an id next to them is
    one more order, not merged with the file's row (nothing tells they are the same)."""
    w = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1"),
        seg("m2", "2025-03-05T10:10:00Z", anon="a1", type="track", event="Order Completed",
            props={"order_id": "W1", "revenue": 90.0}),
        seg("m3", "2025-03-06T10:10:00Z", anon="a1", type="track", event="Order Completed",
            props={"revenue": 15.0}),
    ])
    e = tmp_path / "ecom.csv"
    e.write_text(ECOM_HEAD + "W1,1,2025-03-05T11:10:30+01:00,,,,a1,S1,Sheet,lenzuola,2,40.00,0.00,EUR,,0.00,completed\n",
                 encoding="utf-8")
    ingest(proj, "web", w)
    ingest(proj, "ecommerce", e)
    run_build(proj)
    got = _rows(proj, "SELECT order_id = event_id, revenue FROM orders ORDER BY occurred_at")
    assert got == [(False, 80.0), (True, 15.0)]
    assert _rows(proj, "SELECT n_orders, revenue FROM customers") == [(2, 95.0)]


def test_a_customers_revenue_is_an_exact_sum_in_full_and_incremental_builds(proj, tmp_path: Path):
    """0.1 + 0.2 is 0.30000000000000004 as doubles, and a sum of doubles depends on the order the
    engine's threads meet the rows: an incremental build's revenue differed from a full
    build's in the last bit. Amounts are summed as decimals (``schema.REVENUE_DECIMAL``)."""
    ingest(proj, "clickstream", _clicks(tmp_path / "a.csv", ["u1,2025-03-05 10:05:00,purchase,newsletter,0.1,"]))
    run_build(proj)
    ingest(proj, "clickstream", _clicks(tmp_path / "b.csv", ["u1,2025-03-06 10:05:00,purchase,newsletter,0.2,"]))
    assert run_build(proj).mode == "incremental"
    assert _rows(proj, "SELECT n_orders, revenue FROM customers") == [(2, 0.3)]
    run_build(proj, full=True)
    assert _rows(proj, "SELECT n_orders, revenue FROM customers") == [(2, 0.3)]
