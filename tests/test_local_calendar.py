"""The local calendar (ADR 0012): with naive local input times, every day-level result is the
same whatever the project time zone, DST change days included.

The oracle is the UTC project: there local time is stored time, so its days are the input's
days. The same naive local times are stored in each zone's UTC (as ingest does: read in the
project zone, kept in UTC), the build tables are written with ``occurred_at_local`` computed
by the engine (``percorso.testing.journeys_for`` uses the build's ``to_local``), and every
day-level result (RFM with and without dates, the CLV calibration summary and last order
day, cohorts, health, the journey map's periods and counts with ``--from/--to``, attribution
and ROI with ``--from/--to``) must equal the UTC project's. Times are drawn minutes around
midnight, and at 02:00–03:59, on the DST change days of Europe/Rome, America/New_York and
Pacific/Auckland. Touches are offline (no session merging) and fall far from the 30-day
lookback edge: sessions and lookbacks measure real durations, which the DST hour changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.attribution.roi import RoiQuery
from percorso.engine import Engine
from percorso.errors import InputError
from percorso.journeys.journey_map import JourneyMapQuery
from percorso.testing import journeys_for
from percorso.value.clv.pipeline import last_order_day
from percorso.value.cohorts import CohortQuery
from percorso.value.health import health_expr
from percorso.value.rfm import rfm_expr, summary_expr

ZONES = ("UTC", "Europe/Rome", "America/New_York", "Pacific/Auckland")
#: DST change days of the zones (2024), month ends and a new year: days whose edges matter. No
#: two are 29-31 days apart: the 30-day attribution lookback is a real duration, so a touch 30
#: local days before a purchase across a DST change is in the lookback in one zone and not in
#: another (hypothesis found 03-31 23:47 -> 04-30 00:17 in Rome; 04-30 became the leap day).
DAYS = (date(2024, 1, 1), date(2024, 3, 10), date(2024, 3, 31), date(2024, 4, 7), date(2024, 2, 29),
        date(2024, 6, 30), date(2024, 9, 29), date(2024, 10, 27), date(2024, 11, 3), date(2024, 12, 31))

#: (event_type, channel, stage, revenue?) of the steps a customer can take (all offline touches).
KINDS = (
    ("flyer_received", "Direct mail / flyer", "awareness", False),
    ("fair_visit", "Events & fairs", "consideration", False),
    ("call", "Call center", "decision", False),
    ("receipt", "Store / POS", "purchase", True),
    ("purchase", "Direct", "purchase", True),
)

#: Spring-forward days (Rome, New York, Auckland): 02:00–02:59 does not exist on them.
GAP_DAYS = (date(2024, 3, 31), date(2024, 3, 10), date(2024, 9, 29))

minute = st.one_of(st.integers(-90, 90), st.integers(120, 239))  # around midnight, or in the DST hours
# A wall time the spring change skips is not a time: it is read as after the change and may
# then follow a later step (a different order, not a different day); not an input to draw.
step = st.tuples(st.sampled_from(DAYS), minute, st.integers(0, len(KINDS) - 1), st.integers(1, 400)).filter(
    lambda s: not (s[0] in GAP_DAYS and 120 <= s[1] < 180))
people = st.dictionaries(st.sampled_from([f"c{i}" for i in range(6)]), st.lists(step, min_size=1, max_size=6),
                         min_size=1, max_size=6)
cut = st.sampled_from(DAYS)


def _stored(local: datetime, zone: str) -> datetime:
    """A naive local time as percorso stores it: the instant in UTC, without zone."""
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


def _journeys(spec: dict, zone: str) -> dict:
    out = {}
    for cid, steps in spec.items():
        rows = []
        for i, (day, minutes, k, value) in enumerate(steps):
            etype, channel, stage, buys = KINDS[k]
            at = _stored(datetime.combine(day, datetime.min.time()) + timedelta(minutes=minutes), zone)
            fields = {"event_id": f"{cid}-{i}", "channel": channel, "stage": stage, "campaign": "c1",
                      "online": etype == "purchase"}
            if buys:
                fields["revenue"] = float(value)
            rows.append((etype, at, fields))
        out[cid] = rows
    return out


def _costs(engine: Engine) -> None:
    """Daily costs per local day, the same file in every zone."""
    engine.create_table("campaign_costs", pa.table({
        "date": pa.array(list(DAYS), pa.date32()),
        "channel": ["Events & fairs"] * len(DAYS), "campaign": ["c1"] * len(DAYS),
        "cost": [10.0 * (i + 1) for i in range(len(DAYS))],
    }))


def _frame(df: pd.DataFrame, sort: list[str], drop: tuple[str, ...] = ()) -> pd.DataFrame:
    df = df.drop(columns=[c for c in drop if c in df.columns])
    return df.sort_values(sort).reset_index(drop=True)


def _last_order_day(engine: Engine) -> date | None:
    """None without orders (``last_order_day`` says so with an InputError): the same in every zone."""
    try:
        return last_order_day(engine)
    except InputError:
        return None


def day_level_results(engine: Engine, lo: date, hi: date) -> dict[str, pd.DataFrame]:
    """Every day-level result of the analyses, with the dates [lo, hi] where a command takes them."""
    times = ("first_at", "last_at")  # instants (UTC): they differ between zones by design
    out = {
        "rfm": _frame(engine.execute(rfm_expr(engine)), ["customer_id"], times),
        "rfm_dates": _frame(engine.execute(rfm_expr(engine, hi + timedelta(days=1), start=lo)), ["customer_id"], times),
        "clv_summary": _frame(engine.execute(summary_expr(engine, hi)), ["customer_id"]),
        "last_order_day": pd.DataFrame({"day": [_last_order_day(engine)]}),
        "cohorts": _frame(run(engine, CohortQuery()).frame, ["cohort", "period"]),
        "health": _frame(engine.execute(health_expr(engine, as_of=hi)), ["customer_id"]),
    }
    jm = run(engine, JourneyMapQuery(min_customers=1, period="week", date_from=lo, date_to=hi))
    out["journey_map_weeks"] = _frame(jm.over_time, ["period"])
    out["journey_map_dates"] = _frame(jm.frame, ["stage", "channel"], ("median_days_to_next_stage",))
    # ROI runs the attribution models over the same dates and adds the costs of the local days
    roi = run(engine, RoiQuery(models=("last", "linear"), date_from=lo, date_to=hi))
    out["attribution_roi_dates"] = _frame(roi.frame, ["channel", "campaign", "model"])
    return out


#: Minutes around midnight on each DST change day, for every kind of step (always run).
_AROUND_MIDNIGHT = {f"c{k}": [(d, m, k, 10 + k) for d in DAYS[1:4] + DAYS[6:9] for m in (-10, 10, 190)]
                    + [(date(2024, 10, 27), 150, k, 5), (date(2024, 11, 3), 90, k, 5)]  # repeated hours
                    for k in range(len(KINDS))}


@settings(max_examples=4, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=people, a=cut, b=cut)
@example(spec=_AROUND_MIDNIGHT, a=date(2024, 3, 31), b=date(2024, 10, 27))
@example(spec={"c0": [(date(2024, 1, 1), 0, 0, 1)]}, a=date(2024, 1, 1), b=date(2024, 1, 1))  # no order at all
def test_day_level_results_do_not_depend_on_the_time_zone(tmp_path_factory, spec, a, b):
    lo, hi = min(a, b), max(a, b)
    results = {}
    for zone in ZONES:
        engine = journeys_for(tmp_path_factory.mktemp("tz"), _journeys(spec, zone), time_zone=zone)
        try:
            _costs(engine)
            results[zone] = day_level_results(engine, lo, hi)
        finally:
            engine.close()
    for zone in ZONES[1:]:
        for name, expected in results["UTC"].items():
            pd.testing.assert_frame_equal(results[zone][name], expected, check_dtype=False,
                                          obj=f"{name} in {zone}")


def test_a_purchase_after_midnight_is_on_the_local_day(tmp_path):
    """Hand example: 00:30 in Rome on 1 October 2024 is 22:30 UTC on 30 September; the order's
    local day, its RFM recency and its cohort month are October's."""
    at = _stored(datetime(2024, 10, 1, 0, 30), "Europe/Rome")
    assert at == datetime(2024, 9, 30, 22, 30)
    receipt = ("receipt", at, {"channel": "Store / POS", "revenue": 50.0, "stage": "purchase"})
    engine = journeys_for(tmp_path, {"anna": [receipt]}, time_zone="Europe/Rome")
    o = engine.execute(engine.table("orders"))
    assert o.loc[0, "occurred_at"] == pd.Timestamp("2024-09-30 22:30")
    assert o.loc[0, "occurred_at_local"] == pd.Timestamp("2024-10-01 00:30")
    assert last_order_day(engine) == date(2024, 10, 1)
    r = engine.execute(rfm_expr(engine, date(2024, 10, 11)))
    assert r.loc[0, "recency_days"] == 10
    assert run(engine, CohortQuery()).frame.loc[0, "cohort"] == "2024-10"
    # a --from/--to of 1 October finds it, one of 30 September does not
    on = run(engine, JourneyMapQuery(min_customers=1, date_from=date(2024, 10, 1), date_to=date(2024, 10, 1)))
    off = run(engine, JourneyMapQuery(min_customers=1, date_from=date(2024, 9, 30), date_to=date(2024, 9, 30)))
    assert on.frame["touchpoints"].sum() == 1 and off.frame["touchpoints"].sum() == 0


