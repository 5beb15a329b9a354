"""Project configuration: defaults, init, and errors that name file, key, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.config import load_settings, settings_from_dict
from percorso.errors import ConfigError, ProjectNotFound
from percorso.project import init_project, open_project


def test_init_writes_a_loadable_project(tmp_path: Path) -> None:
    cfg = init_project(tmp_path / "p", name="negozi")
    settings = load_settings(cfg)
    assert settings.project.name == "negozi"
    assert settings.project.time_zone == "Europe/Rome"
    assert settings.build.session_gap_minutes == 30
    assert len(settings.identity.secret) == 64
    assert settings.sources["pos"].kind == "pos"
    assert settings.sources["email"].kind == "esp"


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    init_project(tmp_path)
    with pytest.raises(Exception, match="already exists"):
        init_project(tmp_path)


def test_each_init_gets_its_own_secret(tmp_path: Path) -> None:
    a = load_settings(init_project(tmp_path / "a"))
    b = load_settings(init_project(tmp_path / "b"))
    assert a.identity.secret != b.identity.secret


def test_unknown_key_suggests_the_right_one() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict({"build": {"sesion_gap_minutes": 20}}, origin="x/percorso.toml")
    msg = str(err.value)
    assert "x/percorso.toml" in msg and "build.sesion_gap_minutes" in msg
    assert "did you mean 'session_gap_minutes'" in msg


def test_bad_time_zone_names_value() -> None:
    with pytest.raises(ConfigError, match="Europe/Roma"):
        settings_from_dict({"project": {"time_zone": "Europe/Roma"}})


def test_bad_source_kind_lists_valid_kinds() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict({"sources": {"negozi": {"kind": "poss"}}})
    msg = str(err.value)
    assert "sources.negozi.kind" in msg and "did you mean 'pos'" in msg


def test_bad_value_type_is_reported() -> None:
    with pytest.raises(ConfigError, match="session_gap_minutes"):
        settings_from_dict({"build": {"session_gap_minutes": 0}})


def test_unknown_source_name_suggests(tmp_path: Path) -> None:
    init_project(tmp_path)
    settings = open_project(tmp_path).settings
    with pytest.raises(ConfigError, match="did you mean 'ecommerce'"):
        settings.source("ecomerce")


def test_missing_project_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFound, match="percorso init"):
        open_project(tmp_path / "nowhere")


def test_secret_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERCORSO_SECRET", "from-env")
    settings = load_settings(init_project(tmp_path))
    assert settings.identity.secret == "from-env"


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    (tmp_path / "percorso.toml").write_text("[project\nname=1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        open_project(tmp_path)


def test_engine_memory_limit_and_spill_folder_reach_duckdb(tmp_path: Path) -> None:
    init_project(tmp_path / "p")
    toml = tmp_path / "p" / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        "[engine]\n", '[engine]\nmemory_limit = "512MB"\ntemp_directory = "spill"\n'), encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        con = p.engine.con
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        spill = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert limit in ("488.2 MiB", "512.0 MB")       # DuckDB prints 512MB in binary units
    assert Path(spill) == tmp_path / "p" / "spill"


def test_engine_memory_limit_must_be_a_size() -> None:
    with pytest.raises(ConfigError, match="8GB"):
        settings_from_dict({"engine": {"memory_limit": "lots"}})


# Every bound and check of the sections (ADR 0065: they are hand-written, not pydantic's): the
# last value accepted, the first refused, and the refusal's words (those pydantic used).
@pytest.mark.parametrize(("section", "key", "ok", "bad", "words"), [
    ("identity", "max_customers_per_identifier", 1, 0, "greater than or equal to 1"),
    ("identity", "device_link_window_days", 0, -1, "greater than or equal to 0"),
    ("identity", "device_link_max_known", 1, 0, "greater than or equal to 1"),
    ("identity", "device_link_max_known_per_ip", 1, 0, "greater than or equal to 1"),
    ("build", "session_gap_minutes", 1, 0, "greater than or equal to 1"),
    ("ingest", "latest_days_ahead", 0, -1, "greater than or equal to 0"),
    ("collector", "spool_max_mb", 0.001, 0, "greater than 0"),
    ("collector", "batch_seconds", 0.001, 0.0, "greater than 0"),
    ("collector", "batch_events", 1, 0, "greater than or equal to 1"),
    ("collector", "workers", 0, -1, "greater than or equal to 0"),
    ("collector", "workers", 32, 33, "less than or equal to 32"),
    ("collector", "port", 0, -1, "greater than or equal to 0"),
    ("collector", "port", 65535, 65536, "less than or equal to 65535"),
    ("collector", "micro_batch_threads", 0, -1, "greater than or equal to 0"),
    ("collector", "micro_batch_threads", 256, 257, "less than or equal to 256"),
])
def test_each_bound_takes_its_edge_and_refuses_past_it(section, key, ok, bad, words) -> None:
    assert getattr(getattr(settings_from_dict({section: {key: ok}}), section), key) == ok
    with pytest.raises(ConfigError) as err:
        settings_from_dict({section: {key: bad}}, origin="p/percorso.toml")
    assert str(err.value) == f"p/percorso.toml: key '{section}.{key}' has bad value {bad!r}: Input should be {words}"


@pytest.mark.parametrize(("section", "key", "given", "kept"), [
    ("project", "currency", "usd", "USD"),                    # upper case
    ("project", "time_zone", "America/New_York", "America/New_York"),
    ("engine", "memory_limit", " 512MB ", "512MB"),           # stripped
    ("engine", "max_temp_size", "40 GiB", "40 GiB"),
    ("project", "locale", "en", "en"),
    ("engine", "kind", "spark", "spark"),
    ("collector", "port", None, None),
    # pydantic's lax conversions, kept: a number in a string, a whole float, 0/1 and yes/no as booleans
    ("build", "session_gap_minutes", "45", 45),
    ("build", "session_gap_minutes", 45.0, 45),
    ("collector", "spool_max_mb", 256, 256.0),
    ("collector", "build", "no", False),
    ("identity", "device_link", 0, False),
    ("ingest", "earliest", "2001-02-03", __import__("datetime").date(2001, 2, 3)),
    ("collector", "allowed_origins", ("https://a.it",), ["https://a.it"]),
])
def test_values_are_checked_and_normalised(section, key, given, kept) -> None:
    got = getattr(getattr(settings_from_dict({section: {key: given}}), section), key)
    assert got == kept and type(got) is type(kept)


@pytest.mark.parametrize(("raw", "line"), [
    ({"project": {"currency": "EURO"}}, "key 'project.currency' has bad value 'EURO': 'EURO' is not an ISO 4217 code "
                                        "such as EUR"),
    ({"project": {"locale": "fr"}}, "key 'project.locale' has bad value 'fr': Input should be 'it' or 'en'"),
    ({"engine": {"kind": "polars"}}, "key 'engine.kind' has bad value 'polars': Input should be 'duckdb' or 'spark'"),
    ({"engine": {"max_temp_size": "40"}}, "key 'engine.max_temp_size' has bad value '40': '40' is not a size such as "
                                          "8GB or 512MB"),
    ({"build": {"session_gap_minutes": "half an hour"}}, "key 'build.session_gap_minutes' has bad value 'half an hour': "
                                                         "Input should be a valid integer, unable to parse string as an integer"),
    ({"build": {"session_gap_minutes": 2.5}}, "key 'build.session_gap_minutes' has bad value 2.5: Input should be a "
                                              "valid integer, got a number with a fractional part"),
    ({"identity": {"device_link": "maybe"}}, "key 'identity.device_link' has bad value 'maybe': Input should be a valid "
                                             "boolean, unable to interpret input"),
    ({"identity": {"secret": 42}}, "key 'identity.secret' has bad value 42: Input should be a valid string"),
    ({"collector": {"allowed_origins": "https://a.it"}}, "key 'collector.allowed_origins' has bad value 'https://a.it': "
                                                         "Input should be a valid list"),
    ({"collector": {"trusted_proxies": ["10.0.0.1", 7]}}, "key 'collector.trusted_proxies.1' has bad value 7: Input "
                                                          "should be a valid string"),
    ({"engine": {"spark": {"spark.driver.memory": 4}}}, "key 'engine.spark.spark.driver.memory' has bad value 4: Input "
                                                        "should be a valid string"),
    ({"ingest": {"earliest": __import__("datetime").datetime(2001, 2, 3, 4)}},
     "key 'ingest.earliest' has bad value datetime.datetime(2001, 2, 3, 4, 0): Datetimes provided to dates should "
     "have zero time - e.g. be exact dates"),
    ({"build": 30}, "key 'build' has bad value 30: Input should be a valid dictionary or instance of BuildSection"),
    ({"stages": []}, "key 'stages' has bad value []: Input should be a valid dictionary"),
    ({"sources": {"shop": {"mapping": {}}}}, "key 'sources.shop.kind' has bad value {'mapping': {}}: Field required"),
    ({"sources": {"shop": {"kind": "crm", "encoding": "ebcdic"}}},
     "key 'sources.shop.encoding' has bad value 'ebcdic': unknown encoding 'ebcdic'; valid: utf-8, utf-16, latin-1 "
     "(iso-8859-1), cp1252 (windows-1252)"),
])
def test_a_refused_value_is_one_line_naming_key_value_and_reason(raw, line) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict(raw)
    assert err.value.code == "config_invalid" and str(err.value) == f"percorso.toml: {line}"


def test_every_refusal_is_reported_in_order_and_unknown_keys_last() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict({"collector": {"workrs": 2, "workers": 99, "port": "x"}, "zzz": 1})
    assert str(err.value).splitlines() == [
        "percorso.toml: key 'collector.workers' has bad value 99: Input should be less than or equal to 32",
        "percorso.toml: key 'collector.port' has bad value 'x': Input should be a valid integer, unable to parse "
        "string as an integer",
        "percorso.toml: unknown key 'collector.workrs'; did you mean 'workers'? valid: allowed_origins, batch_events, "
        "batch_seconds, build, micro_batch_threads, port, spool_max_mb, trusted_proxies, workers",
        "percorso.toml: unknown key 'zzz'; valid: activation, attribution, build, channels, collector, engine, "
        "identity, ingest, privacy, project, sources, stages, value",
    ]


def test_a_source_section_is_checked_when_made() -> None:
    from percorso.config import SourceSection
    from percorso.sections import SectionError

    assert SourceSection(kind="crm", encoding="UTF_8").encoding == "utf-8"
    with pytest.raises(SectionError, match="kind: unknown source kind 'cmr'; did you mean 'crm'"):
        SourceSection(kind="cmr")
