"""Property (issue 15): any sequence of incremental builds gives the tables of one full build.

Random events (cookies, user ids, e-mails, orders, same-second ties) are split at random into
up to four imports, with a build after each; the last build's tables must equal a full
rebuild of the same project row for row. A cookie seen alone in one import and with a user
id in a later one merges two customers across increments, which moves old events to the
surviving customer: the case an incremental build most easily gets wrong.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from build_helpers import ingest, seg, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.build import run_build
from percorso.build.digest import DIGEST_COLUMNS, read_digests, table_digest
from percorso.project import init_project, open_project

_T0 = datetime(2025, 3, 1, 8, 0, 0)
_URLS = ["https://shop.it/", "https://shop.it/?utm_source=google&utm_medium=cpc",
         "https://shop.it/?utm_source=newsletter&utm_medium=email", "https://shop.it/p/1"]

event = st.fixed_dictionaries({
    "anon": st.sampled_from([None, "a1", "a2", "a3", "a4", "a5"]),
    "user": st.sampled_from([None, None, "u1", "u2", "u3"]),
    "email": st.sampled_from([None, None, None, "x@shop.it", "y@shop.it"]),
    "minutes": st.integers(0, 4 * 24 * 60).map(lambda m: m - m % 7),   # same-minute ties are common
    "url": st.sampled_from(_URLS),
    "buy": st.integers(0, 5),
    "batch": st.integers(0, 2),
})


def _message(i: int, m: dict) -> dict:
    ts = (_T0 + timedelta(minutes=m["minutes"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    anon = m["anon"] or ("a0" if not (m["user"] or m["email"]) else None)
    if m["buy"] == 0:
        return seg(f"m{i}", ts, type="track", event="Order Completed", anon=anon, user=m["user"],
                   email=m["email"], props={"order_id": f"O{i}", "revenue": 10.0 + i})
    return seg(f"m{i}", ts, anon=anon, user=m["user"], email=m["email"], url=m["url"])


def _tables(p) -> dict[str, list[tuple]]:
    return {t: p.engine.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("touchpoints", "orders", "customers")}


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(event, min_size=2, max_size=16))
def test_any_sequence_of_incremental_builds_equals_one_full_build(tmp_path_factory, spec):
    root: Path = tmp_path_factory.mktemp("seq")
    init_project(root / "p", name="t")
    p = open_project(root / "p")
    try:
        modes = []
        for b in sorted({m["batch"] for m in spec}):
            msgs = [_message(i, m) for i, m in enumerate(spec) if m["batch"] == b]
            ingest(p, "web", write_jsonl(root / f"b{b}.jsonl", msgs))
            modes.append(run_build(p).mode)
        assert modes[0] == "full" and all(m == "incremental" for m in modes[1:])
        incremental = _tables(p)
        # the digests the builds kept for the value refresh are the ones a scan gives
        assert read_digests(p.engine) == {n: table_digest(p.engine, p.engine.table(n), n) for n in DIGEST_COLUMNS}
        run_build(p, full=True)
        assert _tables(p) == incremental
    finally:
        p.close()
