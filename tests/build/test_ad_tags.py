"""Ad events without UTM tags: the platform's source and medium, and a paid channel for every one.

Hand-derived expectations: the table ``AD_PLATFORM_TAGS`` for the platforms it names, else the
platform as the source and ``cpc`` (a click) or ``cpm`` (an impression) as the medium; then the
GA4 rules (docs/channels.md): a search or social source with a medium matching ``.*cp.*`` is
Paid Search / Paid Social, ``cpm`` without such a source is Display, ``cpc`` Paid Other.
"""

from __future__ import annotations

import json

from build_helpers import ingest

from percorso.build import run_build
from percorso.build.plan import compile_plan
from percorso.channels.rules import load_rules
from percorso.engine.dialect import json_value

#: (platform, event) → (utm_source, utm_medium, channel)
EXPECTED = {
    ("google", "click"): ("google", "cpc", "Paid Search"),
    ("google", "impression"): ("google", "display", "Display"),
    ("meta", "impression"): ("facebook", "paid_social", "Paid Social"),
    ("Bing", "impression"): ("bing", "cpm", "Paid Search"),       # was Organic Search
    ("microsoft", "impression"): ("bing", "cpm", "Paid Search"),
    ("microsoft", "click"): ("bing", "cpc", "Paid Search"),
    ("linkedin", "click"): ("linkedin", "cpc", "Paid Social"),     # was Organic Social
    ("linkedin", "impression"): ("linkedin", "cpm", "Paid Social"),
    ("criteo", "impression"): ("criteo", "cpm", "Display"),
    ("criteo", "click"): ("criteo", "cpc", "Paid Other"),
    ("", "click"): (None, "cpc", "Paid Other"),                   # no platform: was Direct
    ("", "impression"): (None, "cpm", "Display"),
}


def test_every_ad_event_gets_its_platforms_tags_and_a_paid_channel(proj, tmp_path):
    lines = ["click_event_id,timestamp,event,platform,anonymous_id"]
    for i, (platform, event) in enumerate(EXPECTED):
        lines.append(f"k{i},2025-03-0{1 + i % 9}T10:00:00Z,{event},{platform},cookie{i}")
    path = tmp_path / "ads.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest(proj, "ads", path)
    run_build(proj, full=True)
    got = proj.engine.con.execute("""SELECT json_extract_string(e.properties, '$.platform'), t.event_type,
               t.utm_source, t.utm_medium, t.channel
        FROM touchpoints t JOIN events e USING (event_id)""").fetchall()
    assert len(got) == len(EXPECTED)
    seen = {(p or "", "impression" if et == "ad_impression" else "click"): (s, m, ch) for p, et, s, m, ch in got}
    assert seen == EXPECTED


def test_the_build_queries_read_the_platform_once(proj, tmp_path):
    """The platform is one column the cases compare, not a JSON read in each (25 per query before)."""
    path = tmp_path / "ads.csv"
    path.write_text("click_event_id,timestamp,event,platform,anonymous_id\nk1,2025-03-01T10:00:00Z,click,google,c1\n",
                    encoding="utf-8")
    ingest(proj, "ads", path)
    run_build(proj, full=True)   # the plan is compiled against the built tables (identity_map)
    st = proj.settings
    plan = compile_plan(proj.engine, load_rules(proj, st.channels.rules_version),
                        session_gap_minutes=st.build.session_gap_minutes, stage_settings=st.stages,
                        time_zone=st.project.time_zone)
    # one read, as this dialect writes one (DuckDB: a type test and the extraction)
    ev = proj.engine.table("events")
    once = proj.engine.compile(ev.select(p=json_value(ev.properties, "platform", "string"))).count("'$.platform'")
    assert once >= 1
    for step in ("_build_sessions", "_build_touchpoints"):
        assert plan[step].count("'$.platform'") == once, step
    assert json.loads(plan["_build_events_columns"])   # the plan is whole


def test_a_project_built_by_the_previous_derivation_is_built_again_in_full(proj, tmp_path, monkeypatch):
    """Its Bing impressions were Organic Search: an incremental build would keep those rows."""
    from percorso.build import runner

    path = tmp_path / "ads.csv"
    path.write_text("click_event_id,timestamp,event,platform,anonymous_id\n"
                    "k1,2025-03-01T10:00:00Z,impression,bing,c1\n", encoding="utf-8")
    ingest(proj, "ads", path)
    monkeypatch.setattr(runner, "DERIVATION_VERSION", runner.DERIVATION_VERSION - 1)
    assert run_build(proj).mode == "full"
    more = tmp_path / "more.csv"
    more.write_text("click_event_id,timestamp,event,platform,anonymous_id\n"
                    "k2,2025-03-02T10:00:00Z,click,bing,c1\n", encoding="utf-8")
    ingest(proj, "ads", more)
    assert run_build(proj).mode == "incremental"       # same version: incremental
    monkeypatch.undo()
    assert run_build(proj).mode == "full"              # a newer derivation: everything again
    assert proj.engine.con.execute("SELECT list_sort(list(channel)) FROM touchpoints").fetchall()[0][0] == \
        ["Paid Search", "Paid Search"]
