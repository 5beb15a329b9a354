"""CLI commands: channels (``percorso channels check``, ``percorso channels rules``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, console, emit_frame

VersionOpt = Annotated[
    str | None,
    typer.Option("--rules-version", help="Versione delle regole (default: percorso.toml). Rule version, e.g. ga4-2026."),
]


def _rules(project: Path, version: str | None) -> Any:
    """Rules of the project in ``project`` if it has a percorso.toml, else the packaged ones."""
    from percorso.channels import load_rules
    from percorso.config import CONFIG_FILE

    if (project / CONFIG_FILE).exists():
        from percorso.cli.common import open_cli_project

        with open_cli_project(project, read_only=True) as p:
            return load_rules(p, version)
    return load_rules(None, version)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    channels = typer.Typer(
        help="Canali di marketing (regole GA4 + canali offline). Marketing channels.", no_args_is_help=True
    )
    app.add_typer(channels, name="channels")

    @channels.command("check")
    def check(
        file: Annotated[Path, typer.Argument(help="CSV del piano di tagging: source, medium, campaign (`;` o `,`).")],
        out: OutOpt = None,
        project: ProjectOpt = Path("."),
        rules_version: VersionOpt = None,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        """Controlla un piano di tagging UTM prima del lancio: channel, rule, explanation, warnings.

        Check a campaign tagging plan before launch: each row's channel, the rule that
        matched, an explanation (Italian) and hygiene warnings (case, spaces, Unassigned).
        """
        from percorso.channels.check import check_plan

        rules = _rules(project, rules_version)
        frame = check_plan(file, rules)
        emit_frame(frame, fmt, out, title=f"Piano di tagging — regole {rules.version}")
        n_warn = int((frame["warnings"] != "").sum()) if len(frame) else 0
        n_un = int((frame["channel"] == "Unassigned").sum()) if len(frame) else 0
        console().print(
            f"regole {rules.version}: {len(frame)} righe, {n_un} in Unassigned, {n_warn} con avvisi"
        )

    @channels.command("rules")
    def rules_cmd(
        project: ProjectOpt = Path("."),
        rules_version: VersionOpt = None,
        fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
    ) -> None:
        """Mostra le regole dei canali in vigore e la loro versione. Print the channel rules in force."""
        from percorso.channels.check import rules_frame

        rules = _rules(project, rules_version)
        console().print(
            f"regole canali versione [bold]{rules.version}[/bold] — {rules.files['channel_rules']} "
            f"({len(rules.categories)} sorgenti classificate, {len(rules.offline)} regole offline)"
        )
        emit_frame(rules_frame(rules), fmt, out, title=f"Regole canali {rules.version}")
