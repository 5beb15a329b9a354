"""Ingest + identity benchmark: prints ONE JSON object.

    .venv/bin/python bench/ingest.py --events 10000000     # the issue's size
    .venv/bin/python bench/ingest.py --events 1000000      # development
    .venv/bin/python bench/ingest.py --events 2000000 --shape wide

Writes Parquet files of clickstream events (not timed): event id, user id for a third of the
people, anonymous (cookie) ids, event name, time, page URL with UTM tags (``--shape narrow``,
the default: six columns, the cheapest possible CTAS). ``--shape wide`` adds the ten columns a
real export carries (:func:`wide_columns`: session, referrer, page title, IP, user agent,
device type, order id, revenue, currency, properties JSON); the ingest keeps the ones the
``clickstream`` kind does not map in ``properties``, and that cost stays in. Then, in the same
run and on the same files:

- ``baseline_s``: a plain ``CREATE TABLE AS SELECT * FROM read_parquet(…)`` in a fresh DuckDB file;
- ``ingest_s``: ``percorso ingest clickstream`` (typing, checks, event ids, quarantine, dedup,
  lineage) into a fresh project;
- ``identity_s``: identity resolution over those events (``percorso.identity.resolve``);
- ``peak_rss_mb``: the process's peak resident memory (self or children, whichever is larger);
- ``*_cpu_s`` / ``cpu_ratio``: the same in process CPU seconds (steadier on a shared machine);
- ``shaped_s`` / ``ratio_shaped``: a hand-written ``INSERT`` of the same 42-column event rows from
  the files (event id hash, lineage, UTM fields; no checks, quarantine or dedup), median of the
  repeats, and ``ingest_s`` over it: the pipeline's own cost, like for like (ADR 0010);
- ``load_avg``: the machine's 1, 5 and 15 minute load averages at the end (2 cores: above 2, other
  work competed for them).

``bench/ingest_floor.py`` measures how much of the ingest is the write of the 42-column rows alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from percorso.engine import Engine  # noqa: E402
from percorso.engine.event_store import writable  # noqa: E402
from percorso.events.schema import EVENT_COLUMN_NAMES  # noqa: E402
from percorso.identity import resolve  # noqa: E402
from percorso.ingest import ingest_files  # noqa: E402
from percorso.project import init_project, open_project  # noqa: E402

#: Rows per Parquet row group, as DuckDB and Spark write them (pyarrow's default of 1M rows
#: would make every 1M-row file a single row group, read by one thread).
ROW_GROUP = 122_880
NAMES = np.array(["page_view", "product_view", "add_to_cart", "checkout", "purchase", "search", "login"])
P = np.array([0.45, 0.25, 0.1, 0.05, 0.03, 0.1, 0.02])
UTM = np.array(["", "?utm_source=google&utm_medium=cpc&utm_campaign=saldi", "?utm_source=newsletter&utm_medium=email",
                "?utm_source=facebook&utm_medium=paid_social", ""])

#: Wide files: what a real export (Segment warehouse table, flattened GA4 export, Snowplow, a
#: shop's own log) carries besides the six columns. Named as such exports name them, so the
#: ``clickstream`` kind maps what it knows (referrer, user_agent, ip, order_id, revenue,
#: currency, properties, session_id) and keeps the rest (page_title, device_type) in
#: ``properties``, as it would for a user's file.
_UA = [  # (user agent, device type, share of cookies)
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "mobile", 0.27),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
     "Safari/537.36", "mobile", 0.24),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "mobile", 0.07),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", "desktop", 0.2),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36 Edg/124.0.0.0", "desktop", 0.05),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4.1 Safari/605.1.15", "desktop", 0.08),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop", 0.03),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Mobile/15E148 Safari/604.1", "tablet", 0.06),
]
_REFERRERS = np.array(["https://www.google.com/", "https://www.google.it/", "https://www.bing.com/",
                       "https://l.facebook.com/", "https://www.instagram.com/", "https://mail.google.com/",
                       "https://www.youtube.com/", "https://shop.it/", "https://shop.it/c/donna",
                       "https://shop.it/c/uomo", "https://shop.it/c/bambino", "https://shop.it/cerca"])
_PRODUCTS = np.array([f"{t} {m} {c} {g}" for t in ("Sneaker", "Stivaletto", "Borsa", "Giacca", "Maglione",
                                                     "Camicia", "Jeans", "Abito", "Sandalo", "Zaino")
                      for m in ("in pelle", "in cotone", "in lana", "in denim", "in suede")
                      for c in ("nero", "bianco", "blu", "rosso", "beige", "verde", "grigio", "marrone")
                      for g in ("uomo", "donna", "bambino")])
_QUERIES = np.array(["scarpe", "sneaker bianche", "giacca pelle", "borsa nera", "jeans uomo", "saldi",
                     "abito cerimonia", "zaino scuola", "maglione lana", "sandali donna"])


def _cat(*parts) -> pa.Array:  # noqa: ANN002
    """Element-wise string concatenation of arrays and literals (Arrow, not a Python loop)."""
    return pc.binary_join_element_wise(*[p if isinstance(p, pa.Array) else pa.scalar(str(p)) for p in parts], "")


def _where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``values`` where ``mask`` holds, NULL elsewhere."""
    return pc.if_else(pa.array(mask), values, pa.scalar(None, values.type))


