"""On a generated retailer: totals reconcile and say what they are; record keeping is no touchpoint.

Issue 14 (deliver 3 and 4). The demo is built once for the module (2,000 people). Each
figure is checked against the definitions computed here from the build tables, in a few
lines each, not against the command's own output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from percorso.analysis.base import run
from percorso.attribution import AttributionQuery, RoiQuery
from percorso.attribution.analysis import NOT_ATTRIBUTABLE, TOTAL
from percorso.cli import app
from percorso.demo.run import run_demo
from percorso.events import RECORD_KEEPING_EVENT_TYPES
from percorso.project import open_project

MODELS = ("first", "last", "last_non_direct", "linear", "time_decay", "position", "markov", "shapley")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("totals") / "shop"
    run_demo(folder, customers=2000, seed=11)
    return folder


@pytest.fixture(scope="module")
def facts(shop: Path) -> dict:
    """The definitions, computed by hand from the build tables (pandas, small demo)."""
    with open_project(shop, read_only=True) as p:
        e = p.engine
        orders = e.execute(e.table("orders"))
        customers = e.execute(e.table("customers"))
    purchases = orders[~orders["is_return"]]
    buyers = set(purchases["customer_id"])
    return {
        "purchase_orders": len(purchases), "gross": float(purchases["revenue"].sum()),
        "net": float(orders["revenue"].sum()),
        "net_of_buyers": float(orders[orders["customer_id"].isin(buyers)]["revenue"].sum()),
        "people": len(customers), "with_touchpoints": int((customers["n_touchpoints"] > 0).sum()),
        "buyers": len(buyers),
    }


def test_the_demo_has_something_to_reconcile(facts: dict) -> None:
    assert facts["purchase_orders"] > 300 and facts["gross"] > facts["net"]
    assert facts["people"] > facts["with_touchpoints"] > facts["buyers"] > 0


def test_attribution_closes_on_purchase_orders_and_gross_revenue_for_every_model(shop: Path, facts: dict) -> None:
    with open_project(shop, read_only=True) as p:
        r = run(p.engine, AttributionQuery(models=MODELS), p.settings)
    models = [c for c in r.frame.columns if c not in ("node", "spread")]
    assert len(models) == len(MODELS)
    for measure, total in (("conversions", facts["purchase_orders"]), ("value", facts["gross"])):
        table = r.table(measure)
        rows = table.set_index("node")
        body = table[~table["node"].isin((NOT_ATTRIBUTABLE, TOTAL))]
        for m in models:
            assert rows.loc[TOTAL, m] == pytest.approx(total), (measure, m)
            assert body[m].sum() + rows.loc[NOT_ATTRIBUTABLE, m] == pytest.approx(total), (measure, m)
        assert (rows.loc[NOT_ATTRIBUTABLE, models] > 0).all()  # the demo has purchases with no touch before


def test_attribution_json_and_csv_carry_the_two_rows(shop: Path, facts: dict) -> None:
    res = CliRunner().invoke(app, ["attribution", "--project", str(shop), "--models", "last,shapley",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["node"]: r for r in json.loads(res.stdout)}
    assert rows[TOTAL]["last"] == facts["purchase_orders"]
    body = sum(r["last"] for n, r in rows.items() if n not in (NOT_ATTRIBUTABLE, TOTAL))
    assert body + rows[NOT_ATTRIBUTABLE]["last"] == pytest.approx(facts["purchase_orders"])
    csv = CliRunner().invoke(app, ["attribution", "--project", str(shop), "--models", "last",
                                   "--measure", "value", "--format", "csv"])
    assert csv.exit_code == 0, csv.output
    assert NOT_ATTRIBUTABLE in csv.stdout and TOTAL in csv.stdout


def test_roi_closes_for_every_model(shop: Path, facts: dict) -> None:
    with open_project(shop, read_only=True) as p:
        r = run(p.engine, RoiQuery(models=("last", "linear", "markov")), p.settings)
        costs = float(p.engine.execute(p.engine.table("campaign_costs").cost.sum()))
    f = r.frame
    for m in f["model"].unique():
        part = f[f["model"] == m]
        body = part[~part["channel"].isin((NOT_ATTRIBUTABLE, TOTAL))]
        na = part[part["channel"] == NOT_ATTRIBUTABLE].iloc[0]
        tot = part[part["channel"] == TOTAL].iloc[0]
        assert (tot["conversions"], tot["revenue"]) == pytest.approx((facts["purchase_orders"], facts["gross"]))
        assert tot["cost"] == pytest.approx(costs) and body["cost"].sum() == pytest.approx(costs)
        assert body["revenue"].sum() + na["revenue"] == pytest.approx(facts["gross"]), m
        assert body["conversions"].sum() + na["conversions"] == pytest.approx(facts["purchase_orders"]), m


def test_every_output_names_its_definitions_and_they_hold(shop: Path, facts: dict) -> None:
    from percorso.journeys.omnichannel import OmnichannelQuery
    from percorso.value.cost_to_serve import CostToServeQuery
    from percorso.value.health import HealthQuery
    from percorso.value.rfm import RFMQuery

    with open_project(shop, read_only=True) as p:
        e, s = p.engine, p.settings
        rfm = run(e, RFMQuery(), s)
        omni = run(e, OmnichannelQuery(), s)
        cts = run(e, CostToServeQuery(), s)
        health = run(e, HealthQuery(), s)
    assert rfm.meta["definitions"] == {"revenue": "net_revenue", "customers": "buyers"}
    assert rfm.frame["customers"].sum() == facts["buyers"]
    assert rfm.frame["revenue"].sum() == pytest.approx(facts["net_of_buyers"])
    for res in (omni, cts, health):
        assert res.meta["definitions"] == {"revenue": "gross_revenue", "customers": "with_touchpoints"}
        assert res.frame["customers"].sum() == facts["with_touchpoints"], type(res).__name__
        assert res.frame["revenue"].sum() == pytest.approx(facts["gross"]), type(res).__name__
    table = CliRunner().invoke(app, ["rfm", "--project", str(shop)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "acquirenti" in table.stdout and "net of returns" in table.stdout


def test_no_record_keeping_event_is_a_touchpoint_or_a_first_channel(shop: Path) -> None:
    with open_project(shop, read_only=True) as p:
        e = p.engine
        tp = e.execute(e.table("touchpoints").select("customer_id", "occurred_at", "event_id", "event_type",
                                                     "channel"))
        records = e.execute(e.table("record_updates").select("customer_id", "event_type"))
        customers = e.execute(e.table("customers").select("customer_id", "first_channel", "n_touchpoints"))
    assert len(records) > 0 and set(records["event_type"]) <= set(RECORD_KEEPING_EVENT_TYPES)
    assert not set(tp["event_type"]) & set(RECORD_KEEPING_EVENT_TYPES)
    # the first channel is the channel of the first touchpoint (time, then event id), for everyone
    first = tp.sort_values(["customer_id", "occurred_at", "event_id"]).groupby("customer_id")["channel"].first()
    got = customers.set_index("customer_id")["first_channel"]
    touched = customers[customers["n_touchpoints"] > 0]["customer_id"]
    assert (got.loc[touched] == first.loc[touched]).all()
    assert got[customers.set_index("customer_id")["n_touchpoints"] == 0].isna().all()
    assert "Unassigned" not in set(got.dropna())  # 4,281 demo customers had it from a crm_update


def test_journeys_and_cohorts_never_show_record_keeping(shop: Path) -> None:
    from percorso.journeys.paths import PathsQuery
    from percorso.value.cohorts import CohortQuery

    with open_project(shop, read_only=True) as p:
        paths = run(p.engine, PathsQuery(node="event_type", top=500), p.settings).to_frame()
        cohorts = run(p.engine, CohortQuery(by="channel"), p.settings).to_frame()
    steps = {s for path in paths["path"] for s in str(path).split(" → ")}
    assert steps and not steps & set(RECORD_KEEPING_EVENT_TYPES)
    assert "Unassigned" not in set(cohorts["cohort"].astype(str))
    assert isinstance(cohorts, pd.DataFrame)


def test_persona_journeys_name_no_record_keeping_channel(shop: Path) -> None:
    from percorso.value.personas import PersonasQuery

    with open_project(shop) as p:  # personas store their run: not read-only
        cards = run(p.engine, PersonasQuery(k=4, seed=1), p.settings).to_frame()
        channels = set(p.engine.execute(p.engine.table("touchpoints").select("channel").distinct())["channel"])
    steps = {s for j in cards["typical_journey"] for s in str(j).split(" > ")}
    assert steps and steps <= channels  # every step is a touchpoint channel
    assert "Unassigned" not in steps  # the CRM row's 'channel' listed in typical journeys before
