"""A file's wall times move to UTC by their hour's offset, with the engine's values (ADR 0053).

Oracle: the engine's own conversion of every row (``wall_to_utc_icu``, what the typed stage
did before). Both must agree on every minute (and odd seconds and microseconds) around the
transitions of zones with a skipped and a repeated hour, half-hour changes (Lord Howe), a
quarter-hour offset (Kathmandu), changes at midnight (Santiago, Havana), a skipped day
(Apia, 2011), a zone with Ramadan suspensions (Casablanca) and UTC; and on hypothesis times.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.engine import ingest_sql as S
from percorso.engine.backend import Engine

ZONES = ["Europe/Rome", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Santiago",
         "America/Havana", "Pacific/Apia", "Africa/Casablanca", "Europe/London", "UTC", "America/St_Johns"]


def _mismatches(eng: Engine, tz: str) -> tuple[int, int, S.ZonePieces | None]:
    """(rows, rows whose two conversions differ, pieces) over temp table ``w(ts)``."""
    pieces = S.zone_pieces(eng, "w", "ts", tz)
    n, bad = eng.con.execute(
        f"SELECT count(*), count(*) FILTER ({S.wall_to_utc('ts', tz, pieces)} IS DISTINCT FROM "
        f"{S.wall_to_utc_icu('ts', tz)}) FROM w").fetchall()[0]
    return int(n), int(bad), pieces


@pytest.fixture
def eng():
    engine = Engine(":memory:")
    yield engine
    engine.close()


def _offset_at(pieces: S.ZonePieces, wall: str) -> int | None:
    """The offset of the piece that covers wall time ``wall`` (same text form as the bounds)."""
    return next(off for bound, off in pieces if bound is None or wall < bound)


def test_every_minute_around_the_transitions_of_many_zones(eng):
    # every 7 minutes and 13 seconds (so every minute of the hour comes round), plus an odd
    # microsecond, from 2010 to 2026: every transition of those years, and the hours far from them
    eng.con.execute("CREATE TEMP TABLE w AS SELECT range + INTERVAL 17 MICROSECOND AS ts FROM range("
                    "TIMESTAMP '2010-01-01', TIMESTAMP '2026-01-01', INTERVAL 433 SECOND)")
    for tz in ZONES:
        n, bad, pieces = _mismatches(eng, tz)
        assert n > 1_000_000 and bad == 0, tz
        offsets = [off for _, off in pieces if off is not None]
        assert offsets, tz  # most hours go by their offset
        if tz == "Europe/Rome":  # winter +1, summer +2
            assert set(offsets) == {3_600_000_000, 7_200_000_000}
            # before the first hour, the 32 changes (+1 hours, the engine, +2, the engine), winter, after the last
            assert len(pieces) == 1 + 16 * 4 + 1 + 1


def test_the_transition_hours_minute_by_minute(eng):
    # Rome's changes of 2024: 31 March 02:00 -> 03:00 (skipped) and 27 October 03:00 -> 02:00 (repeated)
    eng.con.execute("CREATE TEMP TABLE w AS SELECT range AS ts FROM range(TIMESTAMP '2024-03-30 22:00', "
                    "TIMESTAMP '2024-03-31 06:00', INTERVAL 1 SECOND) UNION ALL SELECT range FROM range("
                    "TIMESTAMP '2024-10-26 22:00', TIMESTAMP '2024-10-27 06:00', INTERVAL 1 SECOND)")
    for tz in ("Europe/Rome", "Australia/Lord_Howe", "Europe/London"):
        _, bad, _ = _mismatches(eng, tz)
        assert bad == 0, tz
    # the skipped and repeated hours themselves are converted by the engine, not by an offset
    pieces = S.zone_pieces(eng, "w", "ts", "Europe/Rome")
    assert _offset_at(pieces, "2024-03-31 02:30:00") is None and _offset_at(pieces, "2024-10-27 02:30:00") is None
    assert _offset_at(pieces, "2024-03-31 05:00:00") == 7_200_000_000
    assert _offset_at(pieces, "2024-10-27 04:30:00") == 3_600_000_000


def test_one_time_dates_nulls_and_no_times(eng):
    eng.con.execute("CREATE TEMP TABLE w AS SELECT * FROM (VALUES (TIMESTAMP '2024-07-01 12:00'), (NULL)) v(ts)")
    n, bad, pieces = _mismatches(eng, "Europe/Rome")
    assert (n, bad) == (2, 0) and pieces is not None
    eng.con.execute("CREATE OR REPLACE TEMP TABLE w AS SELECT NULL::TIMESTAMP AS ts")
    assert S.zone_pieces(eng, "w", "ts", "Europe/Rome") is None
    assert S.wall_to_utc("ts", "Europe/Rome", None) == S.wall_to_utc_icu("ts", "Europe/Rome")
    eng.con.execute("CREATE OR REPLACE TEMP TABLE d AS SELECT DATE '2024-03-31' + range::INTEGER AS ts FROM range(400)")
    pieces = S.zone_pieces(eng, "d", "ts", "Europe/Rome")
    n, bad = eng.con.execute(
        f"SELECT count(*), count(*) FILTER ({S.wall_to_utc('CAST(ts AS TIMESTAMP)', 'Europe/Rome', pieces)} "
        f"IS DISTINCT FROM {S.wall_to_utc_icu('CAST(ts AS TIMESTAMP)', 'Europe/Rome')}) FROM d").fetchall()[0]
    assert (n, bad) == (400, 0)


_SPAN_S = 3 * 366 * 86400
_TIMES = st.tuples(st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2060, 1, 1)),
                   st.lists(st.integers(-_SPAN_S * 1_000_000, _SPAN_S * 1_000_000), min_size=1, max_size=40))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(times=_TIMES, zone=st.sampled_from(ZONES))
def test_hypothesis_times_convert_as_the_engine(times, zone):
    base, offsets = times
    eng = Engine(":memory:")
    try:
        eng.con.execute("CREATE TEMP TABLE w AS SELECT ?::TIMESTAMP + to_microseconds(unnest(?::BIGINT[])) AS ts",
                        [base, offsets])
        # each time and the minutes after it: the hours of a transition, when one is drawn
        eng.con.execute("INSERT INTO w SELECT ts + INTERVAL 1 MINUTE * range FROM w, range(1, 90)")
        _, bad, _ = _mismatches(eng, zone)
        assert bad == 0
    finally:
        eng.close()


def test_a_stray_old_time_keeps_the_span_short(eng):
    eng.con.execute("CREATE TEMP TABLE w AS SELECT * FROM (VALUES (TIMESTAMP '0001-01-01 10:00'), "
                    "(TIMESTAMP '1890-06-01 10:00'), (TIMESTAMP '2024-03-31 02:30'), (TIMESTAMP '2025-07-01 12:00')) v(ts)")
    n, bad, pieces = _mismatches(eng, "Europe/Rome")
    assert (n, bad) == (4, 0)
    assert pieces[0] == ("2005-07-01 12:00:00", None)  # twenty years before the last: older ones by the engine
