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