def wide_columns(rng: np.random.Generator, f: int, cookie: np.ndarray, names: np.ndarray,
                 ts: np.ndarray) -> dict[str, pa.Array]:
    """The ten columns a real clickstream export adds, with realistic values and NULL rates.

    A cookie keeps its browser (user agent, device type) and mostly its IP; a session is a
    cookie's day; referrer is empty on 60 % of events; order id, revenue and currency only on
    purchases; ``properties`` is a small JSON object that depends on the event.
    """
    m = len(names)
    mix = (cookie * 2654435761) % 2**32 / 2**32                 # a fixed pseudo-random draw per cookie
    ua = np.searchsorted(np.cumsum([s for _, _, s in _UA]), mix * sum(s for _, _, s in _UA))
    pool = np.char.add(np.char.add(np.array(["79.", "93.", "151.", "2.", "5.", "37.", "87.", "95."])
                                   [rng.integers(0, 8, 40_000)], rng.integers(0, 256, 40_000).astype(str)),
                       np.char.add(np.char.add(".", rng.integers(0, 256, 40_000).astype(str)),
                                   np.char.add(".", rng.integers(1, 255, 40_000).astype(str))))
    prod = (rng.zipf(1.3, m) - 1) % len(_PRODUCTS)
    is_prod = np.isin(names, ["product_view", "add_to_cart", "checkout"])
    buy = names == "purchase"
    day = ts.astype("datetime64[D]").astype(np.int64)
    sku = _cat("SKU-", pa.array(prod).cast(pa.string()))
    props = pc.case_when(
        pc.make_struct(pa.array(is_prod), pa.array(names == "search"), pa.array(buy), pa.array(names == "page_view")),
        _cat('{"sku": "', sku, '", "price": ', pa.array(np.round(9.9 + prod % 200, 1)).cast(pa.string()),
             ', "position": ', pa.array(rng.integers(1, 25, m)).cast(pa.string()), "}"),
        _cat('{"query": "', pa.array(_QUERIES[rng.integers(0, len(_QUERIES), m)]), '", "results": ',
             pa.array(rng.integers(0, 300, m)).cast(pa.string()), "}"),
        _cat('{"items": ', pa.array(rng.integers(1, 5, m)).cast(pa.string()), ', "coupon": null}'),
        _cat('{"path": "/p/', sku, '"}'))
    return {
        "session_id": _cat("s", pa.array(cookie).cast(pa.string()), "-", pa.array(day).cast(pa.string())),
        "referrer": pa.array(np.where(rng.random(m) < 0.6, None, _REFERRERS[rng.integers(0, len(_REFERRERS), m)])),
        "page_title": pa.array(np.where(names == "search", "Risultati della ricerca | shop.it",
                                        np.where(names == "login", "Accedi | shop.it",
                                                 np.char.add(_PRODUCTS[prod], " | shop.it")))),
        "ip": pa.array(np.where(rng.random(m) < 0.03, None, pool[(cookie * 7 + rng.integers(0, 3, m)) % len(pool)])),
        "user_agent": pa.array(np.array([u for u, _, _ in _UA])[ua]),
        "device_type": pa.array(np.array([d for _, d, _ in _UA])[ua]),
        "order_id": _where(buy, _cat(f"SO{f:02d}-", pa.array(np.arange(m)).cast(pa.string()))),
        "revenue": pa.array(np.where(buy, np.round(np.exp(rng.normal(4.0, 0.6, m)), 2), np.nan), from_pandas=True),
        "currency": pa.array(np.where(buy, "EUR", None)),
        "properties": props,
    }



