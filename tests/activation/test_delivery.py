"""A real SMTP server and a real webhook endpoint receive exactly the expected messages."""

from __future__ import annotations

from datetime import datetime, timedelta

from percorso.activation.email import read_unsubscribe_token
from percorso.activation.model import journey_from_dict
from percorso.activation.service import tick
from percorso.activation.store import EXAMPLES, save_journey
from percorso.activation.webhook import verify

from .helpers import make_project

MARCH = "2024-03-05 10:00"  # a Tuesday; 10:00 UTC is 11:00 in Rome


def _project(tmp_path, smtp_port, hook_url=None, extra=""):
    people = {c: [("add_to_cart", MARCH)] for c in ("A", "B", "C", "E")}
    people["C"] = people["C"] + [("unsubscribe", "2024-03-01 09:00")]
    people["F"] = [("return", MARCH, {"revenue": -20})]
    profiles = {"A": {"email": "anna@example.it", "first_name": "Anna"},
                "B": {"email": "bruno@example.it", "consent_marketing": False},
                "C": {"email": "carla@example.it"}, "E": {"email": None},
                "F": {"phone": "+393401234567", "first_name": "Franco"}}
    cfg = (f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_from = "Negozio <shop@example.it>"\n'
           'public_url = "https://crm.example.it"\nwebhook_allow = ["127.0.0.1"]\nwebhook_secret = "hooksecret"\n' + extra)
    project = make_project(tmp_path, people, profiles, cfg)
    save_journey(project.root, journey_from_dict({**EXAMPLES["cart_abandonment"], "holdout": 0.0, "enabled": True}))
    if hook_url:
        save_journey(project.root, journey_from_dict({
            "name": "return_sms", "enabled": True, "holdout": 0.0, "trigger": {"kind": "event", "event_type": "return"},
            "steps": [{"kind": "act", "name": "sms", "action": {"kind": "webhook", "url": hook_url, "channel": "sms",
                                                                "payload": {"text": "Come possiamo aiutarti?"}}}]}))
    return project


def _log(project):
    o = project.engine.table("activation_outbox")
    return project.engine.execute(o.select("customer_id", "channel", "status", "reason", "attempts")).set_index(
        "customer_id")


def test_exactly_the_expected_messages(tmp_path, smtp_server, webhook_receiver) -> None:
    project = _project(tmp_path, smtp_server.port, webhook_receiver.url)
    now = datetime(2024, 3, 5, 14, 0)  # 15:00 in Rome: no quiet hours
    tick(project, now=now)
    assert len(smtp_server.messages) == 1
    rcpt, msg = smtp_server.messages[0]
    assert rcpt == ["anna@example.it"]
    assert msg["Subject"] == "Anna, hai dimenticato qualcosa nel carrello"  # the project's locale is Italian
    o = project.engine.table("activation_outbox")
    key = project.engine.execute(o.filter(o.customer_id == "A").select("message_key")).iloc[0, 0]
    assert key.startswith("cart_abandonment|A|") and key.endswith("|s1")
    assert msg["Message-ID"] == f"<{key}@percorso>"  # receivers deduplicate on it
    url = msg["List-Unsubscribe"].strip("<>")
    assert url in msg.get_payload(decode=True).decode()
    assert read_unsubscribe_token(project.secret, url.split("t=")[1]) == ("A", "email")
    log = _log(project)
    assert log.loc["A", "status"] == "sent"
    assert (log.loc["B", "status"], log.loc["B", "reason"]) == ("blocked", "no_consent")
    assert (log.loc["C", "status"], log.loc["C", "reason"]) == ("blocked", "suppressed")
    assert log.loc["E", "status"] == "failed"
    # the webhook gateway got one signed SMS request for F
    assert len(webhook_receiver.deliveries) == 1
    headers, body = webhook_receiver.deliveries[0]
    assert verify(b"hooksecret", headers["X-Percorso-Signature"], body)
    payload = next(iter(webhook_receiver.kept.values()))
    assert payload["customer_id"] == "F" and payload["phone"] == "+393401234567" and payload["channel"] == "sms"
    # the e-mail is a touchpoint of the Email channel in A's timeline (an event the build will place)
    ev = project.engine.execute(project.engine.table("events"))
    assert sorted(zip(ev["event_type"], ev["channel"], ev["email_key"])) == [
        ("email_sent", "Email", "hA"), ("message_sent", "SMS", "hF")]
    # another beat sends nothing again
    tick(project, now=now + timedelta(hours=1))
    assert len(smtp_server.messages) == 1 and len(webhook_receiver.deliveries) == 1


