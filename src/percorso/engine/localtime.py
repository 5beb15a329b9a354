"""The project's local calendar: the one place a stored UTC time becomes local wall time.

Why one place: times are stored as naive UTC ``TIMESTAMP`` (they order and subtract
correctly across daylight-saving changes), but every day, week, month and hour a person
sees or filters by is a day of the project's time zone: a receipt at 00:30 on 1 October in
Milan is a 1 October sale, and the campaign costs it is compared with are booked per local
day. The build writes ``occurred_at_local`` into ``touchpoints`` and ``orders`` with
:func:`to_local`; analyses cut days, weeks and months and apply ``--from/--to`` on that
column and never convert themselves. The few other tables that hold times (``customers``,
``events``, ``quarantine``…) get a local column through the same function when exported
(:func:`with_local_columns`), and single values shown by the CLI through :func:`local_value`.

The local column is naive wall time: it may repeat an hour on the autumn change (two
instants, one wall time) and skip one in spring; it is for calendars, never for ordering
or durations (use ``occurred_at``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt


@ibis.udf.scalar.builtin(name="timezone")
def _utc_instant(zone: dt.string, ts: dt.timestamp) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """DuckDB ``timezone('UTC', naive)``: the naive value read as UTC, an instant."""


@ibis.udf.scalar.builtin(name="timezone")
def _wall_time(zone: dt.string, ts: dt.Timestamp(timezone="UTC")) -> dt.timestamp:  # type: ignore[valid-type]
    """DuckDB ``timezone(zone, instant)``: the instant's wall-clock time in ``zone`` (naive)."""


@ibis.udf.scalar.builtin(name="from_utc_timestamp")
def _from_utc(ts: dt.timestamp, zone: dt.string) -> dt.timestamp:  # type: ignore[valid-type]
    """Spark ``from_utc_timestamp(ts, zone)``: the UTC value's wall time in ``zone`` (DST-correct)."""


def to_local(ts: Any, zone: str) -> Any:
    """An Ibis expression: the naive-UTC timestamp column ``ts`` as naive wall time in ``zone``.

    Parameters
    ----------
    ts
        Ibis timestamp expression holding UTC times without zone (how percorso stores them).
    zone
        IANA zone name, e.g. ``Europe/Rome`` (validated by :mod:`percorso.config`).

    Examples
    --------
    ``2024-10-26 22:30`` UTC is ``2024-10-27 00:30`` in Rome (summer time, +2) and
    ``2024-10-27 23:30`` UTC is ``2024-10-28 00:30`` (winter time, +1).
    """
    if zone == "UTC":
        return ts.cast("timestamp")
    from percorso.engine.dialect import backend_name

    if backend_name(ts) == "pyspark":  # Spark twin; the session's zone is UTC (engine/spark.py)
        return _from_utc(ts.cast("timestamp"), ibis.literal(zone)).cast("timestamp")
    return _wall_time(ibis.literal(zone), _utc_instant(ibis.literal("UTC"), ts.cast("timestamp")))


def local_by_hour(t: Any, column: str, hours_of: Any, zone: str, name: str) -> Any:
    """Table ``t`` with ``name``: ``t[column]`` (naive UTC) as wall time in ``zone``, read from
    the offset of its UTC hour; the same values as :func:`to_local`.

    Why: the engine's zone conversion costs ~130 ns a row (2.2 CPU s of a 10M-event build's
    touchpoints, ADR 0035), but a zone's offset changes only at its transitions, months apart.
    The distinct UTC hours of ``hours_of[column]`` (a cheap table of the same times, e.g. the
    events they come from) are converted once, at each hour's first and last microsecond; a row
    takes its hour's offset when those two agree, and is converted itself otherwise (an hour
    holding a transition, in a zone whose changes do not fall on a UTC hour) or when its hour
    is not there. Spark and ``UTC`` convert directly.
    """
    from percorso.engine.dialect import backend_name

    if zone == "UTC" or backend_name(t[column]) == "pyspark":
        return t.mutate(**{name: to_local(t[column], zone)})
    ts = hours_of[column].cast("timestamp")
    h = hours_of.select(_lh=ts.truncate("h")).distinct()
    first, last = h._lh, h._lh + ibis.interval(hours=1) - ibis.interval(microseconds=1)
    off = to_local(first, zone) - first
    h = h.mutate(_loff=off, _lsame=(to_local(last, zone) - last) == off)
    # the row's hour as its own column first: ``hours_of`` may be ``t`` itself, or the table
    # ``t`` was made from, and a predicate naming both sides' columns would bind to one side
    t = t.mutate(_lkey=t[column].cast("timestamp").truncate("h"))
    j = t.left_join(h, t._lkey == h._lh)
    value = j[column].cast("timestamp")
    return j.mutate(**{name: j._lsame.fill_null(False).ifelse(value + j._loff, to_local(value, zone))}).drop(
        "_lkey", "_lh", "_loff", "_lsame")


def local_value(value: Any, zone: str) -> Any:
    """One stored UTC ``datetime`` (naive) as naive wall time in ``zone``; other values unchanged.

    For a single value in Python (a time printed by the CLI); columns go through :func:`to_local`.
    """
    import pandas as pd

    if isinstance(value, datetime) and not pd.isna(value):  # pd.Timestamp is a datetime
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        out = aware.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        return pd.Timestamp(out) if isinstance(value, pd.Timestamp) else out
    return value


def utc_value(local: datetime, zone: str) -> datetime:
    """A naive local wall time in ``zone`` as the naive UTC value percorso stores.

    For a bound on a table that has no local column (``audit_log``): ``--since 2024-10-27``
    starts at local midnight. A wall time skipped by the spring change counts as the moment
    after the change; a repeated autumn hour as its first occurrence (``fold=0``).
    """
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


def local_name(column: str) -> str:
    """Name of the local-time column next to a UTC one: ``occurred_at`` → ``occurred_at_local``."""
    return f"{column}_local"


def with_local_columns(table: Any, zone: str) -> Any:
    """``table`` (Ibis) with ``<col>_local`` right after each UTC timestamp column that lacks one.

    Why: an exported file is read by people in spreadsheets; each UTC time gets its local
    twin so nobody converts by hand (and machines keep the unambiguous UTC value).
    """
    cols: list[Any] = []
    names = set(table.columns)
    for name in table.columns:
        cols.append(table[name])
        typ = table.schema()[name]
        if typ.is_timestamp() and not name.endswith("_local") and local_name(name) not in names:
            cols.append(to_local(table[name], zone).name(local_name(name)))
    return table.select(*cols)


__all__ = ["local_by_hour", "local_name", "local_value", "to_local", "utc_value", "with_local_columns"]
