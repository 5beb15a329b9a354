"""Stage rules from percorso.toml: applied at build time, validated, and a change rebuilds."""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.build import run_build
from percorso.errors import ConfigError
from percorso.journeys.stages import stage_settings
from percorso.project import init_project, open_project
from tests.build.build_helpers import ingest, seg, write_jsonl

RULES = '''
[stages]
order = ["awareness", "consideration", "decision", "purchase", "post_purchase", "advocacy"]

[[stages.rules]]
stage = "decision"
event_types = ["page_view"]
where = { plan = "gold" }

[[stages.rules]]
stage = "awareness"
channels = ["Paid Search"]
'''


def _stages(p) -> list[str | None]:
    return [s for (s,) in p.engine.con.execute("SELECT stage FROM touchpoints ORDER BY occurred_at").fetchall()]


def test_custom_rules_apply_and_a_change_rebuilds(tmp_path: Path):
    init_project(tmp_path / "p", name="t")
    f = write_jsonl(tmp_path / "w.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1", url="https://shop.it/?utm_source=google&utm_medium=cpc"),
        seg("m2", "2025-03-06T10:00:00Z", anon="a1", props={"plan": "gold"}),
        seg("m3", "2025-03-07T10:00:00Z", anon="a1"),
    ])
    with open_project(tmp_path / "p") as p:
        ingest(p, "web", f)
        run_build(p)
        assert _stages(p) == ["consideration", "consideration", "consideration"]  # default rules
        current = p.engine.con.execute("SELECT current_stage FROM customers").fetchall()
        assert current == [("consideration",)]
    cfg = tmp_path / "p" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + RULES, encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        rep = run_build(p)  # nothing new, but the rules changed: everything is restaged
        assert rep.mode == "full"
        assert _stages(p) == ["awareness", "decision", None]
        assert run_build(p).mode == "incremental"


def test_bad_rules_name_the_key():
    with pytest.raises(ConfigError, match="stages.rules"):
        stage_settings({"rules": [{"stage": "decision", "event_type": ["x"]}]})
    with pytest.raises(ConfigError, match="not in stages.order"):
        stage_settings({"rules": [{"stage": "wishing"}]})


BY_TYPE = '''
[stages]
order = ["awareness", "consideration", "decision", "purchase", "post_purchase", "advocacy"]

[[stages.rules]]
stage = "decision"
event_types = ["page_view"]

[[stages.rules]]
stage = "awareness"
'''


def test_rules_by_event_type_alone_stage_each_class_as_each_row(tmp_path: Path):
    """Rules reading the event type alone are applied to the touchpoints' classes by a full build
    (ADR 0088) and to each row by an incremental one: both give what the rules say of each row's
    type (first rule that holds; a rule without conditions holds for every row)."""
    from percorso.build.touchpoints import _staged_by_type

    assert _staged_by_type(None) and _staged_by_type({"rules": [{"stage": "awareness"}]})
    assert not _staged_by_type({"rules": [{"stage": "awareness", "channels": ["Paid Search"]}]})
    assert not _staged_by_type({"rules": [{"stage": "awareness", "where": {"plan": "gold"}}]})

    def oracle(event_type: str | None) -> str:
        return "decision" if event_type == "page_view" else "awareness"

    init_project(tmp_path / "p", name="t")
    cfg = tmp_path / "p" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + BY_TYPE, encoding="utf-8")
    first = write_jsonl(tmp_path / "a.jsonl", [
        seg("m1", "2025-03-05T10:00:00Z", anon="a1", url="https://shop.it/?utm_source=google&utm_medium=cpc"),
        seg("m2", "2025-03-05T10:01:00Z", anon="a1", type="track", event="Product Viewed"),
        seg("m3", "2025-03-05T10:02:00Z", anon="a2", type="track", event="Products Searched"),
    ])
    second = write_jsonl(tmp_path / "b.jsonl", [
        seg("m4", "2025-03-06T10:00:00Z", anon="a2", type="track", event="Product Viewed"),
        seg("m5", "2025-03-06T10:01:00Z", anon="a3"),
    ])

    def staged(p) -> list[tuple[str, str | None]]:
        return p.engine.con.execute(
            "SELECT event_type::VARCHAR, stage::VARCHAR FROM touchpoints ORDER BY occurred_at").fetchall()

    with open_project(tmp_path / "p") as p:
        ingest(p, "web", first)
        assert run_build(p).mode == "full"
        rows = staged(p)
        assert len(rows) == 3 and {t for t, _ in rows} >= {"page_view"}
        assert rows == [(t, oracle(t)) for t, _ in rows]
        ingest(p, "web", second)
        assert run_build(p).mode == "incremental"
        rows = staged(p)
        assert len(rows) == 5
        assert rows == [(t, oracle(t)) for t, _ in rows]
