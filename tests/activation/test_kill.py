"""kill -9 of the sending process during 10,000 e-mails, then a restart: every message arrives, once per key.

The sender runs in its own process against a real SMTP server (aiosmtpd) in this one. It is
killed with SIGKILL once a third of the messages have arrived, then started again. The outbox
(ADR 0026) promises: no message lost, none sent twice. Each accepted message is written to the
sent journal before the next is sent, so the restart re-sends only what the server had not
accepted; a duplicate needs the kill to fall between the server's "250 OK" and that one write
(then it carries the same Message-ID, which a receiver deduplicates). The test allows that one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from percorso.build.schema import CUSTOMER_COLUMNS
from percorso.engine import activation_sql as S
from percorso.project import init_project, open_project

N = 10_000
BATCH = 200
SENDER = """
import sys
from percorso.project import open_project
from percorso.activation.outbox import dispatch
from percorso.activation.service import transports
p = open_project(sys.argv[1])
print(dispatch(p.engine, p.settings, transports(p)).counts, flush=True)
p.close()
"""


def _setup(root: Path, port: int) -> list[str]:
    init_project(root)
    with open(root / "percorso.toml", "a", encoding="utf-8") as fh:
        fh.write(f'\n[activation]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\ncaps = []\n'
                 f"quiet_start = 0\nquiet_end = 0\nbatch_size = {BATCH}\n")
    project = open_project(root)
    engine = project.engine
    ids = [f"C{i:012x}" for i in range(N)]
    types = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
             "BOOLEAN": pa.bool_(), "DATE": pa.date32()}
    cols = {name: pa.nulls(N, types[sql]) for name, sql in CUSTOMER_COLUMNS}
    cols["customer_id"] = pa.array(ids)
    from percorso.privacy.contacts import store_contacts   # the addresses sealed in the vault, keys on the profile

    keys = store_contacts(engine, project.settings, {c: {"email": f"p{i}@example.it"} for i, c in enumerate(ids)})
    cols["email_key"] = pa.array([keys[c]["email_key"] for c in ids])
    cols["consent_marketing"] = pa.array([True] * N)
    engine.create_table("customers", pa.table(cols))
    S.ensure_activation_tables(engine)
    past = datetime.now() - timedelta(days=1)
    keys = [f"j|{c}|occ|s0" for c in ids]
    rows = {name: pa.nulls(N, types[sql.split()[0]] if sql.split()[0] in types else pa.int32())
            for name, sql in S.OUTBOX_COLUMNS}
    rows.update(message_key=pa.array(keys), enrolment_id=pa.array([k[:-3] for k in keys]), journey=pa.array(["j"] * N),
                step=pa.array(["s0"] * N), customer_id=pa.array(ids), variant=pa.array(["treated"] * N),
                channel=pa.array(["email"] * N), purpose=pa.array(["marketing"] * N),
                action=pa.array(['{"kind": "email", "purpose": "marketing", "template": "cart"}'] * N),
                status=pa.array(["pending"] * N), attempts=pa.array([0] * N, pa.int32()),
                created_at=pa.array([past] * N, pa.timestamp("us")), due_at=pa.array([past] * N, pa.timestamp("us")))
    assert S.insert_new(engine, "activation_outbox", pa.table(rows)) == N
    project.close()
    return keys


def _sender(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen([sys.executable, "-c", SENDER, str(root)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_kill_9_during_10000_sends(tmp_path, smtp_server) -> None:
    keys = _setup(tmp_path, smtp_server.port)
    first = _sender(tmp_path)
    deadline = time.monotonic() + 120
    while len(smtp_server.messages) < N // 3 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.02)
    assert first.poll() is None, "the sender finished before it could be killed: " + first.stderr.read()
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    at_kill = len(smtp_server.messages)
    assert 0 < at_kill < N
    second = _sender(tmp_path)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    ids = smtp_server.ids()
    expected = {f"<{k}@percorso>" for k in keys}
    assert set(ids) == expected  # nothing lost, nothing foreign
    duplicates = len(ids) - len(set(ids))
    assert duplicates <= 1  # only a message accepted in the instant before the kill can arrive twice
    project = open_project(tmp_path, read_only=True)
    o = project.engine.table("activation_outbox")
    status = project.engine.execute(o.group_by("status").aggregate(n=o.count()))
    assert dict(zip(status["status"], status["n"])) == {"sent": N}
    print(f"received {len(ids)} for {N} keys; {duplicates} re-sent after the kill (at {at_kill} received)")