def test_exports_put_local_time_next_to_utc(tmp_path):
    """`percorso export`: each UTC time column is followed by its project-time twin; a table that
    already has one (touchpoints) keeps it and gets no second."""
    from percorso.export.tables import export_table

    engine = Engine(tmp_path / "p.duckdb", time_zone="Europe/Rome")
    journeys_for(engine, {"anna": [("receipt", datetime(2024, 10, 26, 22, 30), {"revenue": 5.0}),
                                   ("page_view", datetime(2024, 10, 27, 23, 30))]})
    export_table(engine, "customers", tmp_path / "c.csv", csv_profile="standard")
    c = pd.read_csv(tmp_path / "c.csv")
    cols = list(c.columns)
    assert cols[cols.index("first_seen_at") + 1] == "first_seen_at_local"
    assert cols[cols.index("last_seen_at") + 1] == "last_seen_at_local"
    # summer time (+2) on the 26th, winter time (+1) after the change of the 27th
    assert c.loc[0, "first_seen_at_local"] == "2024-10-27 00:30:00"
    assert c.loc[0, "last_seen_at_local"] == "2024-10-28 00:30:00"
    export_table(engine, "touchpoints", tmp_path / "t.parquet")
    t = pd.read_parquet(tmp_path / "t.parquet")
    assert [x for x in t.columns if x.startswith("occurred_at")] == ["occurred_at", "occurred_at_local"]
    assert list(t["occurred_at_local"].dt.strftime("%Y-%m-%d %H:%M")) == ["2024-10-27 00:30", "2024-10-28 00:30"]
