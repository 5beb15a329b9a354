"""Rule-file validation: errors name file, line and column, with suggestions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from percorso.channels import classify_values, load_rules
from percorso.errors import ConfigError
from percorso.project import packaged_rule_file

HEADER = "rule_id;order;channel;source_category;source_in;medium_in;medium_regex;campaign_regex;enabled\n"


def rules_dir(tmp_path: Path, body: str, version: str = "test-1") -> Path:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / f"channel_rules_{version}.csv").write_text(HEADER + body, encoding="utf-8")
    shutil.copy(packaged_rule_file("source_categories_ga4-2026.csv"), d / f"source_categories_{version}.csv")
    return d


def test_minimal_custom_rules(tmp_path):
    d = rules_dir(tmp_path, "a;1;Email;;;newsletter;;;\nb;2;Paid Search;search;;;cpc;;yes\n")
    r = load_rules(d, "test-1")
    assert r.version == "test-1"
    assert classify_values("x", "Newsletter", None, rules=r) == ("Email", "test-1:a")
    assert classify_values("google", "cpc", None, rules=r) == ("Paid Search", "test-1:b")
    assert classify_values("x", "cpc", None, rules=r) == ("Unassigned", "test-1:unassigned")


def test_order_column_decides_not_file_position(tmp_path):
    d = rules_dir(tmp_path, "late;9;Email;;;cpc;;;\nearly;1;Paid Other;;;;^cp;;\n")
    assert classify_values("x", "cpc", None, rules=load_rules(d, "test-1"))[0] == "Paid Other"


def test_disabled_rule_is_skipped(tmp_path):
    d = rules_dir(tmp_path, "a;1;Email;;;cpc;;;no\nb;2;Paid Other;;;cpc;;;\n")
    assert classify_values("x", "cpc", None, rules=load_rules(d, "test-1"))[0] == "Paid Other"


@pytest.mark.parametrize(("body", "needles"), [
    ("1;1;Paid Serch;;;cpc;;;\n", ["line 2", "column 'channel'", "Paid Serch", "Paid Search"]),
    ("1;1;paid search;;;cpc;;;\n", ["line 2", "'Paid Search'", "exact"]),
    ("1;1;Email;;;;^(cp;;\n", ["line 2", "column 'medium_regex'", "^(cp"]),
    ("1;1;Email;;;;(?=cp);;\n", ["line 2", "column 'medium_regex'", "RE2"]),
    ("1;1;Email;searh;;;;;\n", ["column 'source_category'", "search"]),
    ("1;1;Email;;;;;;\n", ["line 2", "no condition"]),
    ("1;1;Email;;;cpc;;;\n1;2;SMS;;;sms;;;\n", ["line 3", "already used on line 2"]),
    ("1;x;Email;;;cpc;;;\n", ["column 'order'", "'x'"]),
    ("1;1;Email;;;cpc;;;forse\n", ["column 'enabled'", "forse"]),
])
def test_bad_rule_rows(tmp_path, body, needles):
    d = rules_dir(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_rules(d, "test-1")
    msg = str(err.value)
    assert "channel_rules_test-1.csv" in msg
    for n in needles:
        assert n in msg


def test_unknown_column_suggests(tmp_path):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "channel_rules_t.csv").write_text("rule_id;channel;medium_regexp\n1;Email;x\n", encoding="utf-8")
    shutil.copy(packaged_rule_file("source_categories_ga4-2026.csv"), d / "source_categories_t.csv")
    with pytest.raises(ConfigError, match="unknown column 'medium_regexp'.*medium_regex"):
        load_rules(d, "t")


def test_unknown_version_lists_available():
    with pytest.raises(ConfigError, match="no channel rule version 'ga4-2062'.*ga4-2026"):
        load_rules(None, "ga4-2062")


def test_category_conflict(tmp_path):
    d = rules_dir(tmp_path, "1;1;Email;;;cpc;;;\n")
    (d / "source_categories_test-1.csv").write_text("source;category\nfoo;search\nfoo;social\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3.*'foo'.*line 2"):
        load_rules(d, "test-1")


def test_comma_separated_bom_file_is_read(tmp_path):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "channel_rules_c.csv").write_bytes(
        "\ufeffrule_id,order,channel,medium_in\nm,1,Email,posta|newsletter\n".encode())
    (d / "source_categories_c.csv").write_text("source,category\ngoogle,search\n", encoding="utf-8")
    r = load_rules(d, "c")
    assert classify_values("x", "posta", None, rules=r) == ("Email", "c:m")


def test_project_copy_wins_and_version_from_settings(project):
    # init copied the packaged tables into the project's rules/
    local = project.rules_dir / "channel_rules_ga4-2026.csv"
    assert local.exists()
    assert (project.rules_dir / "offline_channels.csv").exists()
    text = local.read_text(encoding="utf-8").replace(";Referral;;;;referral|app|link;", ";Referral;;;;referral|app|link|partner;")
    local.write_text(text, encoding="utf-8")
    r = load_rules(project)
    assert r.version == project.settings.channels.rules_version == "ga4-2026"
    assert r.files["channel_rules"] == local
    assert classify_values("blog", "partner", None, rules=r)[0] == "Referral"
    assert classify_values("blog", "partner", None, rules=load_rules())[0] == "Unassigned"


def test_italian_entries_are_marked_as_our_extension():
    r = load_rules()
    for src in ("trovaprezzi.it", "idealo.it", "kelkoo.it", "amazon.it", "ebay.it", "libero.it", "virgilio.it"):
        assert r.category_origin[src] == "percorso-it", src
    assert r.categories["libero.it"] == "search" and r.categories["trovaprezzi.it"] == "shopping"
    assert r.category_origin["facebook"] == "ga4"
    assert len(r.categories) >= 300
