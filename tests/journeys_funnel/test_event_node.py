"""The default node ``event``: a generic clickstream's own event names work as steps, with no
``--node``; source names of typed events are read as such; ambiguous names are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from journey_cli import cli, journey_project
from typer.testing import CliRunner

from percorso.analysis.base import run
from percorso.cli import app
from percorso.errors import InputError, NotFound
from percorso.journeys.controls import resolve_steps
from percorso.journeys.funnel import FunnelQuery
from percorso.project import init_project
from percorso.testing import journeys_for
from percorso.testing import cli_error

# A shop's own clickstream: catalog and cart are not canonical names (type custom), purchase is.
CLICKS = ("user_id,event_name,timestamp,session_id\n"
          "u1,catalog,2025-01-01 10:00:00,s1\nu1,cart,2025-01-01 10:02:00,s1\nu1,purchase,2025-01-01 10:05:00,s1\n"
          "u2,catalog,2025-01-02 11:00:00,s2\nu2,cart,2025-01-02 11:01:00,s2\n"
          "u3,catalog,2025-01-03 09:00:00,s3\n")


@pytest.fixture(scope="module")
def clickstream(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("click")
    init_project(root / "p", name="t")
    (root / "clicks.csv").write_text(CLICKS, encoding="utf-8")
    p = str(root / "p")
    cli("ingest", "clickstream", str(root / "clicks.csv"), "--project", p)
    cli("build", "--project", p)
    return p


def test_funnel_on_own_event_names_without_node(clickstream):
    rows = json.loads(cli("funnel", "catalog", "cart", "purchase", "--project", clickstream, "--format", "json"))
    assert [r["reached"] for r in rows] == [3, 2, 1]  # u1, u2, u3 see the catalog; u1, u2 the cart; u1 buys


def test_paths_and_anchors_name_the_events(clickstream):
    top = json.loads(cli("paths", "top", "--project", clickstream, "--format", "json"))
    assert {r["path"]: r["journeys"] for r in top if r["journeys"]} == {
        "catalog": 1, "catalog → cart": 1, "catalog → cart → purchase": 1}
    cut = json.loads(cli("paths", "top", "--start", "cart", "--end", "purchase", "--project", clickstream,
                         "--format", "json"))
    assert [(r["path"], r["journeys"]) for r in cut if r["journeys"]] == [("cart → purchase", 1)]
    typed = json.loads(cli("paths", "top", "--node", "event_type", "--project", clickstream, "--format", "json"))
    assert "custom → custom → purchase" in {r["path"] for r in typed}  # the old reading stays one option away


def test_friction_lists_own_event_names(clickstream):
    rows = json.loads(cli("friction", "--min-journeys", "1", "--project", clickstream, "--format", "json"))
    assert {"catalog", "cart"} <= {r["item"] for r in rows if r.get("kind") == "node"}


def test_a_read_only_engine_reads_each_step_name_once(clickstream, monkeypatch):
    """A funnel's command reads its step names when it resolves them and again when it checks
    them; on a read-only engine (a command's) each name is looked up in the data once, on a
    writable one at every call. The answers are the same."""
    from percorso.engine.backend import Engine
    from percorso.journeys.controls import _named_types, require_labels
    from percorso.project import open_project

    queries = []
    rows = Engine.rows
    monkeypatch.setattr(Engine, "rows", lambda self, expr: queries.append(self.read_only) or rows(self, expr))
    q = FunnelQuery(steps=("catalog", "cart", "purchase"))
    for read_only in (True, False):
        with open_project(clickstream, read_only=read_only) as p:
            assert resolve_steps(p.engine, q, q.steps) == (q, None)
            require_labels(p.engine, q, q.steps, what="steps")
            assert _named_types(p.engine, ["cart", "checkout_x"]) == {"cart": {"custom"}}
            assert _named_types(p.engine, ["catalog", "cart"]) == {"catalog": {"custom"}, "cart": {"custom"}}
    # read-only: the three steps, then the one new name; writable: each of the four calls
    assert queries.count(True) == 2 and queries.count(False) == 4


def test_a_misspelt_name_is_an_error_with_the_close_one(clickstream):
    res = CliRunner().invoke(app, ["funnel", "catalgo", "cart", "--project", clickstream])
    code, message, _ = cli_error(res)
    assert code == NotFound.code and "did you mean 'catalog'" in message


GA4 = {  # web events kept under their GA4 names: view_item is stored as type product_view
    "anna": [("product_view", "2024-03-01 10:00", {"event_name": "view_item"}),
             ("add_to_cart", "2024-03-01 10:05", {"event_name": "add_to_cart"}),
             ("purchase", "2024-03-01 10:09", {"event_name": "purchase", "revenue": 30.0})],
    "bruno": [("product_view", "2024-03-02 10:00", {"event_name": "view_item"})],
}


def test_source_names_of_typed_events(tmp_path):
    root = journey_project(tmp_path / "p", GA4)
    res = CliRunner().invoke(app, ["funnel", "view_item", "add_to_cart", "--project", str(root), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert [r["reached"] for r in json.loads(res.stdout)] == [2, 1]
    assert "--node event_name" in res.stderr
    # the event type works as before, with no note
    res = CliRunner().invoke(app, ["funnel", "product_view", "add_to_cart", "--project", str(root), "--format", "json"])
    assert [r["reached"] for r in json.loads(res.stdout)] == [2, 1] and "event_name" not in res.stderr
    # a source name next to a step that is no source name: say what to write
    res = CliRunner().invoke(app, ["funnel", "product_view", "view_item", "--project", str(root)])
    code, message, _ = cli_error(res)
    assert code == InputError.code and "'view_item' is the source name of product_view" in message


def test_source_names_from_python(tmp_path):
    res = run(journeys_for(tmp_path, GA4), FunnelQuery(steps=("view_item", "add_to_cart")))
    assert res.query.node == "event_name" and list(res.frame["reached"]) == [2, 1]
    assert "--node event_name" in res.meta["notes"][0]


def test_ambiguous_name(tmp_path):
    eng = journeys_for(tmp_path, {
        "anna": [("custom", "2024-03-01 10:00", {"event_name": "cart"})],
        "bruno": [("add_to_cart", "2024-03-01 10:00", {"event_name": "cart"})],
    })
    with pytest.raises(InputError, match="ambiguous.*add_to_cart"):
        resolve_steps(eng, FunnelQuery(steps=("cart", "purchase")), ["cart", "purchase"])


def test_python_api_default_node(tmp_path):
    eng = journeys_for(tmp_path, {
        "anna": [("custom", "2024-03-01 10:00", {"event_name": "catalog"}),
                 ("custom", "2024-03-01 10:01", {"event_name": "cart"})],
        "bruno": [("custom", "2024-03-01 11:00", {"event_name": "catalog"})],
    })
    q = FunnelQuery(steps=("catalog", "cart"))
    assert q.node == "event" and list(run(eng, q).frame["reached"]) == [2, 1]
    assert resolve_steps(eng, q, q.steps) == (q, None)  # nothing to resolve: generic names are labels already
    typed = run(eng, q.model_copy(update={"node": "event_type"})).frame  # labels "custom": nobody enters
    assert typed.empty or not typed["reached"].any()


def test_help_names_the_default(tmp_path: Path):
    res = CliRunner().invoke(app, ["funnel", "--help"], env={"COLUMNS": "200"})
    assert "event (default" in res.stdout
