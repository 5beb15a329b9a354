"""Send-time guards against a slow, obvious oracle over random message streams.

Hypothesis draws customers whose consent changes over time, suppressions that start at some
moment, messages on two channels from two journeys (some in the control group) due at random
times over three days, and a random sequence of scheduler beats. The real dispatcher (real
DuckDB file, real outbox) runs at each beat; the oracle replays the same beats in plain Python
with its own time-zone arithmetic. They must send exactly the same messages at the same beats,
and every send must respect: consent at send time, no suppression, no quiet hours (local),
never the control group, no cap exceeded in any window.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.activation.outbox import dispatch
from percorso.config import settings_from_dict
from percorso.engine import activation_sql as S
from percorso.engine.backend import Engine

START = datetime(2024, 3, 29)  # the spring change (31 March in Europe) falls inside the three days
CAPS = [("email", 1, 86400), ("email", 2, 3 * 86400), ("sms", 1, 6 * 3600)]
QUIET = (21, 8)


class StreamConsent:
    def __init__(self, changes: dict[str, list[tuple[datetime, bool]]]) -> None:
        self.changes = changes

    def at(self, customer: str, when: datetime) -> bool:
        state = False
        for t, v in sorted(self.changes.get(customer, [])):
            if t <= when:
                state = v
        return state

    def allowed(self, customer_ids, purpose, at):
        return {c for c in customer_ids if self.at(c, at)}


def local_hour(utc: datetime, zone: str) -> int:
    return utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).hour


def next_local(utc: datetime, zone: str, hour: int) -> datetime:
    z = ZoneInfo(zone)
    local = utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(z)
    t = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if t <= local:
        t = (t + timedelta(days=1)).replace(hour=hour)
    t = t.replace(tzinfo=None).replace(tzinfo=z)
    return t.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def oracle(messages, beats, consent, suppressions, zone):
    due = {m["message_key"]: m["due_at"] for m in messages}
    state = {m["message_key"]: "pending" for m in messages}
    sent: list[tuple[str, str, str, datetime]] = []
    for t in beats:
        for m in sorted(messages, key=lambda m: (due[m["message_key"]], m["message_key"])):
            k = m["message_key"]
            if state[k] != "pending" or due[k] > t:
                continue
            if m["variant"] != "treated":
                state[k] = "blocked"
                continue
            if any(c == m["customer_id"] and ch in (m["channel"], "*") and at <= t for c, ch, at in suppressions):
                state[k] = "blocked"
                continue
            if not consent.at(m["customer_id"], t):
                state[k] = "blocked"
                continue
            h = local_hour(t, zone)
            if m["channel"] in ("email", "sms") and (h >= QUIET[0] or h < QUIET[1]):
                due[k] = next_local(t, zone, QUIET[1])
                continue
            over = any(sum(1 for c, ch, _, at in sent if c == m["customer_id"] and ch == cap_ch and at > t - timedelta(seconds=per))
                       >= mx for cap_ch, mx, per in CAPS if cap_ch == m["channel"])
            if over:
                state[k] = "blocked"
                continue
            state[k] = "sent"
            sent.append((m["customer_id"], m["channel"], k, t))
    return sent


hours = st.integers(0, 72 * 60).map(lambda m: START + timedelta(minutes=m))


@st.composite
def streams(draw):
    customers = [f"C{i}" for i in range(draw(st.integers(1, 4)))]
    consent = {c: draw(st.lists(st.tuples(hours, st.booleans()), max_size=3)) for c in customers}
    suppressions = draw(st.lists(st.tuples(st.sampled_from(customers), st.sampled_from(["email", "sms", "*"]), hours),
                                 max_size=2))
    messages = []
    for i in range(draw(st.integers(1, 12))):
        messages.append({"message_key": f"m{i:02d}", "customer_id": draw(st.sampled_from(customers)),
                         "channel": draw(st.sampled_from(["email", "sms"])),
                         "variant": draw(st.sampled_from(["treated"] * 4 + ["control"])),
                         "journey": draw(st.sampled_from(["j1", "j2"])), "due_at": draw(hours)})
    beats = sorted(set(draw(st.lists(hours, min_size=1, max_size=10))))
    zone = draw(st.sampled_from(["Europe/Rome", "America/New_York", "UTC"]))
    return customers, StreamConsent(consent), suppressions, messages, beats, zone


def _outbox_rows(messages):
    n = len(messages)
    types = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "INTEGER": pa.int32()}
    cols = {name: pa.nulls(n, types[sql.split()[0]]) for name, sql in S.OUTBOX_COLUMNS}
    for key in ("message_key", "customer_id", "channel", "variant", "journey"):
        cols[key] = pa.array([m[key] for m in messages])
    cols.update(enrolment_id=cols["message_key"], step=pa.array(["s0"] * n), purpose=pa.array(["marketing"] * n),
                action=pa.array(["{}"] * n), status=pa.array(["pending"] * n), attempts=pa.array([0] * n, pa.int32()),
                created_at=pa.array([START] * n, pa.timestamp("us")),
                due_at=pa.array([m["due_at"] for m in messages], pa.timestamp("us")))
    return pa.table(cols)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_dispatcher_matches_the_oracle(stream) -> None:
    customers, consent, suppressions, messages, beats, zone = stream
    cfg = settings_from_dict({"project": {"time_zone": zone}, "activation": {
        "quiet_start": QUIET[0], "quiet_end": QUIET[1], "batch_size": 3,
        "caps": [{"channel": c, "max": m, "per": p} for c, m, p in CAPS]}})
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(Path(d) / "t.duckdb")
        S.ensure_activation_tables(engine)
        S.insert_new(engine, "activation_outbox", _outbox_rows(messages))
        got: list[tuple[str, str, str, datetime]] = []
        added = set()
        for t in beats:
            for i, (c, ch, at) in enumerate(suppressions):
                if at <= t and i not in added:
                    S.add_suppression(engine, c, ch, "unsubscribed", at)
                    added.add(i)

            def send(msg, person, t=t):
                got.append((msg["customer_id"], msg["channel"], msg["message_key"], t))
                return "sent", None

            dispatch(engine, cfg, {"email": send, "sms": send}, now=lambda t=t: t, consent=consent)
        engine.close()
    expected = oracle(messages, beats, consent, suppressions, zone)
    assert sorted(got) == sorted(expected)
    by_key = {m["message_key"]: m for m in messages}
    for c, ch, k, t in got:  # the properties, stated once more on the real sends
        assert by_key[k]["variant"] == "treated"
        assert consent.at(c, t)
        assert not any(sc == c and sch in (ch, "*") and at <= t for sc, sch, at in suppressions)
        h = local_hour(t, zone)
        assert QUIET[1] <= h < QUIET[0]
        for cap_ch, mx, per in CAPS:
            if cap_ch == ch:
                window = [x for x in got if x[0] == c and x[1] == ch and t - timedelta(seconds=per) < x[3] <= t]
                assert len(window) <= mx
