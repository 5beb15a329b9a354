"""The issue-15 clickstream file: ``customer_id, ts, event_type, channel, campaign, revenue``.

Shared by ``bench/e2e.py`` and ``bench/incremental.py`` (not a benchmark itself). About 9.4
events per person as in the issue's 10,006,508 events over 1,065,000 people; a person's
events are spread over 90 days in visits of a few minutes, so sessions, funnels and paths
have something to find. Written with pyarrow (numpy draws, no Python loop over events).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EVENTS_PER_PERSON = 9.4
TYPES = np.array(["page_view", "catalog", "product_view", "cart", "checkout", "purchase", "search", "login"])
_P = np.array([0.34, 0.18, 0.2, 0.1, 0.05, 0.03, 0.08, 0.02])
CHANNELS = np.array(["organic", "paid_search", "email", "social", "direct", "referral"])
CAMPAIGNS = np.array(["", "saldi", "black_friday", "newsletter_w", "retargeting", "brand"])
_T0 = np.datetime64("2025-01-01T00:00:00", "s")


def clickstream_table(n: int, *, seed: int = 15, people: int | None = None, first_person: int = 0) -> pa.Table:
    """``n`` events of ``people`` people (default ``n / 9.4``), ids ``u<first_person + i>``."""
    rng = np.random.default_rng(seed)
    people = people or max(1, int(n / EVENTS_PER_PERSON))
    person = rng.integers(0, people, n)
    visit = rng.integers(0, 6, n)                         # a person comes back on up to 6 days
    day = (person * 7919 + visit * 104729) % 90
    secs = day * 86400 + (person % 86400) // 2 + rng.integers(0, 1800, n)
    order = np.lexsort((secs, person))
    person, secs = person[order], secs[order]
    types = TYPES[rng.choice(len(TYPES), n, p=_P)]
    revenue = np.where(types == "purchase", np.round(rng.gamma(2.0, 40.0, n), 2), np.nan)
    return pa.table({
        "customer_id": pa.array(np.char.add("u", (person + first_person).astype(str))),
        "ts": pa.array(_T0 + secs.astype("timedelta64[s]"), pa.timestamp("s")),
        "event_type": pa.array(types),
        "channel": pa.array(CHANNELS[rng.integers(0, len(CHANNELS), n)]),
        "campaign": pa.array(np.where(rng.random(n) < 0.5, None, CAMPAIGNS[rng.integers(1, len(CAMPAIGNS), n)])),
        "revenue": pa.array(revenue, from_pandas=True),
    })


#: Above this many events the file is written in parts of this size (bounded memory at 100M);
#: each part draws from all the people, with its own seed. Up to it, one table as before.
PART = 10_000_000


def clickstream_file(n: int, folder: Path, *, seed: int = 15) -> Path:
    """Write (once) ``folder/clickstream-<n>.parquet`` and return its path."""
    path = Path(folder) / f"clickstream-{n}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        if n <= PART:
            pq.write_table(clickstream_table(n, seed=seed), tmp, row_group_size=122_880)
        else:
            people = max(1, int(n / EVENTS_PER_PERSON))
            writer = None
            for i, start in enumerate(range(0, n, PART)):
                part = clickstream_table(min(PART, n - start), seed=seed + 1000 * (i + 1), people=people)
                writer = writer or pq.ParquetWriter(tmp, part.schema)
                writer.write_table(part, row_group_size=122_880)
            assert writer is not None
            writer.close()
        tmp.rename(path)          # a run stopped half way leaves no file that looks complete
    return path