def write_files(folder: Path, n: int, files: int, seed: int = 11, shape: str = "narrow") -> list[Path]:
    """Parquet files of ``n`` clickstream events; ``shape="wide"`` adds the columns of a real export.

    The narrow files are the same bytes for the same seed whatever the shape: the wide
    columns draw from their own random stream (:func:`wide_columns`).
    """
    rng = np.random.default_rng(seed)
    people = max(n // 25, 1)
    out = []
    per = -(-n // files)
    for f in range(files):
        m = min(per, n - f * per)
        if m <= 0:
            break
        person = rng.integers(0, people, m)
        cookie = person * 2 + rng.integers(0, 2, m)           # two devices per person
        known = person % 3 == 0
        login = known & (rng.random(m) < 0.2)
        ts = np.datetime64("2025-01-01T00:00:00", "s") + rng.integers(0, 365 * 86400, m).astype("timedelta64[s]")
        names = NAMES[rng.choice(len(NAMES), m, p=P)]
        columns = {
            "event_id": pa.array(np.char.add(f"f{f}-", np.arange(m).astype(str))),
            "user_id": pa.array(np.where(login, np.char.add("u", person.astype(str)), None)),
            "anonymous_id": pa.array(np.char.add("c", cookie.astype(str))),
            "event_name": pa.array(names),
            "timestamp": pa.array(ts.astype("datetime64[us]")),
            "page_url": pa.array(np.char.add("https://shop.it/p", UTM[rng.integers(0, len(UTM), m)])),
        }
        if shape == "wide":
            columns |= wide_columns(np.random.default_rng([seed, 1, f]), f, cookie, names, ts)
        path = folder / f"events_{f:02d}.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=ROW_GROUP)
        out.append(path)
    return out


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def baseline(root: Path, i: int) -> tuple[float, float]:
    """Wall and CPU seconds of a plain CREATE TABLE AS SELECT * FROM read_parquet(all files)."""
    base = Engine(root / f"baseline_{i}.duckdb")
    globbed = str(root / "events_*.parquet")
    t0, c0 = time.perf_counter(), _cpu()
    base.con.execute(f"CREATE TABLE raw AS SELECT * FROM read_parquet('{globbed}')")
    base.close()
    return time.perf_counter() - t0, _cpu() - c0


#: The 42 columns of a clickstream event written by hand from the files' columns (see shaped()).
_SHAPED = {
    "event_id": "substr(sha256('clickstream|' || event_id), 1, 32)", "schema_version": "1",
    "event_type": "event_name", "event_name": "event_name", "occurred_at": "\"timestamp\"",
    "received_at": "now()::TIMESTAMP", "source_name": "'clickstream'", "source_kind": "'clickstream'",
    "source_system": "'web'", "source_file": "parse_filename(filename)", "source_line": "file_row_number + 1",
    "source_key": "event_id", "online": "true", "anonymous_id": "anonymous_id", "user_id": "user_id",
    "page_url": "page_url", "ingest_run_id": "'run'",
    **{f"utm_{p}": f"NULLIF(regexp_extract(page_url, '[?&]utm_{p}=([^&#]*)', 1), '')"
       for p in ("source", "medium", "campaign")},
}


#: What the ingest writes from the wide files' extra columns (the PII key as the ingest makes it:
#: a 64-hex hash of each distinct IP, joined back; unclaimed columns and the session id merged
#: into ``properties``).
_SHAPED_WIDE = {
    "referrer": "referrer", "user_agent": "user_agent", "order_id": "order_id", "revenue": "revenue",
    "currency": "currency", "ip_key": "m.k",
    "properties": "CAST(json_merge_patch(json_merge_patch(coalesce(properties::JSON, '{}'), "
                  "json_object('page_title', page_title, 'device_type', device_type)), "
                  "json_object('session_id', session_id)) AS VARCHAR)",
}


def shaped(root: Path, i: int, shape: str = "narrow") -> tuple[float, float]:
    """Wall and CPU seconds of a hand-written INSERT of the same 42-column event rows (no checks, no dedup).

    Why: the plain CTAS writes the files' columns; this writes what the ingest writes (ADR
    0010), so ``ingest_s / shaped_s`` is the cost of typing, checks, quarantine, dedup and lineage.
    """
    eng = Engine(root / f"shaped_{i}.duckdb")
    eng.con  # noqa: B018 - open and migrate (creates ``events``) before the clock starts
    exprs = _SHAPED | (_SHAPED_WIDE if shape == "wide" else {})
    # the columns the ingest writes: those with a value (the others are not stored, ADR 0075)
    cols = [c for c in EVENT_COLUMN_NAMES if c in exprs]
    target = writable(eng, cols)
    sel = ", ".join(exprs[c] for c in cols)
    files = f"read_parquet('{root / 'events_*.parquet'}'"
    ips = (f" LEFT JOIN (SELECT ip, sha256('secret' || ip) AS k FROM (SELECT DISTINCT ip FROM {files}) "
           f"WHERE ip IS NOT NULL)) AS m ON r.ip = m.ip" if shape == "wide" else "")
    t0, c0 = time.perf_counter(), _cpu()
    eng.con.execute(f"INSERT INTO {target} ({', '.join(cols)}) SELECT {sel} FROM "
                    f"{files}, filename=true, file_row_number=true) AS r{ips}")
    eng.close()
    return time.perf_counter() - t0, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="baseline repeats (median); the ingest runs once")
    ap.add_argument("--shape", choices=("narrow", "wide"), default="narrow",
                    help="narrow: the six columns; wide: sixteen, as a real export (wide_columns)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_files(root, args.events, args.files, shape=args.shape)
        runs = [baseline(root, i) for i in range(args.repeats)]
        baseline_s = statistics.median(r[0] for r in runs)
        baseline_cpu = statistics.median(r[1] for r in runs)
        shaped_runs = [shaped(root, i, args.shape) for i in range(args.repeats)]
        shaped_s = statistics.median(r[0] for r in shaped_runs)
        init_project(root / "p", name="bench")
        with open_project(root / "p") as project:
            t0, c0 = time.perf_counter(), _cpu()
            reports = ingest_files(project, "clickstream", files)
            ingest_s, ingest_cpu = time.perf_counter() - t0, _cpu() - c0
            t0 = time.perf_counter()
            ident = resolve(project, full=True)
            identity_s = time.perf_counter() - t0
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(json.dumps({
            "events": args.events, "files": len(files), "shape": args.shape,
            "file_columns": len(pq.read_schema(files[0])),
            "ingest_s": round(ingest_s, 2), "baseline_s": round(baseline_s, 2), "ratio": round(ingest_s / baseline_s, 2),
            "ingest_cpu_s": round(ingest_cpu, 2), "baseline_cpu_s": round(baseline_cpu, 2),
            "cpu_ratio": round(ingest_cpu / baseline_cpu, 2),
            "shaped_s": round(shaped_s, 2), "shaped_cpu_s": round(statistics.median(r[1] for r in shaped_runs), 2),
            "ratio_shaped": round(ingest_s / shaped_s, 2),
            "identity_s": round(identity_s, 2), "peak_rss_mb": round(peak / 1024),
            "accepted": sum(r.accepted for r in reports), "quarantined": sum(r.quarantined for r in reports),
            "customers_new": ident.customers_new, "identity_phases_s": ident.phases,
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }))


if __name__ == "__main__":
    main()
