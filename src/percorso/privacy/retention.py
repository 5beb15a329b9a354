"""Retention: rows past their rule are deleted (or the person detached), and the bytes go too.

Why here and not a ``DELETE`` in a cron job: the derived tables (touchpoints, orders,
customers, identity) hold copies of the expired rows, and DuckDB keeps deleted rows' bytes in
the file until it is rewritten. :func:`run_retention` applies the ``[[privacy.retention]]``
rules (:mod:`percorso.privacy.settings`), drops the contact profiles and vault values left
without events, rebuilds, rewrites the database file and logs counts in ``privacy_log``.

The age of a row is measured from its ``occurred_at`` (quarantine: ``quarantined_at``) to
``now`` in UTC; a rule of N months expires what is older than ``now - N months``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from percorso.engine import privacy_sql as S
from percorso.privacy.settings import privacy_settings

if TYPE_CHECKING:
    from percorso.project import Project


@dataclass
class RetentionReport:
    """What one retention run removed, per rule (counts only)."""

    run_id: str
    now: str
    dry_run: bool
    rules: list[dict[str, Any]] = field(default_factory=list)
    orphans_removed: int = 0
    database_bytes: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(r["rows"] for r in self.rules)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def months_before(t: datetime, months: int) -> datetime:
    """``t`` minus ``months`` calendar months (31 March - 1 month = 28/29 February)."""
    import calendar

    y, m = divmod(t.year * 12 + (t.month - 1) - months, 12)
    day = min(t.day, calendar.monthrange(y, m + 1)[1])
    return t.replace(year=y, month=m + 1, day=day)


def run_retention(project: Project, *, now: datetime | None = None, dry_run: bool = False,
                  rewrite: bool = True, actor: str = "cli") -> RetentionReport:
    """Apply every retention rule of the project (see the module doc)."""
    from percorso.build import run_build

    t0 = time.perf_counter()
    if now is None:
        now = datetime.now(UTC).replace(tzinfo=None)
    elif now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    engine = project.engine
    S.ensure_tables(engine)
    ps = privacy_settings(project.settings)
    report = RetentionReport(run_id=uuid.uuid4().hex, now=now.isoformat(), dry_run=dry_run)
    with engine.transaction():
        for rule in ps.retention:
            cutoff = months_before(now, rule.months)
            n = S.retention_apply(engine, rule.table, cutoff, source=rule.source, event_types=rule.event_types,
                                  detach=rule.action == "detach", dry_run=dry_run)
            report.rules.append({"table": rule.table, "source": rule.source, "event_types": rule.event_types,
                                 "months": rule.months, "action": rule.action, "cutoff": cutoff.isoformat(), "rows": n})
        if not dry_run:   # logged even when nothing expired: the server's schedule reads when it last ran
            report.orphans_removed = S.orphan_profiles(engine) if report.total else 0
            S.log_action(engine, {"action_id": report.run_id, "action": "retention", "done_at": now, "actor": actor,
                                  "rows_removed": report.total + report.orphans_removed,
                                  "detail": "; ".join(f"{r['table']}/{r['source'] or '*'} {r['action']} {r['rows']}"
                                                      for r in report.rules if r["rows"])})
    if not dry_run and report.total:
        if engine.has_table("events") and engine.count("events"):
            run_build(project, full=True)
            S.unpin_gone(engine)   # an erasure's pin of an identifier no event carries any more
        if rewrite:
            report.database_bytes = S.rewrite_database(engine)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def retention_due(project: Project, now: datetime | None = None) -> bool:
    """Whether the server's schedule (``[privacy] retention_every_hours``) calls for a run now."""
    every = privacy_settings(project.settings).retention_every_hours
    if every <= 0:
        return False
    now = now or datetime.now(UTC).replace(tzinfo=None)
    last = S.last_action_at(project.engine, "retention")
    return last is None or (now - last).total_seconds() >= every * 3600


def scheduled_retention(project: Project, now: datetime | None = None) -> RetentionReport | None:
    """The server's beat: run the retention rules when due (logged even when nothing expired)."""
    if not retention_due(project, now):
        return None
    return run_retention(project, now=now, actor="server")
