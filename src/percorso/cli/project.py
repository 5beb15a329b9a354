"""CLI commands: init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("init")
    def init(
        directory: Annotated[Path, typer.Argument(help="Folder for the new project.")] = Path("."),
        name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
        force: Annotated[bool, typer.Option(help="Overwrite an existing percorso.toml.")] = False,
    ) -> None:
        """Create a project: percorso.toml plus editable CSV rule tables (crea un progetto)."""
        from percorso.cli.common import console
        from percorso.project import init_project

        cfg = init_project(directory, name=name, force=force)
        console().print(f"[green]progetto creato[/green] {cfg}")
