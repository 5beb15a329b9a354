"""The collector on a real ``percorso serve``: Segment's own Python library (from PyPI) posts to
it; events arrive once, identified, with their page and campaign context, and reach the
customer view through the micro-batch build; the public write key never merges two known
customers; HTTP answers: 401 without a key, CORS for the configured origin only, 413 past
the limits, 503 + Retry-After when the spool is full.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import pytest
from segment.analytics import Client

from percorso.project import open_project
from tests.server.conftest import Server, percorso

ORIGIN = "https://www.dormirebene.it"


def _configure(root: Path, **collector: object) -> None:
    lines = ["", "[collector]"] + [f"{k} = {v!r}".replace("'", '"') if not isinstance(v, list) else
                                   f"{k} = [{', '.join(repr(x).replace(chr(39), chr(34)) for x in v)}]"
                                   for k, v in collector.items()]
    with open(root / "percorso.toml", "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines).replace("True", "true").replace("False", "false") + "\n")


def write_key(root: Path, source: str = "web") -> str:
    return percorso("source", "key", "create", source, "-p", str(root)).stdout.decode().strip()


def _events(root: Path, **where: str):  # noqa: ANN202
    with open_project(root, read_only=True) as p:
        t = p.engine.table("events")
        for k, v in where.items():
            t = t.filter(t[k] == v)
        return p.engine.execute(t)


def _two_known_customers(root: Path) -> tuple[str, str]:
    """A user id of one CRM customer and the e-mail of another that has no user id (both
    known from a trusted source)."""
    with open_project(root, read_only=True) as p:
        e = p.engine
        cp, m = e.table("contact_profiles"), e.table("identity_map")
        with_uid = m.filter(m.id_type == "user_id").select("customer_id")
        a = e.execute(cp.filter(cp.user_id.notnull()).select("user_id").distinct().order_by("user_id").limit(1))
        emails = m.filter(m.id_type == "email_key").anti_join(with_uid, "customer_id")
        emails = emails.semi_join(cp.filter(cp.source_name == "crm"), emails.id_value == cp.email_key)
        key = e.execute(emails.select("id_value").order_by("id_value").limit(1)).id_value[0]
        from percorso.privacy.vault import plain_vault  # the vault is sealed: opened for the test

        vault = plain_vault(p).to_pylist()
        email = next(r["value"] for r in vault if r["key"] == key)
        return a.user_id[0], email


def test_segment_python_library_through_a_real_server(demo: Path) -> None:
    _configure(demo, batch_seconds=0.5, allowed_origins=[ORIGIN])
    key = write_key(demo)
    uid_a, email_b = _two_known_customers(demo)
    server = Server.start(demo)
    uid = "collector-new-1"
    try:
        errors: list = []
        client = Client(write_key=key, host=server.url, sync_mode=True, max_retries=1,
                        on_error=lambda e, batch: errors.append(e))
        page_url = f"{ORIGIN}/materassi?utm_source=newsletter&utm_medium=email&utm_campaign=saldi_invernali"
        client.identify(uid, traits={"email": "Nuovo.Cliente@Example.it"}, anonymous_id="anon-collector-1")
        client.page(uid, name="Materassi", anonymous_id="anon-collector-1",
                    context={"page": {"url": page_url, "referrer": "https://mail.example.it/"},
                             "campaign": {"source": "newsletter", "medium": "email", "name": "saldi_invernali"}})
        for _ in range(2):  # a retry of the same call (same messageId) is stored once
            client.track(uid, "Order Completed", {"revenue": 99.5, "order_id": "CX-1", "currency": "EUR"},
                         message_id="collector-order-1")
        # the public key carries A's user id and B's e-mail: stored, flagged, explained, not merged
        client.track(uid_a, "Product Viewed", {"product_id": "MAT-001"}, context={"traits": {"email": email_b}},
                     message_id="collector-guard-1")
        client.flush()
        assert not errors
        with server.client(server.admin_token) as http:
            deadline, view = time.monotonic() + 120, {}
            while time.monotonic() < deadline:
                resp = http.get(f"/v1/customers/{uid}")
                view = resp.json() if resp.status_code == 200 else {}
                # the view reads several tables one after the other: a micro-batch committing in
                # between can show the new order before the new summary, so wait for both
                if view.get("orders") and view["summary"]["n_orders"]:
                    break
                time.sleep(0.2)
            assert view["summary"]["revenue"] == 99.5 and view["summary"]["n_orders"] == 1
            guard = http.get(f"/v1/identity/{uid_a}/explain").json()
        stats = percorso("collector", "stats", "-p", str(demo), "--format", "json").stdout.decode()
        assert '"deduplicated": 1' in stats and '"server": "running"' in stats
    finally:
        assert server.stop() == 0
    mine = _events(demo, user_id=uid)
    assert sorted(mine.event_type) == ["identify", "page_view", "purchase"]  # the order once
    page = mine[mine.event_type == "page_view"].iloc[0]
    assert (page.utm_source, page.utm_medium, page.utm_campaign) == ("newsletter", "email", "saldi_invernali")
    assert page.page_url == page_url and page.referrer == "https://mail.example.it/"
    assert page.user_agent.startswith("analytics-python/") and page.ip_key is not None
    assert mine[mine.event_type == "identify"].email_key.notnull().all()  # keyed hash, never the address
    # the guard: the event is stored; its link between two known customers is not used, and the
    # explanation names it (here both are CRM contacts, so the one-CRM-id limit flags it first;
    # tests/collector/test_guard.py isolates the trust rule)
    (guard_event,) = _events(demo, source_key="collector-guard-1").event_id
    refused = [x for x in guard["other_links"] if x.get("event_id") == guard_event]
    assert refused and {x["status"] for x in refused} <= {"rejected_untrusted", "flagged_hub"}
    with open_project(demo, read_only=True) as p:
        m = p.engine.table("identity_map")
        owners = p.engine.execute(m.filter(m.id_value == uid_a).select("customer_id").distinct())
        assert len(owners) == 1 and guard["customer_id"] == owners.customer_id[0]
    assert email_b.lower() not in str(guard)


def test_http_answers_auth_cors_limits_and_backpressure(demo: Path) -> None:
    _configure(demo, spool_max_mb=0.05, batch_seconds=3600.0, build=False, allowed_origins=[ORIGIN])
    key = write_key(demo)
    server = Server.start(demo)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            call = {"userId": "u-1", "event": "Product Viewed", "properties": {"product_id": "X"}}
            assert http.post("/v1/track", json=call).status_code == 401
            assert http.post("/v1/track", json=call, auth=("pcw_000000000000_" + "x" * 30, "")).status_code == 401
            ok = http.post("/v1/track", json={**call, "writeKey": key}, headers={"Origin": ORIGIN})
            assert ok.status_code == 200 and ok.json() == {"success": True}
            assert ok.headers["access-control-allow-origin"] == ORIGIN
            pre = http.options("/v1/batch", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
            assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
            other = http.options("/v1/batch", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
            big = http.post("/v1/track", json={**call, "properties": {"blob": "x" * 40_000}}, auth=(key, ""))
            assert big.status_code == 413 and big.json()["code"] == "collector_too_large"
            item = {**call, "type": "track"}
            bad = http.post("/v1/batch", json={"batch": [item, {**item, "event": 5}]}, auth=(key, ""))
            body = bad.json()
            assert bad.status_code == 400 and body["accepted"] == 1
            assert body["errors"] == [{"code": "collector_bad_type", "field": "event", "index": 1,
                                       "message": "event has JSON type number; valid: a string"}]
            # the consumer sleeps (batch_seconds): the spool fills up to 50 KB, then 503
            batch = {"batch": [{**item, "properties": {"pad": "p" * 2000}}] * 10}
            codes = [http.post("/v1/batch", json=batch, auth=(key, "")).status_code for _ in range(6)]
            assert codes[0] == 200 and codes[-1] == 503
            busy = http.post("/v1/batch", json=batch, auth=(key, ""))
            assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
    finally:
        assert server.stop() == 0  # a clean stop drains the spool into events
    accepted = 1 + 1 + 10 * codes.count(200)
    assert len(_events(demo, source_name="web", user_id="u-1")) == accepted
    with open_project(demo, read_only=True) as p:
        q = p.engine.table("quarantine")
        mine = p.engine.execute(q.filter(q.reason_code.startswith("collector_")))
    assert sorted(mine.reason_code) == ["collector_bad_type", "collector_too_large"]


@pytest.mark.parametrize("endpoint", ["track", "page", "screen", "identify", "alias", "group"])
def test_each_call_endpoint_sets_its_type(endpoint: str) -> None:
    from percorso.collector import envelope as E

    ev = {"userId": "u", "event": "Signed Up", "previousId": "p", "groupId": "g"}
    intake = E.Intake(received=dt.datetime.now(dt.UTC), ip=None, user_agent=None, names={"signed_up": "signup"},
                      earliest=dt.datetime(1990, 1, 1, tzinfo=dt.UTC), latest=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    assert E.check_event(ev, endpoint, intake) is None and "type" not in ev  # checked as sent
    assert E.stamp(ev, endpoint, intake)["type"] == endpoint
