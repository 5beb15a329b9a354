"""Journeys built in the engine, runner, drill-down, ROI, settings and the paths file."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from percorso.analysis.base import run
from percorso.attribution import AttributionQuery, RoiQuery, attribution_settings, format_eur
from percorso.attribution.analysis import TOTAL
from percorso.attribution.paths import read_paths_file, write_paths_file
from percorso.attribution.settings import check_level
from percorso.errors import ConfigError, InputError, NotFound
from percorso.testing import journeys_for

JOURNEYS = {
    # Paid Search 40 days before: outside the 30-day lookback; Email and Display count
    "anna": [("page_view", "2024-01-01 10:00", {"channel": "Paid Search", "campaign": "winter"}),
             ("email_click", "2024-02-05 10:00", {"channel": "Email", "campaign": "promo"}),
             ("page_view", "2024-02-08 09:00", {"channel": "Display", "campaign": "promo"}),
             ("page_view", "2024-02-08 09:02", {"channel": "Display", "campaign": "promo"}),  # same session
             ("receipt", "2024-02-10 17:00", {"channel": "Store / POS", "revenue": 100.0}),
             # second journey after the purchase, no conversion
             ("page_view", "2024-02-20 10:00", {"channel": "Email", "campaign": "promo"})],
    "bruno": [("page_view", "2024-02-02 09:00", {"channel": "Display", "campaign": "promo"})],
    "carla": [("fair_visit", "2024-02-01 09:00", {"channel": "Events & fairs"}),
              ("purchase", "2024-02-03 09:10", {"channel": "Paid Search", "revenue": 50.0})],
}


@pytest.fixture
def engine(tmp_path):
    e = journeys_for(tmp_path, JOURNEYS)
    yield e
    e.close()


def test_paths_from_engine_follow_the_rules(engine):
    r = run(engine, AttributionQuery(models=("first", "last", "linear")))
    first = dict(zip(r.nodes()["node"], r.nodes()["first"], strict=True))
    last = dict(zip(r.nodes()["node"], r.nodes()["last"], strict=True))
    # anna: Email > Display (2nd Display same session); carla: fair > Paid Search (her web
    # purchase opens its session: that session's touch, ADR 0058). anna's Paid Search is 40
    # days before her receipt: not credited to it, so a journey without conversion
    assert first == {"Email": 1.0, "Events & fairs": 1.0, "Display": 0.0, "Paid Search": 0.0}
    assert last == {"Display": 1.0, "Paid Search": 1.0, "Email": 0.0, "Events & fairs": 0.0}
    assert r.meta["totals"] == {"conversions": 2.0, "value": 150.0, "new_customers": 2.0, "nulls": 3.0}
    assert r.meta["n_paths"] == 5  # Email>Display, Events & fairs>Paid Search; nulls Paid Search, Email, Display
    assert r.meta["conversions_without_touchpoints"] == 0.0


def test_lookback_and_conversion_definitions(engine):
    r = run(engine, AttributionQuery(models=("first",), lookback_days=60))
    assert dict(zip(r.nodes()["node"], r.nodes()["first"], strict=True))["Paid Search"] == 1.0
    store = run(engine, AttributionQuery(models=("linear",), conversion="purchase_store"))
    assert store.meta["totals"]["conversions"] == 1.0 and store.meta["totals"]["value"] == 100.0
    # carla's online purchase is not a store conversion: her fair visit is a null journey
    # (with anna's old Paid Search, anna's Email after the receipt, and bruno's Display)
    assert store.meta["totals"]["nulls"] == 4.0


def test_engine_time_decay_hand(engine):
    r = run(engine, AttributionQuery(models=("time_decay",), half_life_days=7))
    td = dict(zip(r.nodes()["node"], r.nodes()["time_decay"], strict=True))
    # anna: Email 5d07h before, Display 2d08h before → weights 2^(-5.2917/7), 2^(-2.3333/7)
    we, wd = 2 ** (-(5 + 7 / 24) / 7), 2 ** (-(2 + 8 / 24) / 7)
    assert td["Email"] == pytest.approx(we / (we + wd))
    assert td["Display"] == pytest.approx(wd / (we + wd))
    # carla: the fair 2d00h10m before her purchase, the purchase's own session (Paid Search) at 0
    wf = 2 ** (-(2 + 10 / 1440) / 7)
    assert td["Events & fairs"] == pytest.approx(wf / (wf + 1))
    assert td["Paid Search"] == pytest.approx(1 / (wf + 1))


def test_drilldown_and_levels(engine):
    r = run(engine, AttributionQuery(models=("last",)))
    assert r.customers(node="Display")["customer_id"].tolist() == ["anna"]
    camp = run(engine, AttributionQuery(models=("last",), level="campaign"))
    assert dict(zip(camp.nodes()["node"], camp.nodes()["last"], strict=True)) == {
        "promo": 1.0, "(none)": 1.0, "winter": 0.0}  # winter: anna's old Paid Search, a null journey
    ob = run(engine, AttributionQuery(models=("first",), online_breakdown=True))
    assert "Events & fairs (offline)" in set(ob.nodes()["node"])
    with pytest.raises(InputError):
        r.customers(step=3)


def test_date_filter(engine):
    r = run(engine, AttributionQuery(models=("first",), date_from=date(2024, 2, 5)))
    assert r.meta["totals"]["conversions"] == 1.0  # only anna's receipt on 10 Feb


def test_bootstrap_ci_brackets_estimate(engine):
    r = run(engine, AttributionQuery(models=("linear", "markov"), ci_samples=30, seed=1))
    long = r.long
    assert {"ci_low", "ci_high"} <= set(long.columns)
    assert (long["ci_low"] <= long["ci_high"] + 1e-12).all()


def test_roi(engine):
    costs = pa.table({
        "cost_id": ["1", "2", "3"], "date": pa.array([date(2024, 2, 1), date(2024, 2, 2), date(2024, 2, 1)]),
        "channel": ["Display", "Display", "Email"], "campaign": ["promo", "promo", "promo"],
        "cost": [30.0, 20.0, 1234.5],
    })
    engine.append_arrow("campaign_costs", costs)
    r = run(engine, RoiQuery(models=("last",), campaign="promo"))
    row = r.frame[(r.frame["channel"] == "Display")].iloc[0]
    assert row["cost"] == 50.0 and row["revenue"] == 100.0 and row["conversions"] == 1.0
    assert row["roi"] == pytest.approx(1.0) and row["roas"] == pytest.approx(2.0)
    assert row["cpa"] == pytest.approx(50.0) and row["cac"] == pytest.approx(50.0)
    email = r.frame[(r.frame["channel"] == "Email")].iloc[0]
    assert email["conversions"] == 0.0 and email["roi"] == pytest.approx(-1.0)
    assert r.formatted().loc[email.name, "cost"] == "1.234,50 €"
    # an English project reads 1,234.50 everywhere else: roi printed 1.234,50 € there too
    en = r.formatted("en").loc[email.name]
    assert (en["cost"], en["roi"], en["conversions"]) == ("€1,234.50", "-100.0%", "0.00")  # English: no space before %
    assert r.customers(channel="Display", campaign="promo")["customer_id"].tolist() == ["anna"]
    with pytest.raises(NotFound, match="did you mean 'promo'"):
        run(engine, RoiQuery(models=("last",), campaign="prmo"))


def test_format_eur():
    assert format_eur(1234.5) == "1.234,50 €"
    assert format_eur(-0.5) == "-0,50 €"
    assert format_eur(1234567.891) == "1.234.567,89 €"
    assert format_eur(float("nan")) == "—"
    assert format_eur(1234567.891, locale="en") == "€1,234,567.89"
    assert format_eur(-0.5, locale="en") == "-€0.50"
    assert format_eur(float("nan"), locale="en") == "—"


def test_settings_validation():
    s = attribution_settings({"lookback_days": 14, "conversions": {"lead": {"event_types": ["fair_visit"]}}})
    assert s.lookback_days == 14 and s.conversions["lead"].event_types == ["fair_visit"]
    assert "purchase_online" in s.conversions  # defaults kept
    with pytest.raises(ConfigError, match="did you mean 'purchase'"):
        attribution_settings({"conversions": {"x": {"event_types": ["purchse"]}}})
    with pytest.raises(ConfigError, match="unknown key 'attribution.lookback'"):
        attribution_settings({"lookback": 3})
    with pytest.raises(ConfigError, match="exceeds 1"):
        attribution_settings({"position_first": 0.7, "position_last": 0.5})
    with pytest.raises(ConfigError, match="unknown attribution level"):
        attribution_settings({"level": "chanel"})
    with pytest.raises(ConfigError, match="unknown conversion"):
        attribution_settings({}).conversion("purchace")
    with pytest.raises(InputError, match="unknown attribution model"):
        run(journeys_for_empty(), AttributionQuery(models=("markv",)))


def journeys_for_empty():
    from percorso.engine import Engine

    return Engine(":memory:")


@pytest.mark.parametrize("delimiter", [";", ","])
def test_paths_file_round_trip(engine, tmp_path, delimiter):
    r = run(engine, AttributionQuery(models=("linear", "markov", "shapley")))
    from percorso.attribution import aggregates as A
    from percorso.attribution.analysis import AttributionRunner

    runner = AttributionRunner(engine, AttributionQuery())
    paths = A.load_path_table(engine, A.journeys_expr(runner.touches()))
    f = tmp_path / "paths.csv"
    write_paths_file(paths, f, delimiter=delimiter)
    back = read_paths_file(f)
    assert sorted(back.path_strings()) == sorted(paths.path_strings())
    assert back.totals() == paths.totals()
    again = run(engine, AttributionQuery(models=("linear", "markov", "shapley"), paths_file=str(f)))
    a = r.nodes().set_index("node").sort_index()
    b = again.nodes().set_index("node").sort_index()
    for col in ("linear", "markov_1", "shapley"):
        assert b[col].to_numpy() == pytest.approx(a[col].to_numpy())


def test_channelattribution_file(tmp_path):
    f = tmp_path / "ca.csv"
    f.write_text("path,total_conversions,total_conversion_value,total_null\n"
                 "a > b,1,10.5,0\nb,1,5,1\na > c > b,0,0,1\nc,0,0,1\n", encoding="utf-8")
    p = read_paths_file(f)
    assert p.nodes == ("a", "b", "c") and p.value.sum() == 15.5
    bad = tmp_path / "bad.csv"
    bad.write_text("percorso;conv\nx;1\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'path' column"):
        read_paths_file(bad)


def test_cli_chart(tmp_path):
    from typer.testing import CliRunner

    from percorso.cli import app

    f = tmp_path / "ca.csv"
    f.write_text("path;total_conversions;total_conversion_value;total_null\na > b;1;10,5;0\nb;1;5;1\n",
                 encoding="utf-8")
    out = tmp_path / "chart.html"
    res = CliRunner().invoke(app, ["attribution", "--paths", str(f), "--models", "first,last,markov",
                                   "--order", "2", "--out", str(out), "--project", str(tmp_path)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert "markov_2" in html and "plotly" in html.lower()


PROPERTY_JOURNEYS = {
    # dina: two web visits (a landing, then a product page), then a receipt
    "dina": [("page_view", "2024-03-01 10:00", {"channel": "Display", "stage": "awareness",
                                                 "properties": {"page_type": "home", "ab": 2}}),
             ("page_view", "2024-03-03 10:00", {"channel": "Email", "stage": "consideration",
                                                 "properties": {"page_type": "pdp", "ab": 1}}),
             ("receipt", "2024-03-05 17:00", {"channel": "Store / POS", "revenue": 80.0})],
    # ezio: one visit whose properties lack the key, then an online purchase
    "ezio": [("page_view", "2024-03-02 09:00", {"channel": "Email", "stage": "consideration",
                                                 "properties": {"other": "x"}}),
             ("purchase", "2024-03-02 09:20", {"channel": "Email", "revenue": 20.0})],
}


def test_levels_from_stage_properties_and_combinations(tmp_path):
    """Any touchpoint property is a level: a column, a JSON key, or several joined by '+'."""
    e = journeys_for(tmp_path, PROPERTY_JOURNEYS)
    try:
        def credits(level, model="first"):
            r = run(e, AttributionQuery(models=(model,), level=level))
            nodes = r.nodes()
            return {k: v for k, v in zip(nodes["node"], nodes[model], strict=True) if v}
        # first touches: dina's landing, ezio's visit (the purchase is the conversion, not a touch)
        assert credits("stage") == {"awareness": 1.0, "consideration": 1.0}
        assert credits("channel+stage") == {"Display | awareness": 1.0, "Email | consideration": 1.0}
        assert credits("property.page_type") == {"home": 1.0, "(none)": 1.0}
        # a number in the JSON is its text; last touch of dina is the pdp visit
        assert credits("property.ab", "last") == {"1": 1.0, "(none)": 1.0}
        assert credits("online") == {"online": 2.0}
        # drill-down reaches the customers behind a combined node
        r = run(e, AttributionQuery(models=("last",), level="channel+stage"))
        assert r.customers(node="Email | consideration")["customer_id"].tolist() == sorted(["dina", "ezio"])
        for bad, why in (("channel+stagee", "did you mean 'stage'"), ("property.a-b", "property key"),
                         ("property.x') OR 1=1 --", "property key"), ("stage+stage", "repeats")):
            with pytest.raises(InputError, match=why):  # a query's level is the user's input
                run(e, AttributionQuery(models=("first",), level=bad))
            with pytest.raises(ConfigError, match=why):  # the same in percorso.toml
                attribution_settings({"level": bad})
    finally:
        e.close()


def test_models_all_and_roi_with_many_campaigns(tmp_path):
    """``all`` is the issue's models (shapley_rate by name only), so ``roi`` with its default
    models works at the campaign level however many campaigns there are (the demo has 130+)."""
    from percorso.attribution.models import MODELS, parse_models

    assert "shapley_rate" not in parse_models("all") and "shapley" in parse_models("all")
    assert parse_models("all,shapley_rate") == [m for m in MODELS if m != "shapley_rate"] + ["shapley_rate"]
    assert parse_models("last,all")[0] == "last" and len(parse_models("last,all")) == len(parse_models("all"))
    # each purchase follows its campaign's page view in the same session (a day later it would
    # open a session of its own, with no campaign: that session's touch, ADR 0058)
    journeys = {f"c{i:02d}": [("page_view", "2024-03-01 10:00", {"channel": "Display", "campaign": f"k{i:02d}"}),
                              ("purchase", "2024-03-01 10:10", {"channel": "Display", "revenue": 10.0 + i})]
                for i in range(70)}
    e = journeys_for(tmp_path, journeys)
    try:
        e.append_arrow("campaign_costs", pa.table({
            "cost_id": ["1"], "date": pa.array([date(2024, 3, 1)]), "channel": ["Display"], "campaign": ["k07"],
            "cost": [4.0]}))
        r = run(e, RoiQuery(campaign="k07"))  # default models: all
        row = r.frame[r.frame["model"] == "last"].iloc[0] if "model" in r.frame else r.frame.iloc[0]
        assert row["revenue"] == 17.0 and row["cost"] == 4.0 and row["roi"] == pytest.approx(13 / 4)
        with pytest.raises(InputError, match="at most 62 nodes"):  # asked by name: a clear refusal
            run(e, AttributionQuery(models=("shapley_rate",), level="campaign"))
    finally:
        e.close()


def test_named_level_inside_a_combination():
    """A named level is a valid part of a combination: the error for 'channel+source_medium'
    said "unknown attribution level 'source_medium' … did you mean 'source_medium'?"."""
    assert check_level("channel+source_medium") == ("channel", "utm_source", "utm_medium")
    assert check_level("stage + channel_campaign") == ("stage", "channel", "campaign")
    with pytest.raises(ConfigError, match="repeats"):  # channel_campaign already holds channel
        check_level("channel_campaign+channel")


def test_roi_without_spend_has_no_cost_ratios(engine):
    """No cost loaded: CPA and CAC were 0,00 € (free conversions) where ROI and ROAS said "—"."""
    r = run(engine, RoiQuery(models=("last",)))
    f = r.frame
    assert (f["cost"] == 0).all() and (f["conversions"] > 0).any()
    assert f[["roi", "roas", "cpa", "cac"]].isna().all().all()
    assert set(r.formatted()["cpa"]) == {"—"}


def test_roi_channel_typo_is_an_error_not_an_empty_table(engine):
    with pytest.raises(NotFound, match="did you mean 'Display'") as err:
        run(engine, RoiQuery(models=("last",), channel="display"))
    assert err.value.code == "channel_unknown"
    assert run(engine, RoiQuery(models=("last",), channel="Display")).frame["channel"].eq("Display").all()


def test_roi_on_dates_without_conversions(engine):
    """`roi --from` after the last conversion was an internal error (empty float keys merged with text)."""
    costs = pa.table({"cost_id": ["1"], "date": pa.array([date(2024, 6, 1)]), "channel": ["Display"],
                      "campaign": ["promo"], "cost": [30.0]})
    engine.append_arrow("campaign_costs", costs)
    r = run(engine, RoiQuery(models=("last",), date_from=date(2024, 6, 1)))
    rows = r.frame.set_index("channel")
    assert rows.loc["Display", "cost"] == 30.0 and rows.loc["Display", "conversions"] == 0.0
    assert rows.loc[TOTAL, "conversions"] == 0.0 and rows.loc[TOTAL, "cost"] == 30.0
    assert run(engine, RoiQuery(models=("last",), date_from=date(2025, 1, 1))).frame["conversions"].sum() == 0.0


def test_bootstrap_on_dates_without_journeys(engine):
    """`attribution --ci --from` past the data was an internal error (a division by zero customers)."""
    r = run(engine, AttributionQuery(models=("linear",), ci_samples=5, seed=1, date_from=date(2025, 1, 1)))
    assert r.nodes().empty and {"ci_low", "ci_high"} <= set(r.long.columns)
    assert r.frame.set_index("node").loc[TOTAL, "linear"] == 0.0
