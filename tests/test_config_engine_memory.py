"""The engine's memory cap: percorso's default (60 % of physical memory) and the configured one."""

from __future__ import annotations

import os

from percorso.engine.backend import default_memory_limit, parse_size
from percorso.project import init_project, open_project


def _limit_bytes(p) -> int:
    (v,) = p.engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
    num, unit = v.split()
    return int(float(num) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit])


def test_default_is_sixty_percent_of_physical_memory(tmp_path) -> None:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert default_memory_limit() == f"{int(total * 0.6) >> 20}MiB"
    init_project(tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        assert abs(_limit_bytes(p) - 0.6 * total) < 0.01 * total


def test_configured_limit_wins(tmp_path) -> None:
    init_project(tmp_path / "p")
    toml = tmp_path / "p" / "percorso.toml"
    text = toml.read_text(encoding="utf-8").replace('# memory_limit = "8GB"', 'memory_limit = "512MB"', 1)
    toml.write_text(text, encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        assert abs(_limit_bytes(p) - 512 * 10**6) < 2 * 10**6  # DuckDB's MB is 10^6 bytes


def _temp_cap_bytes(p) -> int:
    (v,) = p.engine.con.execute("SELECT current_setting('max_temp_directory_size')").fetchone()
    return parse_size(v)


def test_spill_cap_defaults_to_half_the_free_disk(tmp_path) -> None:
    import shutil

    init_project(tmp_path / "p")
    free = shutil.disk_usage(tmp_path).free
    with open_project(tmp_path / "p") as p:
        # other programs write on this disk meanwhile: within 2 % of the disk's free space
        assert abs(_temp_cap_bytes(p) - free / 2) < 0.02 * free


def test_configured_spill_cap_wins_and_a_spill_past_it_is_one_disk_full_line(tmp_path) -> None:
    import duckdb
    import pytest

    from percorso.engine.backend import translate_error
    from percorso.errors import DiskFull

    init_project(tmp_path / "p")
    toml = tmp_path / "p" / "percorso.toml"
    text = toml.read_text(encoding="utf-8").replace('# max_temp_size = "40GB"', 'max_temp_size = "1MB"', 1)
    toml.write_text(text.replace('# memory_limit = "8GB"', 'memory_limit = "20MB"', 1), encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        assert _temp_cap_bytes(p) <= 10**6
        p.engine.con.execute("SET threads = 1")
        with pytest.raises(duckdb.OutOfMemoryException) as caught:   # a sort that must spill ~100 MB
            p.engine.con.execute("CREATE TEMP TABLE _big AS SELECT range AS a, md5(CAST(range AS VARCHAR)) AS b "
                                 "FROM range(2000000) ORDER BY b")
    err = translate_error(caught.value, str(tmp_path / "p" / "percorso.duckdb"))
    assert isinstance(err, DiskFull)
    text = str(err)
    assert "\n" not in text and text.startswith("disk full: the engine's temporary files reached their cap (")
    assert "max_temp_size" in text and "same command" in text
