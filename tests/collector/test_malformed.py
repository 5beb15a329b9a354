"""10,000 malformed payloads (mutations of valid demo calls): every one gets a 4xx naming the
field, none a 5xx or a crash, every refused payload is in quarantine with a ``collector_*``
reason, and the good calls of the same batches land in ``events``.

A seeded mutation fuzzer, each operator known to break one rule, so the expected reason is
known too. A second pass flips random bytes (the result may still be valid): whatever it is,
the answer is a 200 or a 4xx, and a call answered 200 is never quarantined afterwards.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

from percorso.collector import intake as I
from percorso.collector.service import drain, event_names, intake_for
from percorso.collector.spool import Spool
from percorso.collector.service import spool_folder
from percorso.ingest import reasons as R

N_MALFORMED = 10_000
_WORDS = ("yesterday", "12/03/2024 10:00", "2024-02-30T10:00:00Z", "2024-13-01", "", "10:00", "now", "2024/01/01")


def _base_calls(sources: Path) -> list[dict[str, Any]]:
    calls = []
    for line in (sources / "web_events.jsonl").read_text().splitlines()[:800]:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("messageId") and ev.get("type") in ("page", "track", "identify"):
            calls.append(ev)
    return calls


def _item_mutation(rng: random.Random, ev: dict[str, Any]) -> tuple[Any, str]:
    """(a broken call, the reason it must get)."""
    ev = copy.deepcopy(ev)
    op = rng.randrange(14)
    if op == 0:
        ev.pop("userId", None), ev.pop("anonymousId", None)
        return ev, R.COLLECTOR_MISSING_FIELD
    if op == 1:
        ev["type"] = "track"
        ev.pop("event", None)
        return ev, R.COLLECTOR_MISSING_FIELD
    if op == 2:
        ev["type"], ev["event"] = "track", "zz " + "".join(rng.choices("abcdefghij", k=8))
        return ev, R.COLLECTOR_UNKNOWN_EVENT
    if op == 3:
        ev["type"] = rng.choice(["click", "Track", "pageview", "x"])
        return ev, R.COLLECTOR_UNKNOWN_EVENT
    if op == 4:
        ev.pop("type")
        return ev, R.COLLECTOR_MISSING_FIELD
    if op == 5:
        ev[rng.choice(["properties", "context", "traits"])] = rng.choice([[1, 2], "text", 7, True])
        return ev, R.COLLECTOR_BAD_TYPE
    if op == 6:
        ev[rng.choice(["userId", "anonymousId", "messageId"])] = rng.choice([{}, [1], 1.5, True])
        return ev, R.COLLECTOR_BAD_TYPE
    if op == 7:
        ev.setdefault("properties", {})["revenue"] = rng.choice(["12,50", {"v": 1}, True, "abc"])
        return ev, R.COLLECTOR_BAD_TYPE
    if op == 8:
        ev[rng.choice(["timestamp", "originalTimestamp", "sentAt"])] = rng.choice([*_WORDS, 12345, None or "x"])
        return ev, R.COLLECTOR_BAD_TIMESTAMP
    if op == 9:  # a readable time outside the plausible window
        ev.pop("sentAt", None), ev.pop("originalTimestamp", None)
        ev["timestamp"] = rng.choice(["1970-01-01T00:00:00Z", "2999-06-01T10:00:00Z", "1989-12-31T23:00:00Z"])
        return ev, R.COLLECTOR_BAD_TIMESTAMP
    if op == 10:
        ev.setdefault("properties", {})["blob"] = "x" * rng.randrange(33_000, 60_000)
        return ev, R.COLLECTOR_TOO_LARGE
    if op == 11:
        return rng.choice([42, "page", [ev], None, 1.5]), R.COLLECTOR_BAD_JSON
    if op == 12:
        ev.setdefault("context", {})[rng.choice(["page", "campaign", "device"])] = rng.choice(["x", [1], 3])
        return ev, R.COLLECTOR_BAD_TYPE
    ev["type"] = rng.choice(["alias", "group"])
    ev.pop("previousId", None), ev.pop("groupId", None)
    return ev, R.COLLECTOR_MISSING_FIELD


def _body_mutation(rng: random.Random, good: dict[str, Any]) -> tuple[bytes, str, str, int]:
    """(a broken body, endpoint, reason, status) refused as a whole."""
    body = json.dumps({"batch": [good]}).encode()
    op = rng.randrange(6)
    if op == 0:
        return body[:rng.randrange(1, len(body))], "batch", R.COLLECTOR_BAD_JSON, 400
    if op == 1:
        at = rng.randrange(len(body))
        return body[:at] + b"\xff\xfe" + body[at:], "batch", R.COLLECTOR_BAD_ENCODING, 400
    if op == 2:
        return json.dumps(rng.choice([[good], 42, "batch"])).encode(), "batch", R.COLLECTOR_BAD_JSON, 400
    if op == 3:
        return json.dumps({"batch": rng.choice([good, "x", 3])}).encode(), "batch", R.COLLECTOR_BAD_TYPE, 400
    if op == 4:
        return json.dumps({"batch": []}).encode(), "batch", R.COLLECTOR_MISSING_FIELD, 400
    return json.dumps({**good, "blob": "y" * 40_000}).encode(), "track", R.COLLECTOR_TOO_LARGE, 413


def test_ten_thousand_malformed_payloads(project, demo_sources: Path) -> None:
    rng = random.Random(17)
    base = _base_calls(demo_sources)
    names = event_names(project.settings, "web")
    spool = Spool(spool_folder(project.root), 1 << 40)
    events: list[bytes] = []
    rejects: list[bytes] = []
    good_ids: set[str] = set()
    expected_refusals = 0
    try:
        for n in range(N_MALFORMED):
            good = copy.deepcopy(rng.choice(base))
            good["messageId"] = f"good-{n}"
            intake = intake_for(project.settings, names, "198.51.100.7", "fuzz", historical=False)
            where = f"POST /v1/batch fuzz-{n}"
            if rng.random() < 0.2:
                body, endpoint, reason, status = _body_mutation(rng, good)
                out = I.process(body, endpoint, intake, where)
                assert (out.status, out.accepted, [e["code"] for e in out.errors]) == (status, 0, [reason]), body[:300]
            else:
                bad, reason = _item_mutation(rng, rng.choice(base))
                batch = [good, bad] if rng.random() < 0.5 else [bad, good]
                out = I.process(json.dumps({"batch": batch}).encode(), "batch", intake, where)
                assert 400 <= out.status < 500, out.body()
                assert out.accepted == 1 and [e["code"] for e in out.errors] == [reason], (bad, out.body())
                err = out.errors[0]
                assert err["field"] and "valid" in err["message"] or reason in (R.COLLECTOR_TOO_LARGE, R.COLLECTOR_BAD_JSON)
                assert err["index"] == batch.index(bad)
                good_ids.add(good["messageId"])
            expected_refusals += 1
            events += out.events
            rejects += out.rejects
            if len(events) + len(rejects) > 2000:
                spool.submit("web", b"".join(events), b"".join(rejects), len(events)).result()
                events, rejects = [], []
        spool.submit("web", b"".join(events), b"".join(rejects), len(events)).result()
    finally:
        spool.close()
    report = drain(project)
    assert report.rejected == expected_refusals == N_MALFORMED
    assert report.quarantined == 0  # nothing acknowledged was refused later
    q = project.engine.execute(project.engine.table("quarantine"))
    assert len(q) == N_MALFORMED and q.reason_code.str.startswith("collector_").all()
    assert q.raw_text.str.len().max() <= 4096 + 40  # capped
    keys = set(project.engine.execute(project.engine.table("events").select("source_key")).source_key)
    assert keys == good_ids


def test_random_byte_flips_never_fail_the_server(project, demo_sources: Path) -> None:
    rng = random.Random(5)
    base = _base_calls(demo_sources)
    names = event_names(project.settings, "web")
    spool = Spool(spool_folder(project.root), 1 << 40)
    acked = 0
    try:
        for n in range(1000):
            ev = copy.deepcopy(rng.choice(base))
            ev["messageId"] = f"flip-{n}"
            body = bytearray(json.dumps({"batch": [ev]}).encode())
            for _ in range(rng.randrange(1, 4)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            intake = intake_for(project.settings, names, None, None, historical=False)
            out = I.process(bytes(body), "batch", intake, f"flip-{n}")
            assert out.status == 200 or 400 <= out.status < 500
            acked += out.accepted
            spool.submit("web", b"".join(out.events), b"".join(out.rejects), out.accepted).result()
    finally:
        spool.close()
    report = drain(project)
    assert report.accepted + report.duplicates == acked > 0
    assert report.quarantined == 0  # a call answered 200 is never refused afterwards
