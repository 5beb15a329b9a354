"""GA4's Direct convention (ADR 0007): hand-computed journeys, the path-file rewrite, settings,
CLI, and every model against pure-Python oracles on random journeys."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from attr_helpers import table, write_streams
from attribution_oracle import (markov_removal_dense, oracle_paths, rule_credits, shapley_permutations,
                                shapley_rate_permutations)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journey_cli import cli, journey_project
from typer.testing import CliRunner

from percorso.analysis.base import run
from percorso.attribution import AttributionQuery, RoiQuery, attribution_settings
from percorso.attribution.direct import drop_direct_paths, is_direct_node
from percorso.cli import app
from percorso.engine import Engine
from percorso.errors import ConfigError, InputError
from percorso.testing import journeys_for
from percorso.testing import cli_error

T0 = datetime(2024, 3, 1, 9, 0)
MODELS = ("first", "last", "last_non_direct", "linear", "position", "markov", "shapley", "shapley_rate")


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


# ada: Direct > Email > Direct, then buys; bea: only Direct visits, then buys; cleo: Direct >
# Paid Search, no purchase (a journey without conversion loses its Direct visit too)
HAND = {
    "ada": [("page_view", at(0), {"channel": "Direct"}), ("email_click", at(1), {"channel": "Email"}),
            ("page_view", at(2), {"channel": "Direct"}), ("purchase", at(2.01), {"revenue": 10.0})],
    "bea": [("page_view", at(0), {"channel": "Direct"}), ("page_view", at(3), {"channel": "Direct"}),
            ("purchase", at(3.01), {"revenue": 20.0})],
    "cleo": [("page_view", at(0), {"channel": "Direct"}), ("page_view", at(1), {"channel": "Paid Search"})],
}


@pytest.fixture
def hand(tmp_path):
    e = journeys_for(tmp_path, HAND)
    yield e
    e.close()


def credits(engine, model: str, **query) -> dict[str, float]:
    r = run(engine, AttributionQuery(models=(model,), **query))
    col = "markov_1" if model == "markov" else model
    return dict(zip(r.nodes()["node"], r.nodes()[col], strict=True))


def test_hand_journeys_under_both_conventions(hand):
    # GA4 (default): ada's path is Email (last credits Email); bea's is Direct > Direct
    assert credits(hand, "last") == {"Email": 1.0, "Direct": 1.0, "Paid Search": 0.0}
    assert credits(hand, "linear") == {"Email": 1.0, "Direct": 1.0, "Paid Search": 0.0}
    assert credits(hand, "first") == {"Email": 1.0, "Direct": 1.0, "Paid Search": 0.0}
    # credit: every touchpoint counts; ada's last and first are Direct, linear gives Email 1/3
    assert credits(hand, "last", direct="credit") == {"Direct": 2.0, "Email": 0.0, "Paid Search": 0.0}
    assert credits(hand, "linear", direct="credit") == pytest.approx(
        {"Direct": 2 / 3 + 1, "Email": 1 / 3, "Paid Search": 0.0})
    # last non-direct reads GA4's last click under either convention, and equals last under GA4
    assert credits(hand, "last_non_direct", direct="credit") == credits(hand, "last_non_direct") \
        == credits(hand, "last")
    r = run(hand, AttributionQuery(models=("last", "last_non_direct")))
    assert r.meta["direct"] == "ignore_unless_alone" and any("è uguale a last" in n for n in r.meta["notes"])
    # value follows the same paths: ada's 10 € to Email, bea's 20 € to Direct
    v = run(hand, AttributionQuery(models=("last",))).long.set_index("node")["value"].to_dict()
    assert v == {"Email": 10.0, "Direct": 20.0, "Paid Search": 0.0}


def test_levels_built_on_direct_are_direct(hand):
    # ROI's node is 'channel | campaign': the touchpoint's channel decides, whatever the level
    r = run(hand, AttributionQuery(models=("last",), level="channel_campaign"))
    assert dict(zip(r.nodes()["node"], r.nodes()["last"], strict=True)) == {
        "Email | (none)": 1.0, "Direct | (none)": 1.0, "Paid Search | (none)": 0.0}
    roi = run(hand, RoiQuery(models=("last",), direct="credit"))
    assert roi.frame.set_index("channel").loc["Direct", "conversions"] == 2.0
    nodes = ("Direct", "Direct | x", "Direct (online)", "Direct / (none)", "Directory", "Email")
    assert is_direct_node(nodes, ["Direct"]).tolist() == [True, True, True, True, False, False]


def test_path_file_gets_the_same_rewrite(tmp_path):
    p = table([(["Direct", "Email", "Direct"], 2, 1), (["Direct", "Direct"], 1, 0), (["Email"], 0, 3)])
    g = drop_direct_paths(p, ["Direct"])
    assert g.path_strings() == ["Email", "Direct > Direct", "Email"]
    assert g.totals() == p.totals()
    only_email = drop_direct_paths(table([(["Direct", "Email"], 1, 0)]), ["Direct"])
    assert only_email.nodes == ("Email",)  # a node no path uses any more is gone
    f = tmp_path / "paths.csv"
    f.write_text("path,total_conversions,total_conversion_value,total_null\n"
                 "Direct > Email > Direct,2,20,1\nDirect > Direct,1,5,0\n", encoding="utf-8")
    ga4 = run(Engine(":memory:"), AttributionQuery(models=("last",), paths_file=str(f)))
    assert dict(zip(ga4.nodes()["node"], ga4.nodes()["last"], strict=True)) == {"Email": 2.0, "Direct": 1.0}
    every = run(Engine(":memory:"), AttributionQuery(models=("last",), paths_file=str(f), direct="credit"))
    assert dict(zip(every.nodes()["node"], every.nodes()["last"], strict=True)) == {"Direct": 3.0, "Email": 0.0}


def test_bad_values_name_the_valid_ones():
    assert attribution_settings({}).direct == "ignore_unless_alone"
    assert attribution_settings({"direct": "ignore"}).direct == "ignore_unless_alone"
    with pytest.raises(ConfigError, match="did you mean 'ignore_unless_alone'") as exc:
        attribution_settings({"direct": "ignore_unles_alone"})
    assert "attribution.direct" in str(exc.value)
    with pytest.raises(InputError, match="did you mean 'credit'"):
        run(Engine(":memory:"), AttributionQuery(direct="credt"))


def test_cli_flag(tmp_path):
    root = journey_project(tmp_path / "p", HAND)
    ga4 = cli("attribution", "--project", str(root), "--models", "last", "--format", "csv")
    every = cli("attribution", "--project", str(root), "--models", "last", "--direct", "credit", "--format", "csv")
    assert "Email,1.0" in ga4.replace(" ", "") and "Direct,2.0" in every.replace(" ", "")
    roi = cli("roi", "--project", str(root), "--models", "last", "--direct", "credit", "--format", "csv")
    assert "Direct" in roi
    bad = CliRunner().invoke(app, ["attribution", "--project", str(root), "--direct", "ignor"])
    assert "did you mean 'ignore'" in cli_error(bad)[1]


# -- oracle: pure-Python journeys + GA4 filter + pure-Python models vs the engine -------------

CHANNELS = ("Direct", "Email", "Paid Search", "Store / POS")
event = st.tuples(st.sampled_from(("page_view", "page_view", "email_click", "purchase")),
                  st.sampled_from(CHANNELS), st.sampled_from((1, 40, 2 * 24 * 60, 35 * 24 * 60)))
people = st.dictionaries(st.sampled_from(["p0", "p1", "p2", "p3", "p4"]),
                         st.lists(event, min_size=1, max_size=7), min_size=1, max_size=5)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = Engine(tmp_path_factory.mktemp("direct") / "d.duckdb")
    yield e
    e.close()


def expected_credits(counts: dict, model: str) -> dict[str, float]:
    """The pure-Python model on the oracle's path counts {(path, 'conv'|'null'): n}."""
    rows: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (path, kind), n in counts.items():
        rows[path][0 if kind == "conv" else 1] += n
    triples = [(list(p), c, n) for p, (c, n) in rows.items()]
    convs = [(p, c) for p, c, _ in triples]
    if model == "markov":
        if not any(c for _, c in convs):
            return {}
        re, _ = markov_removal_dense(triples, 1)
        re = {k: max(v, 0.0) for k, v in re.items()}
        total, s = sum(c for _, c in convs), sum(re.values())
        return {k: v / s * total if s > 0 else 0.0 for k, v in re.items()}
    if model == "shapley":
        return shapley_permutations(convs)
    if model == "shapley_rate":
        return shapley_rate_permutations(triples)
    return rule_credits(convs, model)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people, st.sampled_from(["ignore_unless_alone", "credit"]))