def test_quiet_hours_defer_to_the_morning(tmp_path, smtp_server) -> None:
    project = _project(tmp_path, smtp_server.port)
    evening = datetime(2024, 3, 5, 21, 30)  # 22:30 in Rome
    tick(project, now=evening)
    assert smtp_server.messages == []
    o = project.engine.table("activation_outbox")
    due = project.engine.execute(o.filter(o.customer_id == "A").select("status", "due_at"))
    assert due.loc[0, "status"] == "pending" and due.loc[0, "due_at"] == datetime(2024, 3, 6, 7)  # 08:00 Rome
    tick(project, now=datetime(2024, 3, 6, 6, 59))
    assert smtp_server.messages == []
    tick(project, now=datetime(2024, 3, 6, 7, 0))
    assert [r for r, _ in smtp_server.messages] == [["anna@example.it"]]


def test_webhook_retries_with_backoff(tmp_path, smtp_server, webhook_receiver) -> None:
    webhook_receiver.fail_first = 2
    project = _project(tmp_path, smtp_server.port, webhook_receiver.url)
    now = datetime(2024, 3, 5, 14, 0)
    tick(project, now=now)
    assert _log(project).loc["F", "attempts"] == 1 and _log(project).loc["F", "status"] == "pending"
    tick(project, now=now + timedelta(seconds=29))  # backoff 30 s: not yet
    assert len(webhook_receiver.deliveries) == 1
    tick(project, now=now + timedelta(seconds=30))
    tick(project, now=now + timedelta(seconds=90))  # second backoff 60 s
    assert len(webhook_receiver.deliveries) == 3 and len(webhook_receiver.kept) == 1
    assert _log(project).loc["F", "status"] == "sent"
    keys = {h["Idempotency-Key"] for h, _ in webhook_receiver.deliveries}
    assert len(keys) == 1  # every attempt carries the same key


def test_caps_across_journeys(tmp_path, smtp_server) -> None:
    project = _project(tmp_path, smtp_server.port)
    save_journey(project.root, journey_from_dict({
        "name": "second", "enabled": True, "holdout": 0.0, "trigger": {"kind": "event", "event_type": "add_to_cart"},
        "steps": [{"kind": "act", "action": {"kind": "email", "template": "browse"}}]}))
    tick(project, now=datetime(2024, 3, 5, 14, 0))
    # A qualifies for both journeys; the e-mail cap (1 a day) lets one through
    assert [r for r, _ in smtp_server.messages] == [["anna@example.it"]]
    log = project.engine.execute(project.engine.table("activation_outbox"))
    a = log[log["customer_id"] == "A"].set_index("journey")
    assert sorted(a["status"]) == ["blocked", "sent"] and "capped" in set(a["reason"].dropna())


def test_the_privacy_rooms_consent_decides_once_it_has_a_history(tmp_path, smtp_server) -> None:
    import pyarrow as pa

    from percorso.engine import privacy_sql as P

    project = _project(tmp_path, smtp_server.port)
    P.ensure_tables(project.engine)
    records = [("A", True, datetime(2024, 3, 1)), ("A", False, datetime(2024, 3, 5, 12)),  # withdrawn before the send
               ("B", True, datetime(2024, 3, 2))]  # B's profile flag says no; the history says yes
    types = {"BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR": pa.string()}
    rows = [{"consent_id": f"r{i}", "subject_type": "customer_id", "subject_value": c, "purpose": "email",
             "granted": g, "occurred_at": at, "source": "test", "text_version": None, "origin_event_id": None,
             "recorded_at": at} for i, (c, g, at) in enumerate(records)]
    P.insert_consent(project.engine, pa.table({c: pa.array([r[c] for r in rows], type=types[t])
                                               for c, t in P.CONSENT_COLUMNS}))
    tick(project, now=datetime(2024, 3, 5, 14, 0))
    assert [r for r, _ in smtp_server.messages] == [["bruno@example.it"]]
    log = _log(project)
    assert (log.loc["A", "status"], log.loc["A", "reason"]) == ("blocked", "no_consent")


def test_a_live_beat_never_acts_on_old_history(tmp_path, smtp_server) -> None:
    project = _project(tmp_path, smtp_server.port)
    report, sent = tick(project, now=datetime(2024, 4, 1, 14, 0))  # the carts are four weeks old
    assert report.counts == {} and sent.counts == {} and smtp_server.messages == []
