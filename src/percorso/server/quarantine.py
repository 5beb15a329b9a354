"""The quarantine as the API shows it: counts by reason, and pages of rows (raw text by role)."""

from __future__ import annotations

from typing import Any


def quarantine_counts(engine: Any) -> Any:
    """Rows per source and reason code."""
    if not engine.has_table("quarantine"):
        import pandas as pd

        return pd.DataFrame(columns=["source_name", "reason_code", "rows"])
    q = engine.table("quarantine")
    return engine.execute(q.group_by(["source_name", "reason_code"]).aggregate(rows=q.count())
                          .order_by(["source_name", "reason_code"]))


def quarantine_rows(engine: Any, source: str | None, reason: str | None, limit: int, offset: int,
                    raw: bool) -> Any:
    """A page of quarantined rows, filtered; ``raw_text`` only when ``raw``."""
    q = engine.table("quarantine")
    if source:
        q = q.filter(q.source_name == source)
    if reason:
        q = q.filter(q.reason_code == reason)
    cols = ["source_name", "source_kind", "source_file", "source_line", "reason_code", "message", "quarantined_at"]
    if raw:
        cols.append("raw_text")
    return engine.execute(q.select(cols).order_by(["source_name", "source_file", "source_line"])
                          .limit(limit, offset=offset))
