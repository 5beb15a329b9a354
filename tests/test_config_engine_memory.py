"""The engine's memory cap: percorso's default (60 % of physical memory) and the configured one."""

from __future__ import annotations

import os

from percorso.engine.backend import default_memory_limit
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
