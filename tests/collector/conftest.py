"""Collector fixtures: demo Segment files (web and app JSON Lines) made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sources/`` of a generated 300-person demo (web_events.jsonl, app_events.jsonl, ...)."""
    from percorso.generate.run import generate

    out = tmp_path_factory.mktemp("collector-demo")
    generate(out, 300, seed=7)
    return out / "sources"
