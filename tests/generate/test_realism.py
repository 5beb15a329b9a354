"""The demo looks like a retailer: checked on the generated files, with rules written out here.

Opening hours, holidays and send slots are restated by hand (not read from
:mod:`percorso.generate.hours`), so a bug there fails here. Ranges of spend and
click-through rates are the ones the catalog states for the reference retailer.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from percorso.generate import generate
from percorso.generate.catalog import MEDIA, MONTHLY_SPEND, REFERENCE_PEOPLE, SUNDAY_STORES

ROME = ZoneInfo("Europe/Rome")
PEOPLE = 5000
#: closed: 1 Jan, Easter Sunday and Monday, 1 May, 15 Aug, 25 and 26 Dec (2024: Easter 31 Mar; 2025: 20 Apr)
HOLIDAYS = {date(y, m, d) for y in (2024, 2025) for m, d in ((1, 1), (5, 1), (8, 15), (12, 25), (12, 26))} | {
    date(2024, 3, 31), date(2024, 4, 1), date(2025, 4, 20), date(2025, 4, 21)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("realism")
    generate(out, PEOPLE, seed=21)
    return out


def _bad(demo: Path, name: str) -> set[int]:
    mal = pd.read_csv(demo / "ground_truth" / "malformed.csv")
    return set(mal.loc[mal.file == name, "line"])


def _rows(demo: Path, name: str, sep: str, encoding: str = "utf-8") -> list[dict[str, str]]:
    """The well-formed data rows of a CSV (malformed ones are listed in the ground truth)."""
    bad = _bad(demo, name)
    with open(demo / "sources" / name, encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=sep)
        return [r for i, r in enumerate(reader, start=1) if i not in bad]


def _store_open(store: str, day: date, hhmm: time) -> bool:
    if day in HOLIDAYS:
        return False
    if day.weekday() < 6:
        return time(9, 30) <= hhmm < time(19, 30)
    first_sales_sunday = day.month in (1, 7) and day.day <= 7
    sunday = store in SUNDAY_STORES or day.month == 12 or first_sales_sunday
    return sunday and time(10, 0) <= hhmm < time(19, 0)


def test_store_receipts_are_in_opening_hours(demo):
    rows = _rows(demo, "pos_receipts.csv", ";", "utf-8-sig")
    assert len(rows) > 1000
    closed = [(r["Negozio"], r["Data"], r["Ora"]) for r in rows
              if not _store_open(r["Negozio"], datetime.strptime(r["Data"], "%d/%m/%Y").date(),
                                 time.fromisoformat(r["Ora"]))]
    assert closed == []
    hours = pd.Series([int(r["Ora"][:2]) for r in rows]).value_counts()
    assert hours.get(13, 0) < hours.get(17, 0)  # the lunch dip
    sundays = {r["Negozio"] for r in rows if datetime.strptime(r["Data"], "%d/%m/%Y").weekday() == 6}
    assert sundays & SUNDAY_STORES  # some Sunday openings


def test_calls_are_in_call_center_hours(demo):
    rows = _rows(demo, "call_center.csv", ",")
    assert len(rows) > 200
    for r in rows:
        at = datetime.fromisoformat(r["started_at"])
        last = time(13, 0) if at.weekday() == 5 else time(19, 0)
        assert at.date() not in HOLIDAYS and at.weekday() < 6 and time(9, 0) <= at.time() < last, r


def test_store_visits_fairs_and_flyers_keep_their_hours(demo):
    rows = _rows(demo, "offline_touchpoints.csv", ",")
    seen = {"store_visit": 0, "fair_visit": 0, "flyer_received": 0}
    for r in rows:
        at = datetime.fromisoformat(r["occurred_at"])
        seen[r["event_type"]] += 1
        if r["event_type"] == "store_visit":
            assert _store_open(r["store_id"], at.date(), at.time()), r
        elif r["event_type"] == "fair_visit":
            assert at.date() not in HOLIDAYS and time(10, 0) <= at.time() < time(19, 0), r
        else:  # delivered by the post
            assert at.date() not in HOLIDAYS and at.weekday() < 6 and time(8, 30) <= at.time() < time(14, 0), r
    assert min(seen.values()) > 50, seen


def test_newsletters_go_out_at_their_send_slots(demo):
    rows = [r for r in _rows(demo, "email_events.csv", ",") if r["event"] == "sent"]
    assert len(rows) > 1000
    first_slot = datetime(2024, 1, 2, 10, 0, tzinfo=ROME)
    for r in rows:
        at = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).astimezone(ROME)
        if at < first_slot:  # the clicks of the window's first day were sent before it
            continue
        slot = {1: time(10, 0), 4: time(17, 30)}.get(at.weekday())
        assert slot is not None and 0 <= (at.hour * 60 + at.minute) - (slot.hour * 60 + slot.minute) < 21, r


def _costs(demo: Path) -> pd.DataFrame:
    c = pd.DataFrame(_rows(demo, "campaign_costs.csv", ","))
    for col in ("cost", "impressions", "clicks"):
        c[col] = pd.to_numeric(c[col])
    c["month"] = c.date.str[:7]
    # the window ends at midnight UTC, 01:00 in Rome: its last hour is a stub of January 2026
    return c[c.month < "2026-01"]


def test_click_through_rates_are_in_each_channel_range_and_impressions_dwarf_clicks(demo):
    c = _costs(demo)
    monthly = c.groupby(["channel", "month"])[["impressions", "clicks"]].sum().reset_index()
    for name, m in MEDIA.items():
        rows = monthly[monthly.channel == name]
        assert len(rows) == 24, name
        ctr = rows.clicks / rows.impressions
        lo, hi = m.ctr
        assert ctr.between(lo * 0.98, hi * 1.02).all(), (name, ctr.describe())
        assert rows.impressions.sum() > 30 * rows.clicks.sum()
    ads = pd.read_parquet(demo / "sources" / "ad_clicks.parquet")
    per_click = ads[ads.platform == "meta"].event.value_counts()
    assert per_click["impression"] > 1.3 * per_click["click"]  # seen before they are clicked


def test_spend_per_channel_and_month_is_in_the_stated_range(demo):
    c = _costs(demo)
    spend = c.groupby(["channel", "month"]).cost.sum() * REFERENCE_PEOPLE / PEOPLE
    for name, (lo, hi) in MONTHLY_SPEND.items():
        months = spend.loc[name]
        assert len(months) == 24 and months.between(lo, hi).all(), (name, months.describe())
    # total marketing spend against gross sales: a few percent, as retailers spend
    orders = pd.DataFrame(_rows(demo, "ecommerce_orders.csv", ","))
    sales = (pd.to_numeric(orders.quantity) * pd.to_numeric(orders.unit_price) - pd.to_numeric(orders.discount)).clip(lower=0)
    pos = pd.DataFrame(_rows(demo, "pos_receipts.csv", ";", "utf-8-sig"))
    num = lambda s: pd.to_numeric(s.str.replace(",", "."))  # noqa: E731
    pos_sales = (num(pos["Quantità"]) * num(pos["Prezzo unitario"]) - num(pos["Sconto"])).clip(lower=0)
    share = c.cost.sum() / (sales.sum() + pos_sales.sum())
    assert 0.02 < share < 0.15, share
    by_channel = c.groupby("channel").cost.sum()
    assert by_channel["Events & fairs"] < 3 * by_channel["Paid Search"]


def test_online_orders_come_back_as_refunds(demo):
    orders = pd.DataFrame(_rows(demo, "ecommerce_orders.csv", ","))
    refunds = orders[orders.order_id.str.endswith("-R")]
    assert len(refunds) > 30
    assert (refunds.status == "refunded").all() and (pd.to_numeric(refunds.quantity) < 0).all()
    sales = orders[~orders.order_id.str.endswith("-R")]
    first = sales.groupby("order_id").order_date.min()
    base = refunds.order_id.str[:-2]
    known = base.isin(first.index)
    assert known.mean() > 0.95  # (a malformed line may have hidden its order)
    assert (pd.to_datetime(refunds.order_date[known].values, utc=True)
            > pd.to_datetime(first[base[known]].values, utc=True)).all()
    rate = len(refunds) / sales.order_id.nunique()
    assert 0.05 < rate < 0.2, rate
    summary = json.loads((demo / "ground_truth" / "summary.json").read_text())
    # every refund is in the file (a few as malformed lines, listed in the ground truth)
    assert len(refunds) <= summary["online_refunds"] <= len(refunds) + len(_bad(demo, "ecommerce_orders.csv"))
    ident = pd.read_csv(demo / "ground_truth" / "identity.csv", dtype=str)
    assert set(refunds.order_id) <= set(ident.loc[ident.source_name == "ecommerce", "source_key"])


@pytest.fixture(scope="module")
def sessions(demo: Path) -> pd.DataFrame:
    """One row per web session (a run of lines with one anonymousId): its landing path, whether it
    reached checkout, had a checkout error, bought."""
    rows = []
    for line in (demo / "sources" / "web_events.jsonl").read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            e = {}
        rows.append((e.get("anonymousId"), e.get("type"), e.get("event"),
                     e.get("context", {}).get("page", {}).get("url", "")))
    f = pd.DataFrame(rows, columns=["anon", "type", "event", "url"])
    f["session"] = (f.anon != f.anon.shift()).cumsum()
    f["checkout"] = f.event.isin(["checkout", "Checkout Started", "begin_checkout"])
    f["error"] = f.event == "checkout_error"
    f["bought"] = f.event.isin(["purchase", "Order Completed"])
    s = f.groupby("session")[["checkout", "error", "bought"]].any()
    landing = f[f.type == "page"].groupby("session").url.first().str.replace("https://www.dormirebene.it", "")
    s["landing"] = landing.str.split("?").str[0]
    return s


def test_checkout_errors_cost_sales(demo, sessions):
    s = sessions
    at_checkout = s[s.checkout]
    with_error, without = at_checkout[at_checkout.error], at_checkout[~at_checkout.error]
    assert len(with_error) > 50 and len(without) > 200
    assert with_error.bought.mean() < 0.6 * without.bought.mean(), (with_error.bought.mean(), without.bought.mean())
    summary = json.loads((demo / "ground_truth" / "summary.json").read_text())
    assert summary["lost_at_checkout"] > 0  # sales the simulation lost to errors (no purchase made)


def test_landing_pages_convert_differently(sessions):
    s = sessions.dropna(subset=["landing"])
    rate = s.groupby("landing").bought.mean()
    assert len(rate) == 8
    assert rate["/offerte"] > rate["/"] > rate["/blog/come-scegliere-materasso"]
    assert rate.max() > 3 * rate.min()