def test_every_model_equals_the_oracle(engine, spec, direct):
    rows = write_streams(engine, spec, T0)
    cfg = attribution_settings({"direct": direct})
    counts, _ = oracle_paths(rows, cfg, cfg.conversion("purchase"))
    r = run(engine, AttributionQuery(models=MODELS), {"direct": direct})
    for model in MODELS:
        col = "markov_1" if model == "markov" else model
        got = dict(zip(r.nodes()["node"], r.nodes()[col], strict=True)) if len(r.nodes()) else {}
        want = expected_credits(counts, model)
        assert got == pytest.approx({n: want.get(n, 0.0) for n in got}, abs=1e-9), model
        assert set(want) <= set(got) or not any(want.values()), model



def test_roi_table_follows_the_project_locale(tmp_path):
    """`percorso roi` printed 1.234,50 € and 2,0 in an English project (`[project] locale = "en"`),
    where every other table reads 1,234.50."""
    root = journey_project(tmp_path / "p", HAND)
    it = cli("roi", "--project", str(root), "--models", "last")
    toml = root / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('locale = "it"', 'locale = "en"'), encoding="utf-8")
    en = cli("roi", "--project", str(root), "--models", "last")
    # Direct is credited the 20 euros of its last-touch conversion (test_cli_flag's project)
    assert "20,00 €" in it and "€20.00" not in it
    assert "€20.00" in en and "20,00" not in en
