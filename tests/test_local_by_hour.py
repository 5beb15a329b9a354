"""``local_by_hour`` (ADR 0035): wall times read from each UTC hour's offset equal the engine's
own conversion of every row, including the hours that hold a transition.

The oracle is Python's ``zoneinfo`` (the conversion ``local_value`` uses), row by row. Times are
drawn around the 2024 transitions of zones whose changes fall on a UTC hour (Rome, New York,
Auckland) and of zones whose changes do not (St John's: UTC-3:30, its changes at 05:30 UTC;
Lord Howe: a 30-minute summer shift), plus a zone without DST at +5:45 (Kathmandu).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.engine import Engine
from percorso.engine.localtime import local_by_hour

ZONES = ("Europe/Rome", "America/New_York", "Pacific/Auckland", "America/St_Johns", "Australia/Lord_Howe",
         "Asia/Kathmandu", "UTC")
#: UTC instants of 2024 transitions (and near them) of the zones above
CHANGES = (datetime(2024, 3, 31, 1), datetime(2024, 10, 27, 1), datetime(2024, 3, 10, 7), datetime(2024, 11, 3, 6),
           datetime(2024, 4, 6, 14), datetime(2024, 9, 28, 14), datetime(2024, 3, 10, 5, 30),
           datetime(2024, 11, 3, 4, 30), datetime(2024, 4, 6, 15), datetime(2024, 10, 5, 15, 30))

_near = st.builds(lambda c, s: c + timedelta(seconds=s), st.sampled_from(CHANGES),
                  st.integers(min_value=-7200, max_value=7200))


def _oracle(ts: datetime, zone: str) -> datetime:
    return ts.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), times=st.lists(_near, min_size=1, max_size=40))
def test_each_row_is_its_own_conversion(zone, times):
    eng = Engine(":memory:")
    try:
        t = eng.register_arrow("_t", pa.table({"i": list(range(len(times))), "ts": times}))
        out = eng.execute(local_by_hour(t, "ts", t, zone, "local").order_by("i"))
        assert list(out.columns) == ["i", "ts", "local"]
        assert [v.to_pydatetime() for v in out["local"]] == [_oracle(v, zone) for v in times]
    finally:
        eng.close()


def test_a_row_whose_hour_is_not_among_the_hours_is_converted_itself():
    eng = Engine(":memory:")
    try:
        t = eng.register_arrow("_t", pa.table({"ts": [datetime(2024, 3, 10, 5, 45)]}))
        other = eng.register_arrow("_o", pa.table({"ts": [datetime(2024, 1, 1)]}))
        out = eng.execute(local_by_hour(t, "ts", other, "America/St_Johns", "local"))
        assert out["local"][0].to_pydatetime() == datetime(2024, 3, 10, 3, 15)   # already -2:30
        assert ibis.to_sql(local_by_hour(t, "ts", t, "UTC", "local")).count("JOIN") == 0
    finally:
        eng.close()
