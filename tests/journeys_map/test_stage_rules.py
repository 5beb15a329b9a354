"""Stage rules: written in percorso.toml, applied by the build, validated, equal to a slow first-match."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import jm_oracle as oracle
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.analysis.base import run
from percorso.build import run_build
from percorso.build.details import with_details
from percorso.errors import ConfigError
from percorso.journeys.journey_map import JourneyMapQuery
from percorso.journeys.stages import assign_stages, stage_settings
from percorso.project import init_project, open_project
from percorso.testing import journeys_for
from tests.build.build_helpers import ingest, seg, write_jsonl

CPC = "https://shop.it/?utm_source=google&utm_medium=cpc"

RULES = '''
[stages]
order = ["scoperta", "valutazione", "decisione", "acquisto", "dopo", "fedeltà"]

[[stages.rules]]
stage = "decisione"
event_types = ["page_view"]
where = { plan = ["gold", "platinum"] }

[[stages.rules]]
stage = "scoperta"
channels = ["Paid Search"]

[[stages.rules]]
stage = "fedeltà"
where = { vip = true }

[[stages.rules]]
stage = "dopo"
where = { n = 5 }

[[stages.rules]]
stage = "valutazione"
'''


def _stages(p) -> list[str | None]:
    t = p.engine.table("touchpoints")
    return list(p.engine.execute(t.order_by("occurred_at").select("stage"))["stage"])


def test_custom_rules_in_the_toml_reach_the_touchpoints(tmp_path: Path):
    root = tmp_path / "p"
    init_project(root, name="t")
    (root / "percorso.toml").write_text((root / "percorso.toml").read_text(encoding="utf-8") + RULES,
                                        encoding="utf-8")
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1", url=CPC),                              # Paid Search
        seg("m2", "2025-03-06T10:00:00Z", anon="a1", props={"plan": "gold"}),                # page + gold
        seg("m3", "2025-03-07T10:00:00Z", anon="a1", props={"vip": True}),                   # JSON true
        seg("m4", "2025-03-08T10:00:00Z", anon="a1", props={"vip": "true"}),                 # text, not true
        seg("m5", "2025-03-09T10:00:00Z", anon="a1", url=CPC, props={"plan": "platinum"}),   # rules 1 and 2
        seg("m6", "2025-03-10T10:00:00Z", anon="a1", props={"n": 5}),                        # JSON number
    ])
    with open_project(root) as p:
        ingest(p, "web", f)
        run_build(p)
        # first matching rule wins (m5: decisione before scoperta); m4 falls to the catch-all
        assert _stages(p) == ["scoperta", "decisione", "fedeltà", "valutazione", "decisione", "dopo"]
        (current,) = p.engine.con.execute("SELECT current_stage FROM customers").fetchall()
        assert current == ("dopo",)  # the stage of the latest touchpoint
        r = run(p.engine, JourneyMapQuery(min_customers=1), p.settings)
        assert list(r.pivot("touchpoints").index) == ["scoperta", "valutazione", "decisione", "dopo", "fedeltà"]
        assert r.current.set_index("current_stage").loc["dopo", "customers"] == 1


@pytest.mark.parametrize(("raw", "message"), [
    ({"rules": [{"stage": "decision", "event_type": ["x"]}]}, r"stages.rules.0.event_type.*did you mean 'event_types'"),
    ({"rule": []}, r"\[stages.rule\].*did you mean 'rules'"),
    ({"rules": [{"stage": "decison"}]}, r"stages.rules.0.stage.*did you mean 'decision'"),
    ({"rules": [{"stage": "decision", "where": {"x": {"a": 1}}}]}, r"stages.rules.0.where.x\].*true/false"),
    ({"rules": [{"stage": "decision", "where": {"bad key": "x"}}]}, r"plain names"),
    ({"rules": [{"stage": "decision", "where": {"k": []}}]}, r"empty list"),
    ({"order": ["a", "a"]}, r"more than once"),
    ({"order": []}, r"empty"),
])
def test_bad_settings_name_the_key_and_what_is_allowed(raw, message):
    with pytest.raises(ConfigError, match=message):
        stage_settings(raw)


def test_defaults_when_the_section_is_absent():
    s = stage_settings(None)
    assert s.order == ("awareness", "consideration", "decision", "purchase", "post_purchase", "advocacy")
    assert s.rules[0].stage == "purchase" and "receipt" in s.rules[0].event_types


EVENT_TYPES = ["page_view", "email_open", "store_visit", "purchase"]
CHANNELS = ["Email", "Direct", "Store / POS"]
VALUES = ["gold", "silver", True, 5]
STAGES = ["awareness", "consideration", "decision", "purchase"]

rules_st = st.lists(st.fixed_dictionaries({"stage": st.sampled_from(STAGES)}, optional={
    "event_types": st.lists(st.sampled_from(EVENT_TYPES), min_size=1, max_size=2),
    "channels": st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=2),
    "where": st.dictionaries(st.sampled_from(["plan", "vip"]), st.sampled_from(VALUES) | st.lists(
        st.sampled_from(VALUES), min_size=1, max_size=2), max_size=2),
}), max_size=5)
touch_st = st.lists(st.tuples(st.sampled_from(EVENT_TYPES), st.sampled_from(CHANNELS),
                              st.dictionaries(st.sampled_from(["plan", "vip"]), st.sampled_from(VALUES + ["5"]),
                                              max_size=2)), min_size=1, max_size=10)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=rules_st, touches=touch_st)
def test_assign_stages_equals_first_match(tmp_path_factory, rules, touches):
    t0 = datetime(2025, 3, 1)
    spec = {"c": [(et, t0 + timedelta(hours=i), {"channel": ch, "properties": props})
                  for i, (et, ch, props) in enumerate(touches)]}
    engine = journeys_for(tmp_path_factory.mktemp("st"), spec)
    # the build stages event rows: the touchpoints with their events' properties (ADR 0061)
    touchpoints = with_details(engine, engine.table("touchpoints"))
    staged = engine.execute(assign_stages(touchpoints, {"order": STAGES, "rules": rules}))
    rows = engine.execute(touchpoints).to_dict("records")
    expect = {r["event_id"]: oracle.first_match_stage(r, [
        {**rule, "where": {k: v if isinstance(v, list) else [v] for k, v in rule.get("where", {}).items()}}
        for rule in rules]) for r in rows}
    got = {e: (s if isinstance(s, str) else None) for e, s in zip(staged["event_id"], staged["stage"])}
    assert got == expect
