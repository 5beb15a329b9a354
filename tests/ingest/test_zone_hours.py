"""``zone_hours`` (ADR 0052): a date-time column's wall times moved to UTC by their hour's offset
equal the engine's conversion of each row, around transitions too; and an import stores them.

The reference is the conversion the typed stage made of every row before (``typed_expr``
without ``hours``): the claim is "the same values", gaps and repeated hours included. Times are
every 7 min 13.5 s through the local days of the 2024 transitions of zones whose changes fall on
a whole local hour (Rome, New York, Auckland), on a half hour (St John's), by 30 minutes (Lord
Howe), a zone without DST at +5:45 (Kathmandu), and UTC; plus NULL, year 1 and year 9999 (left
out of the hour table, converted one by one; NULL as nanoseconds).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from percorso.engine import Engine
from percorso.engine import ingest_sql as S

ZONES = ("Europe/Rome", "America/New_York", "Pacific/Auckland", "America/St_Johns", "Australia/Lord_Howe",
         "Asia/Kathmandu", "UTC")
DAYS = (datetime(2024, 3, 31), datetime(2024, 10, 27), datetime(2024, 3, 10), datetime(2024, 11, 3),
        datetime(2024, 4, 7), datetime(2024, 10, 6), datetime(2024, 9, 29), datetime(2024, 4, 6))


def _times() -> list[datetime | None]:
    step = timedelta(minutes=7, seconds=13, microseconds=500_000)
    out: list[datetime | None] = []
    for day in DAYS:
        t = day - timedelta(hours=2)
        while t < day + timedelta(hours=26):
            out.append(t)
            t += step
    return out + [None, datetime(1, 1, 1, 0, 30), datetime(9999, 12, 31, 23, 59, 59)]


@pytest.mark.parametrize("sql_type", ["TIMESTAMP", "TIMESTAMP_NS", "DATE"])
def test_hour_offsets_equal_each_rows_conversion(tmp_path, sql_type):
    eng = Engine(tmp_path / "z.duckdb")
    eng.con.register("_t", pa.table({"ts": pa.array(_times(), pa.timestamp("us"))}))
    eng.con.execute(f"CREATE TEMP TABLE st AS SELECT TRY_CAST(ts AS {sql_type}) AS ts, row_number() OVER () AS _line, "
                    "0 AS _file FROM _t")
    for zone in ZONES:
        on = S.zone_hours(eng, "_ing_zone0", "st", "ts", zone)
        each = S.typed_expr('"ts"', "ts", sql_type=sql_type, tz=zone)
        by_hour = S.typed_expr('"ts"', "ts", sql_type=sql_type, tz=zone, hours='"_ing_zone0"')
        rows = eng.con.execute(f"SELECT count(*), count(*) FILTER (({each}) IS DISTINCT FROM ({by_hour})), "
                               f"count(*) FILTER (\"_ing_zone0\".{S.ZONE_OFF} IS NULL) "
                               f"FROM st s LEFT JOIN \"_ing_zone0\" ON {on}").fetchall()[0]
        assert rows[1] == 0, (zone, sql_type)
        assert rows[2] >= 3  # NULL, year 1 and 9999 at least went row by row
        assert rows[2] < rows[0] / 2  # and most rows by their hour
    eng.close()


def test_import_stores_the_zone_converted_times(tmp_path):
    """A Parquet file's wall times (Rome) around the spring and autumn changes are stored as the
    engine's conversion of each row (the import takes the hour offsets)."""
    from percorso.ingest import ingest_files
    from percorso.project import init_project, open_project

    times = [t for t in _times() if t is not None and 2000 < t.year < 3000][:400]
    f = tmp_path / "clicks.parquet"
    pq.write_table(pa.table({"customer_id": [f"u{i % 7}" for i in range(len(times))],
                             "ts": pa.array(times, pa.timestamp("us")),
                             "event_type": ["page_view"] * len(times)}), f)
    init_project(tmp_path / "p")
    proj = open_project(tmp_path / "p")
    [rep] = ingest_files(proj, "clickstream", [f])
    assert rep.accepted == len(times)
    got = proj.engine.con.execute("SELECT source_line, occurred_at FROM events ORDER BY source_line").fetchall()
    con = duckdb.connect()
    want = con.execute("SELECT CAST(timezone(?, ts) AT TIME ZONE 'UTC' AS TIMESTAMP) FROM unnest(?::TIMESTAMP[]) t(ts)",
                       [proj.settings.project.time_zone, times]).fetchall()
    assert [t for _, t in got] == [w for (w,) in want]
    proj.close()
