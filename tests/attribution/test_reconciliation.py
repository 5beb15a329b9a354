"""Attribution and ROI close: attributed + not attributable = every conversion, for every model.

Hand-computed on four people (lookback 30 days, GA4 direct convention):

* anna: an e-mail click on 5 Feb, a 100 € receipt on 10 Feb: attributed (Email);
* bruno: a 50 € web purchase, nothing before it: it opens its (Direct) session, so that
  session is its touch (ADR 0058): attributed (Direct);
* carla: a Paid Search visit on 1 Jan, an 80 € web purchase on 29 Feb (59 days later, beyond
  the lookback): attributed to its own (Direct) session; her visit is a journey without
  conversion;
* dario: a CRM record update on 1 Feb (record keeping: never a touchpoint), a 30 € receipt on
  3 Feb (a store receipt has no session: never its own touch): not attributable.

Total: 4 conversions, 260 €, 4 new customers; attributed 3 / 230 € / 3 (Email 1 / 100 €,
Direct 2 / 130 €); not attributable 1 / 30 € / 1, whatever the model.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from percorso.analysis.base import run
from percorso.attribution import AttributionQuery, RoiQuery
from percorso.attribution.analysis import NOT_ATTRIBUTABLE, TOTAL
from percorso.testing import journeys_for

PEOPLE = {
    "anna": [("email_click", "2024-02-05 10:00", {"channel": "Email", "campaign": "promo"}),
             ("receipt", "2024-02-10 17:00", {"channel": "Store / POS", "revenue": 100.0})],
    "bruno": [("purchase", "2024-02-06 11:00", {"channel": "Direct", "revenue": 50.0})],
    "carla": [("page_view", "2024-01-01 10:00", {"channel": "Paid Search", "campaign": "winter"}),
              ("purchase", "2024-02-29 10:00", {"channel": "Direct", "revenue": 80.0})],
    "dario": [("crm_update", "2024-02-01 09:00", {"channel": "Unassigned", "online": False}),
              ("receipt", "2024-02-03 17:00", {"channel": "Store / POS", "revenue": 30.0})],
}
MODELS = ("first", "last", "linear", "time_decay", "position", "markov", "shapley")


@pytest.fixture
def engine(tmp_path):
    e = journeys_for(tmp_path, PEOPLE)
    e.append_arrow("campaign_costs", pa.table({
        "cost_id": ["1", "2", "3"], "date": pa.array([date(2024, 2, 1), date(2024, 1, 1), date(2024, 2, 2)]),
        "channel": ["Email", "Paid Search", "Display"], "campaign": ["promo", "winter", "promo"],
        "cost": [20.0, 15.0, 5.0],
    }))
    yield e
    e.close()


def test_the_crm_update_is_no_touchpoint(engine):
    tp = engine.execute(engine.table("touchpoints"))
    assert "crm_update" not in set(tp["event_type"])
    ru = engine.execute(engine.table("record_updates"))
    assert list(ru["customer_id"]) == ["dario"] and list(ru["event_type"]) == ["crm_update"]
    c = engine.execute(engine.table("customers")).set_index("customer_id")
    assert c.loc["dario", "first_channel"] == "Store / POS" and c.loc["dario", "n_touchpoints"] == 1


def test_every_model_reconciles_by_hand(engine):
    r = run(engine, AttributionQuery(models=MODELS))
    cols = [c for c in r.frame.columns if c not in ("node", "spread")]
    assert len(cols) == len(MODELS)
    rows = r.frame.set_index("node")
    nodes = r.nodes()
    assert list(r.frame["node"])[-2:] == [NOT_ATTRIBUTABLE, TOTAL]
    # carla's old visit is a node of a journey without conversion: listed, credited nothing
    assert set(nodes["node"]) == {"Email", "Direct", "Paid Search"}
    for m in cols:
        assert rows.loc["Email", m] == pytest.approx(1.0) and rows.loc["Paid Search", m] == 0.0, m
        assert rows.loc["Direct", m] == pytest.approx(2.0), m
        assert rows.loc[NOT_ATTRIBUTABLE, m] == pytest.approx(1.0), m
        assert rows.loc[TOTAL, m] == pytest.approx(4.0), m
    value = r.table("value").set_index("node")
    new = r.table("new_customers").set_index("node")
    for m in cols:
        assert (value.loc["Email", m], value.loc["Direct", m], value.loc[NOT_ATTRIBUTABLE, m],
                value.loc[TOTAL, m]) == pytest.approx((100.0, 130.0, 30.0, 260.0)), m
        assert (new.loc[NOT_ATTRIBUTABLE, m], new.loc[TOTAL, m]) == pytest.approx((1.0, 4.0)), m
    t = r.totals
    assert set(t["row"]) == {"attributed", "not_attributable", "total"}
    assert r.meta["conversions_without_touchpoints"] == 1.0
    assert r.meta["definitions"] == {"revenue": "gross_revenue"}


def test_a_negative_receipt_is_a_return_not_a_conversion(tmp_path):
    # as in the orders table (a negative amount is a return), so the total stays the purchase orders
    e = journeys_for(tmp_path, {"ezio": [
        ("email_click", "2024-02-05 10:00", {"channel": "Email"}),
        ("receipt", "2024-02-06 17:00", {"channel": "Store / POS", "revenue": 60.0}),
        ("receipt", "2024-02-07 17:00", {"channel": "Store / POS", "revenue": -60.0})]})
    try:
        r = run(e, AttributionQuery(models=("last",)))
        orders = e.execute(e.table("orders"))
        assert r.frame.set_index("node").loc[TOTAL, "last"] == 1.0 == (~orders["is_return"]).sum()
        assert r.table("value").set_index("node").loc[TOTAL, "last"] == 60.0
    finally:
        e.close()


def test_dates_bound_the_total_too(engine):
    # from 7 Feb: anna's receipt (10 Feb) and carla's purchase (29 Feb, its own Direct session);
    # bruno and dario fall before
    r = run(engine, AttributionQuery(models=("last",), date_from=date(2024, 2, 7)))
    rows = r.frame.set_index("node")
    assert (rows.loc["Email", "last"], rows.loc["Direct", "last"], rows.loc[NOT_ATTRIBUTABLE, "last"],
            rows.loc[TOTAL, "last"]) == (1.0, 1.0, 0.0, 2.0)
    assert r.table("value").set_index("node").loc[TOTAL, "last"] == 180.0


def test_roi_rows_close_on_cost_conversions_and_revenue(engine):
    r = run(engine, RoiQuery(models=("last", "linear")))
    f = r.frame
    for m in ("last", "linear"):
        part = f[f["model"] == m].set_index("channel")
        body = part.drop(index=[NOT_ATTRIBUTABLE, TOTAL])
        na, tot = part.loc[NOT_ATTRIBUTABLE], part.loc[TOTAL]
        assert (na["conversions"], na["revenue"], na["cost"]) == (1.0, 30.0, 0.0)
        assert (tot["conversions"], tot["revenue"], tot["cost"], tot["new_customers"]) == (4.0, 260.0, 40.0, 4.0)
        assert body["cost"].sum() == 40.0 and body["revenue"].sum() + na["revenue"] == 260.0
        assert tot["roi"] == pytest.approx((260 - 40) / 40) and tot["roas"] == pytest.approx(6.5)
        assert pd_isna(na["cpa"]) and pd_isna(na["roi"])
    assert "margin" not in f and r.meta["margin"] is None


def test_roi_on_margin_when_a_margin_is_set(engine):
    r = run(engine, RoiQuery(models=("last",)), {"margin": 0.4})
    row = r.frame.set_index("channel").loc["Email"]
    # Email: 100 € revenue, 20 € cost: ROI on revenue 400 %, on margin (40 € − 20 €) / 20 € = 100 %
    assert row["roi"] == pytest.approx(4.0) and row["margin"] == pytest.approx(40.0)
    assert row["roi_margin"] == pytest.approx(1.0)
    assert r.meta["margin"] == 0.4 and "on margin" in r.meta["roi"]
    text = r.formatted("en").set_index("channel").loc["Email"]
    assert (text["roi"], text["roi_margin"]) == ("400.0%", "100.0%")  # English: no space before %


def test_drill_down_to_the_reconciling_rows(engine):
    r = run(engine, AttributionQuery(models=("last",)))
    # by hand: dario (a CRM row only, then a store receipt); bruno and carla: their own sessions
    assert sorted(r.customers(node=NOT_ATTRIBUTABLE)["customer_id"]) == ["dario"]
    assert sorted(r.customers(node=TOTAL)["customer_id"]) == ["anna", "bruno", "carla", "dario"]
    assert list(r.customers(node="Email")["customer_id"]) == ["anna"]
    assert sorted(r.customers(node="Direct")["customer_id"]) == ["bruno", "carla"]
    roi = run(engine, RoiQuery(models=("last",)))
    assert sorted(roi.customers(channel=NOT_ATTRIBUTABLE)["customer_id"]) == ["dario"]


def test_a_filtered_roi_has_no_reconciling_rows(engine):
    r = run(engine, RoiQuery(models=("last",), channel="Email"))
    assert set(r.frame["channel"]) == {"Email"}


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
