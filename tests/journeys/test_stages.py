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
