"""The public write key never merges two known customers (issue 17, Deliver 5).

Customer X is known from the CRM (crm id, e-mail x), customer Y from the web shop's orders
(account U2, e-mail y): both trusted sources. A call on the web write key carrying U2 and x
would join them, and no per-person limit forbids it (one account, one CRM id, two e-mails):
only the trust rule stands in the way. The call is stored, its link is flagged
``rejected_untrusted`` and explained, and X and Y stay two customers.
"""

from __future__ import annotations

from pathlib import Path

from percorso.collector.service import drain
from percorso.identity.explainer import explain
from percorso.ingest.pipeline import ingest_files
from tests.collector.helpers import Sender


def _known(project, tmp_path: Path) -> None:  # noqa: ANN001
    crm = tmp_path / "crm.csv"
    crm.write_text("crm_id;updated_at;first_name;last_name;email\nC1;2025-01-10 10:00;Anna;Rossi;x@example.it\n",
                   encoding="utf-8")
    shop = tmp_path / "orders.csv"
    shop.write_text("order_id,line_no,order_date,user_id,email,sku,quantity,unit_price,currency,status\n"
                    "O1,1,2025-02-01T10:00:00+01:00,U2,y@example.it,MAT-1,1,499.00,EUR,completed\n", encoding="utf-8")
    assert ingest_files(project, "crm", [crm])[0].accepted == 1
    assert ingest_files(project, "ecommerce", [shop])[0].accepted == 1


def _customer(project, id_type: str, value: str) -> str:  # noqa: ANN001
    m = project.engine.table("identity_map")
    (cid,) = project.engine.execute(m.filter((m.id_type == id_type) & (m.id_value == value)).select("customer_id")
                                    ).customer_id
    return cid


def test_the_public_key_never_merges_two_known_customers(project, tmp_path: Path) -> None:
    _known(project, tmp_path)
    sender = Sender(project)
    try:
        out = sender.send({"batch": [{"type": "track", "event": "Product Viewed", "userId": "U2", "messageId": "g-1",
                                      "context": {"traits": {"email": "X@Example.it"}}}]})
    finally:
        sender.close()
    assert out.status == 200
    report = drain(project, build=True)
    assert report.accepted == 1 and not report.errors
    e = project.engine
    ev = e.table("events")
    (event_id,) = e.execute(ev.filter(ev.source_key == "g-1").select("event_id")).event_id  # stored
    crm_customer = _customer(project, "crm_id", "C1")
    shop_customer = _customer(project, "user_id", "U2")
    assert crm_customer != shop_customer  # not merged
    links = e.table("identity_links")
    mine = e.execute(links.filter(links.event_id == event_id).select("status", "trusted", "source_name"))
    assert set(mine.status) == {"rejected_untrusted"} and not mine.trusted.any()  # flagged
    why = explain(project, "U2")
    assert why.customer_id == shop_customer
    assert [x["status"] for x in why.other_links if x["event_id"] == event_id] == ["rejected_untrusted"]  # explained
