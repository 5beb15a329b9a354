"""Issue 14 must-show: every ``--format json`` output has the same keys in an Italian and an
English project, and every key is an English snake_case identifier with a header for tables.

One small generated demo is copied; the copy's ``[project] locale`` is switched to ``en``; every
command that takes ``--format`` runs in both (a walk over the CLI checks none is forgotten).
"""

from __future__ import annotations

import gc
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from percorso.cli import app
from percorso.export.columns import is_machine_key
from percorso.export.labels import LABELS

pytestmark = pytest.mark.slow

SEGMENT_RULE = '{"type":"behaviour","action":"bought_in_store"}'
#: Commands with --format that change the project rather than read it (their JSON is a report),
#: and the server's administration (tokens, audit log, write keys, the collector's counters), which
#: has no locale-dependent output; erasure, retention, the lake export and the build on Spark
#: (tests/spark, with Java) report changes too.
NOT_ANALYSES = {"build", "identity resolve", "token list", "audit", "source key list", "collector stats",
                "erase", "retention run", "lake export", "lake build"}
#: Commands whose list may be empty on the demo: its history ends before today, so no one enters a
#: journey now and nothing has been sent (their keys are still compared when there are rows).
MAY_BE_EMPTY = {"journey test", "journey log"}
#: Keys that are values, not names: attribution's wide table has one column per model.
MODEL_KEY = re.compile(r"^(first|last|last_non_direct|linear|position|time_decay|markov_\d|shapley)$")


def _commands(customer: str, plan: Path) -> dict[str, list[str]]:
    return {  # clv fit first: churn, clv predict and personas read its customer_value
        "clv fit": ["clv", "fit"], "quarantine": ["quarantine"], "journey-map": ["journey-map"], "funnel": ["funnel", "page_view", "purchase"],
        "friction": ["friction"], "omnichannel": ["omnichannel"], "attribution": ["attribution"], "roi": ["roi"],
        "rfm": ["rfm"], "churn": ["churn"], "cohorts": ["cohorts"], "cost-to-serve": ["cost-to-serve"],
        "health": ["health"], "personas": ["personas"], "channels check": ["channels", "check", str(plan)],
        "channels rules": ["channels", "rules"], "identity explain": ["identity", "explain", customer],
        "identity flags": ["identity", "flags"], "customer show": ["customer", "show", customer],
        "customer search": ["customer", "search", "ro"], "paths top": ["paths", "top"],
        "paths transitions": ["paths", "transitions"], "paths sankey": ["paths", "sankey"],
        "clv predict": ["clv", "predict"], "clv validate": ["clv", "validate"], "clv models": ["clv", "models"],
        "clv bayes": [], "segment list": ["segment", "list"], "segment show": ["segment", "show", "store"],
        "segment refresh": ["segment", "refresh"], "segment export": ["segment", "export", "store"],
        "consent show": ["consent", "show", customer], "journey list": ["journey", "list"],
        "journey test": ["journey", "test", "cart_abandonment"], "journey log": ["journey", "log"],
        "journey results": ["journey", "results", "cart_abandonment"],
    }


def _with_format(group: Any, path: tuple[str, ...] = ()) -> set[str]:
    """Every command of the CLI that takes ``--format``."""
    found: set[str] = set()
    for name, cmd in getattr(group, "commands", {}).items():
        if hasattr(cmd, "commands"):
            found |= _with_format(cmd, (*path, name))
        elif any("--format" in p.opts for p in cmd.params):
            found.add(" ".join((*path, name)))
    return found


def _run(project: Path, args: list[str]) -> str:
    res = CliRunner().invoke(app, [*args, "-p", str(project)])
    out, code, output = res.stdout, res.exit_code, (res.output, repr(res.exception))
    # a command that keeps its project open without `with` is closed when its frame goes: the
    # runner's stored exit traceback holds that frame in a cycle, so collect it before the next
    # command opens the same file (one process runs ~60 commands here)
    del res
    gc.collect()
    assert code == 0, (args, output)
    return out


def _keys(value: Any) -> set[str]:
    """Every object key in a JSON document, however nested."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("locales")
    it = root / "it"
    res = CliRunner().invoke(app, ["demo", "--customers", "300", "--seed", "5", "--dir", str(it), "--json"])
    assert res.exit_code == 0, res.output
    en = root / "en"
    shutil.copytree(it, en)
    toml = (en / "percorso.toml").read_text(encoding="utf-8")
    assert re.search(r'^locale = "it"', toml, flags=re.M)
    (en / "percorso.toml").write_text(re.sub(r'^locale = "it"', 'locale = "en"', toml, flags=re.M), encoding="utf-8")
    for p in (it, en):
        _run(p, ["segment", "create", "store", "--rule", SEGMENT_RULE])
        _run(p, ["journey", "create", "--example", "cart_abandonment"])
    return {"it": it, "en": en}


def test_every_json_output_has_the_same_english_keys_in_both_locales(projects: dict[str, Path], tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("source;medium;campaign\ngoogle;cpc;brand\nNewsletter;newsletter;dem\n", encoding="utf-8")
    customer = json.loads(_run(projects["it"], ["customer", "search", "ro", "--format", "json"]))[0]["customer_id"]
    commands = _commands(customer, plan)
    assert _with_format(typer.main.get_command(app)) - NOT_ANALYSES == set(commands), "a command with --format is not checked"

    unlabelled: set[str] = set()
    for name, args in commands.items():
        if not args:  # clv bayes needs the optional [bayes] extra
            continue
        keys = {}
        for locale, project in projects.items():
            keys[locale] = _keys(json.loads(_run(project, [*args, "--format", "json"])))
        assert keys["it"] == keys["en"], (name, keys["it"] ^ keys["en"])
        assert keys["it"] or name in MAY_BE_EMPTY, name
        bad = sorted(k for k in keys["it"] if not is_machine_key(k))
        assert not bad, (name, bad)
        unlabelled |= {k for k in keys["it"] if k not in LABELS and not MODEL_KEY.match(k)}
    # tables show every result key in the project's language (nested report keys excepted)
    assert not unlabelled - _REPORT_KEYS, " ".join(sorted(unlabelled - _REPORT_KEYS))


#: Keys of the nested reports (`customer show`, `identity explain`) that no table prints as a header.
_REPORT_KEYS = {
    "query", "identifiers", "chain", "other_links", "flags", "merges", "also", "from", "to", "event_id",
    "known_event_id", "trusted", "id_type_a", "id_value_a", "id_type_b", "id_value_b", "status", "summary",
    "channels", "timeline", "also_matches", "offset", "total_touchpoints",
}
