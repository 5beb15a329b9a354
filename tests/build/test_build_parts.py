"""A full build in customer parts (a project larger than the engine's memory, ADR 0036) gives the
same tables as the one-statement build."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.build import run_build
from percorso.build.runner import BYTES_PER_EVENT, build_parts
from percorso.project import init_project, open_project
from build_helpers import ECOM_HEAD, ingest, seg, write_jsonl

_T0 = datetime(2025, 3, 1, 8, 0, 0)
_URLS = ["https://shop.it/", "https://shop.it/?utm_source=google&utm_medium=cpc",
         "https://shop.it/?utm_source=newsletter&utm_medium=email", "https://shop.it/p/1"]

message = st.fixed_dictionaries({
    "anon": st.sampled_from([f"a{i}" for i in range(9)]),
    "user": st.sampled_from([None, None, "u1", "u2", "u3"]),
    "minutes": st.integers(0, 2 * 24 * 60),
    "url": st.sampled_from(_URLS),
    "kind": st.integers(0, 5),
})


def _tables(p) -> dict[str, list[tuple]]:
    return {t: p.engine.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("touchpoints", "orders", "customers", "record_updates")}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(message, min_size=1, max_size=30), parts=st.integers(2, 5))
def test_a_build_in_parts_equals_the_build_in_one(tmp_path_factory, spec, parts):
    root: Path = tmp_path_factory.mktemp("parts")
    init_project(root / "p", name="t")
    p = open_project(root / "p")
    try:
        msgs, lines = [], []
        for i, m in enumerate(spec):
            ts = (_T0 + timedelta(minutes=m["minutes"])).strftime("%Y-%m-%dT%H:%M:%SZ")
            if m["kind"] == 0:     # a web purchase; the same order is in the shop's file (one order)
                msgs.append(seg(f"m{i}", ts, type="track", event="Order Completed", anon=m["anon"], user=m["user"],
                                props={"order_id": f"O{i}", "revenue": 10.0 + i}))
                if m["user"]:
                    lines.append(f"O{i},1,{ts[:10]},{m['user']},,,,S1,x,c,1,{12.0 + i},0,EUR,,0,completed\n")
            elif m["kind"] == 1:   # record keeping: never a touchpoint
                msgs.append(seg(f"m{i}", ts, type="identify", anon=m["anon"], user=m["user"],
                                email=f"{m['anon']}@shop.it"))
            else:
                msgs.append(seg(f"m{i}", ts, anon=m["anon"], user=m["user"], url=m["url"]))
        ingest(p, "web", write_jsonl(root / "a.jsonl", msgs))
        if lines:
            (root / "o.csv").write_text(ECOM_HEAD + "".join(lines), encoding="utf-8")
            ingest(p, "ecommerce", root / "o.csv")
        run_build(p, full=True, parts=1)
        whole = _tables(p)
        run_build(p, full=True, parts=parts)
        assert _tables(p) == whole
        assert not {"_build_keys", "_build_srows"} & set(p.engine.con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall())
    finally:
        p.close()


def test_parts_follow_the_memory_limit(tmp_path):
    init_project(tmp_path / "p", name="t")
    with open_project(tmp_path / "p") as p:
        p.engine.con.execute("SET memory_limit = '1GB'")     # 10^9 bytes
        # half the limit per part: 3.9M events of 250 bytes in 1 GB is 2 parts, 9.9M is 5
        assert BYTES_PER_EVENT == 250
        assert build_parts(p.engine, 1_000_000) == 1
        assert build_parts(p.engine, 3_900_000) == 2
        assert build_parts(p.engine, 9_900_000) == 5
        p.engine.con.execute("SET memory_limit = '10GB'")
        assert build_parts(p.engine, 99_000_000) == 5
