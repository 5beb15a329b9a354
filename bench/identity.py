"""Identity-resolution benchmark: prints ONE JSON object.

    .venv/bin/python bench/identity.py --events 10000000    # the issue's size (≤ 15 s, ≤ 6 GB)
    .venv/bin/python bench/identity.py --events 200000      # development

Synthetic events are generated vectorised (numpy → Arrow, in chunks, not timed) straight
into the ``events`` table of a fresh project: one person per ~20 events, and a realistic mix
of identifiers per source — cookies (web, ads), app device ids, web-shop user ids, hashed
e-mails and phones, loyalty cards, CRM ids, tax codes, order ids — plus hubs: store tablets
shared by many app users, kiosk cookies and family e-mails. Resolution then runs in a child
process so that ``peak_rss_mb`` is the peak of resolution alone (generation excluded).

Output: events, identity_s, links, identifiers, customers, peak_rss_mb, phases (seconds per
step of :func:`percorso.identity.resolve`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from percorso.engine.event_store import append_arrow as append_events  # noqa: E402
from percorso.events.schema import EVENT_COLUMNS  # noqa: E402
from percorso.project import init_project, open_project  # noqa: E402

#: source name → (share of events, kind)
SOURCES = {"web": (0.42, "web"), "app": (0.2, "app"), "ecommerce": (0.1, "ecommerce"), "pos": (0.1, "pos"),
           "crm": (0.03, "crm"), "email": (0.12, "email"), "ads": (0.03, "ads")}


def _ids(prefix: str, values: np.ndarray, mask: np.ndarray, width: int = 0) -> pa.Array:
    """``prefix + value`` (left-padded to ``width``) where ``mask``, else NULL — in Arrow, no loops."""
    s = pa.array(values.astype(np.int64)).cast(pa.string())
    if width:
        s = pc.utf8_lpad(s, width - len(prefix), "0")
    s = pc.binary_join_element_wise(prefix, s, "")
    return pc.if_else(pa.array(mask), s, pa.scalar(None, pa.string()))


def chunk(rng: np.random.Generator, start: int, m: int, people: int) -> pa.Table:
    names = np.array(list(SOURCES))
    src = rng.choice(len(names), m, p=[v[0] for v in SOURCES.values()])
    is_ = {n: src == i for i, n in enumerate(names)}
    person = rng.integers(0, people, m)
    known = person % 2 == 0                       # half the people have a web/app account
    holder = person % 5 < 3                        # 60 % hold a loyalty card
    family = person % 50 == 1                      # 2 %: share an e-mail with the next person
    email_p = np.where(family, person - 1, person)
    r = rng.random(m)
    cookie = person * 3 + rng.integers(0, 3, m)
    kiosk = is_["web"] & (r < 0.002)
    cookie = np.where(kiosk, 10**9 + rng.integers(0, 5, m), cookie)
    tablet = is_["app"] & (r < 0.01)
    device = np.where(tablet, 10**9 + rng.integers(0, 20, m), person * 2 + rng.integers(0, 2, m))
    order = start + np.arange(m)
    anon = is_["web"] | is_["ads"] | (is_["ecommerce"] & (r < 0.5))
    user = known & ((is_["web"] & (r < 0.15)) | is_["app"] & (r < 0.6) | is_["ecommerce"])
    email = is_["email"] | is_["crm"] | (is_["ecommerce"] & (~known | (r < 0.7)))
    phone = is_["crm"] & (r < 0.7) | is_["pos"] & (r < 0.05)
    card = holder & (is_["pos"] & (r < 0.8) | is_["crm"] & (r < 0.5))
    crm = is_["crm"]
    tax = is_["crm"] & (r < 0.3)
    orders = is_["ecommerce"] | is_["pos"]
    ts = (np.datetime64("2025-01-01T00:00:00", "us")
          + rng.integers(0, 365 * 86400 * 10**6, m).astype("timedelta64[us]"))
    cols = {
        "event_id": _ids("", start + np.arange(m), np.ones(m, bool), 32),
        "schema_version": pa.array(np.ones(m, np.int32)),
        "event_type": pa.array(np.full(m, "page_view")),
        "occurred_at": pa.array(ts),
        "source_name": pa.DictionaryArray.from_arrays(pa.array(src.astype(np.int32)), pa.array(names)).cast(pa.string()),
        "source_kind": pa.DictionaryArray.from_arrays(
            pa.array(src.astype(np.int32)), pa.array([v[1] for v in SOURCES.values()])).cast(pa.string()),
        "source_key": _ids("k", start + np.arange(m), np.ones(m, bool)),
        "anonymous_id": _ids("anon-", cookie, anon, 24),
        "device_id": _ids("dev-", device, is_["app"], 20),
        "user_id": _ids("U", person, user),
        "email_key": _ids("e", email_p, email, 64),
        "phone_key": _ids("p", person, phone, 64),
        "loyalty_card": _ids("27", person, card, 13),
        "crm_id": _ids("CRM", person, crm, 10),
        "tax_code_key": _ids("t", person, tax, 64),
        "order_id": _ids("O", order, orders, 12),
    }
    out = {}
    for c in EVENT_COLUMNS:
        out[c.name] = cols[c.name].cast(c.arrow_type) if c.name in cols else pa.nulls(m, c.arrow_type)
    return pa.table(out)


def generate(root: Path, n: int, seed: int = 7) -> None:
    init_project(root, name="bench")
    project = open_project(root)
    rng = np.random.default_rng(seed)
    people = max(n // 20, 1)
    step = 1_000_000
    for start in range(0, n, step):
        append_events(project.engine, chunk(rng, start, min(step, n - start), people))
    project.engine.close()


def resolve_only(root: Path) -> dict[str, object]:
    from percorso.identity import resolve

    project = open_project(root)
    t0 = time.perf_counter()
    rep = resolve(project, full=True)
    dt = time.perf_counter() - t0
    e = project.engine
    out = {
        "events": e.count("events"), "identity_s": round(dt, 2),
        "links": e.count("identity_links"), "identifiers": e.count("identity_identifiers"),
        "customers": e.query("SELECT count(DISTINCT customer_id) AS n FROM identity_map")["n"][0].as_py(),
        "flagged": rep.flagged_identifiers,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "phases": rep.phases,
    }
    project.engine.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="project folder to keep (default: a temp folder)")
    ap.add_argument("--resolve-only", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.resolve_only:
        print(json.dumps(resolve_only(a.resolve_only)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = a.keep or Path(tmp) / "proj"
        t0 = time.perf_counter()
        generate(root, a.events, a.seed)
        gen_s = time.perf_counter() - t0
        res = subprocess.run([sys.executable, __file__, "--resolve-only", str(root)], check=True,
                             capture_output=True, text=True)
        out = json.loads(res.stdout.strip().splitlines()[-1])
        out["generate_s"] = round(gen_s, 2)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
