"""A drill-down on a misspelt value raises InputError with "did you mean", from Python as from
the CLI; a value the data has, with nobody behind the cell, is a true zero (empty frame)."""

from __future__ import annotations

import pytest
from journey_cli import journey_project
from typer.testing import CliRunner

from percorso.analysis.base import run
from percorso.attribution import AttributionQuery, RoiQuery
from percorso.cli import app
from percorso.errors import InputError
from percorso.journeys.friction import FrictionQuery
from percorso.journeys.funnel import FunnelQuery
from percorso.journeys.journey_map import JourneyMapQuery
from percorso.journeys.omnichannel import OmnichannelQuery
from percorso.journeys.paths import PathsQuery
from percorso.journeys.sankey import SankeyQuery
from percorso.journeys.transitions import TransitionsQuery
from percorso.testing import journeys_for
from percorso.testing import cli_error
from percorso.value.cohorts import CohortQuery
from percorso.value.cost_to_serve import CostToServeQuery

PEOPLE = {
    "anna": [("page_view", "2024-03-01 10:00", {"channel": "Email", "stage": "consideration"}),
             ("purchase", "2024-03-01 10:20", {"channel": "Email", "revenue": 30.0, "stage": "purchase"})],
    "bruno": [("page_view", "2024-03-02 10:00", {"channel": "Paid Search", "stage": "consideration"}),
              ("receipt", "2024-03-05 17:00", {"channel": "Store / POS", "revenue": 50.0, "store_id": "MI01",
                                               "stage": "purchase"})],
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return journeys_for(tmp_path_factory.mktemp("drill"), PEOPLE)


def _typo(result, close: str, **selector) -> None:
    with pytest.raises(InputError, match=f"did you mean '{close}'") as err:
        result.customers(**selector)
    assert err.value.code == "selector_invalid"


def test_journey_drill_downs(engine):
    tr = run(engine, TransitionsQuery(node="channel"))
    _typo(tr, "Email", from_node="Emial")
    assert tr.customers(from_node="Store / POS").empty  # a real node with no transition out: a true zero
    assert list(tr.customers(from_node="Email")["customer_id"]) == ["anna"]
    paths = run(engine, PathsQuery())
    _typo(paths, "purchase", path="page_view → purchse")
    assert paths.customers(path="other").empty  # no variant left out: nobody, and no error
    _typo(run(engine, SankeyQuery(node="channel")), "Paid Search", step=1, node="Paid Serch")
    _typo(run(engine, FrictionQuery(min_journeys=1)), "page_view", node="page_veiw")
    funnel = run(engine, FunnelQuery(steps=("page_view", "purchase"), breakdown="channel"))
    _typo(funnel, "Paid Search", step=1, breakdown="Paid Serch")


def test_other_analyses(engine):
    _typo(run(engine, JourneyMapQuery(min_customers=1)), "purchase", stage="purchse")
    _typo(run(engine, OmnichannelQuery()), "MI01", store="MI1")
    _typo(run(engine, AttributionQuery(models=("last",))), "Email", node="Emial")
    _typo(run(engine, RoiQuery(models=("last",))), "Email | (none)", channel="Emial")
    _typo(run(engine, CohortQuery()), "2024-03", cohort="2024-3")
    _typo(run(engine, CostToServeQuery()), "Lost", segment="Lots")


def test_cli_says_it_too(tmp_path):
    root = journey_project(tmp_path / "p", PEOPLE)
    res = CliRunner().invoke(app, ["paths", "transitions", "--node", "channel", "--customers", "from_node=Emial",
                                   "--project", str(root)])
    code, message, _ = cli_error(res)
    assert code == "selector_invalid" and "did you mean 'Email'" in message
