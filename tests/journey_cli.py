"""Shared pieces of the journey CLI tests: a real project holding hand-made journeys, and
running a command through the in-process CLI (exit code checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project, open_project
from percorso.testing import journeys_for


def journey_project(root: Path, people: dict[str, Any]) -> Path:
    """A project at ``root`` whose build tables hold ``people``'s journeys."""
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, people)
    return root


def cli(*args: str) -> str:
    """Standard output of ``percorso ARGS``; fails the test on a non-zero exit."""
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res.stdout


#: Three buyers (a session on Email the day before, then Paid Search and a purchase), their purchases
#: 0.1, 0.2 and 0.3 €: amounts whose sum as doubles depends on the order they are added.
BUYERS = {"b1": "0.1", "b2": "0.2", "b3": "0.3"}


def exact_sum_projects(root: Path, viewer_channel: str) -> tuple[Path, Path]:
    """Two projects with the :data:`BUYERS` and a viewer (one page view on ``viewer_channel``), their
    rows written in opposite orders: an output summed exactly is the same JSON from both."""
    def people(order: list[str]) -> dict[str, Any]:
        p = {c: [("page_view", "2023-12-31 10:00", {"channel": "Email"}),
                 ("page_view", "2024-01-01 10:02", {"channel": "Paid Search"}),
                 ("purchase", "2024-01-01 10:05", {"channel": "Paid Search", "revenue": float(BUYERS[c])})]
             for c in BUYERS}
        p["viewer"] = [("page_view", "2024-01-02 10:00", {"channel": viewer_channel})]
        return {c: p[c] for c in order}

    return (journey_project(root / "forward", people(["b1", "b2", "b3", "viewer"])),
            journey_project(root / "backward", people(["viewer", "b3", "b2", "b1"])))
