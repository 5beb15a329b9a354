"""CLI commands: ``percorso journey create | list | show | enable | disable | test | results | run | log``.

``journey`` (singular) is activation: journeys that act. The analysis of the paths customers
took is ``journey-map`` and ``paths``; the names do not collide (ADR 0026).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project

NowOpt = Annotated[datetime | None, typer.Option("--now", help="Istante UTC della valutazione / evaluate as of (UTC).")]


def register(app: typer.Typer) -> None:
    """Add the ``journey`` group to the root app."""
    grp = typer.Typer(help="Attivazione: percorsi che agiscono, con gruppo di controllo / activation journeys "
                      "(trigger → steps → actions) and their holdout results.")
    app.add_typer(grp, name="journey")

    @grp.command("create")
    def create(
        file: Annotated[Path | None, typer.Option("--file", help="File JSON del percorso / journey JSON file.")] = None,
        example: Annotated[str | None, typer.Option("--example", help="Percorso fornito / shipped journey: "
                                                    "cart_abandonment, browse_abandonment, mattress_follow_up, "
                                                    "return_call.")] = None,
        replace: Annotated[bool, typer.Option("--replace", help="Sostituisce / overwrite.")] = False,
        project: ProjectOpt = Path("."),
    ) -> None:
        """Crea un percorso (disattivato) da un file JSON o da un esempio / create a journey (disabled)."""
        import json

        from percorso.activation.model import journey_from_dict
        from percorso.activation.store import example as shipped
        from percorso.activation.store import save_journey
        from percorso.errors import InputError

        if (file is None) == (example is None):
            raise InputError("give exactly one of --file FILE or --example NAME")
        if file is not None:
            try:
                raw = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise InputError(f"{file}: not readable JSON ({exc})", code="journey_invalid") from None
            journey = journey_from_dict(raw, origin=str(file))
        else:
            journey = shipped(example)  # type: ignore[arg-type]
        with open_cli_project(project, read_only=True) as p:
            path = save_journey(p.root, journey.model_copy(update={"enabled": False}), replace=replace)
        typer.echo(f"percorso '{journey.name}' creato (disattivato / disabled): {path}", err=True)

    @grp.command("list")
    def list_cmd(project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Elenca i percorsi / list journeys."""
        import pandas as pd

        from percorso.activation.store import load_journeys

        with open_cli_project(project, read_only=True) as p:
            rows = [{"journey": j.name, "enabled": j.enabled, "trigger": j.trigger.kind,
                     "n_steps": len(j.steps), "holdout_share": j.holdout, "description": j.description}
                    for j in load_journeys(p.root)]
        emit_frame(pd.DataFrame(rows, columns=["journey", "enabled", "trigger", "n_steps", "holdout_share",
                                               "description"]), fmt, out, title="journeys")

    @grp.command("show")
    def show(name: str, project: ProjectOpt = Path(".")) -> None:
        """Mostra la definizione (JSON) / show a journey's definition."""
        from percorso.activation.store import get_journey

        with open_cli_project(project, read_only=True) as p:
            typer.echo(get_journey(p.root, name).model_dump_json(indent=2))

    def _toggle(name: str, project: Path, on: bool) -> None:
        from percorso.activation.store import set_enabled

        with open_cli_project(project, read_only=True) as p:
            set_enabled(p.root, name, on)
        typer.echo(f"percorso '{name}': {'attivo / enabled' if on else 'disattivato / disabled'}", err=True)

    @grp.command("enable")
    def enable(name: str, project: ProjectOpt = Path(".")) -> None:
        """Attiva un percorso / enable a journey."""
        _toggle(name, project, True)

    @grp.command("disable")
    def disable(name: str, project: ProjectOpt = Path(".")) -> None:
        """Disattiva un percorso / disable a journey (nothing more is queued; the log stays)."""
        _toggle(name, project, False)

    @grp.command("test")
    def test(name: str, now: NowOpt = None, limit: Annotated[int, typer.Option("--limit")] = 100,
             project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Chi entrerebbe ora e cosa riceverebbe, senza inviare nulla / who would enter and what each would get."""
        from percorso.activation.service import preview
        from percorso.activation.store import get_journey

        with open_cli_project(project, read_only=True) as p:
            frame = preview(p, get_journey(p.root, name), now=now, limit=limit)
        emit_frame(frame, fmt, out, title=f"{name}: prova, nulla inviato / test, nothing sent")

    @grp.command("results")
    def results(name: str, project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table,
                out: OutOpt = None) -> None:
        """Trattati contro controllo: uplift, intervalli al 95 %, test, ricavi incrementali / holdout results."""
        from percorso.activation.service import results as run_results
        from percorso.activation.store import get_journey
        from percorso.cli.common import output_locale

        with open_cli_project(project) as p:
            frame, text = run_results(p, get_journey(p.root, name))
        emit_frame(frame, fmt, out, title=f"{name}: trattati vs controllo / treated vs control")
        if fmt is OutputFormat.table:
            typer.echo(text[output_locale()], err=True)

    @grp.command("run")
    def run_cmd(now: NowOpt = None, no_send: Annotated[bool, typer.Option("--no-send")] = False,
                project: ProjectOpt = Path(".")) -> None:
        """Un passo dello scheduler: iscrive, avanza, invia il dovuto / one scheduler beat (enrol, advance, send)."""
        from percorso.activation.service import tick

        with open_cli_project(project) as p:
            report, sent = tick(p, now=now, send=not no_send)
        typer.echo(f"journeys: {report.counts}; sends: {sent.counts if sent else 'skipped'}", err=True)

    @grp.command("export")
    def export_cmd(name: str, out_dir: Annotated[Path, typer.Option("--out", help="Cartella / folder.")],
                   project: ProjectOpt = Path(".")) -> None:
        """File dei pubblici (Google, Meta, CSV) e liste di attività per negozio / call center di un percorso
        (audience files and task lists of the journey's sent audience and task actions)."""
        from percorso.activation.service import write_lists
        from percorso.activation.store import get_journey

        with open_cli_project(project, read_only=True) as p:
            written = write_lists(p, get_journey(p.root, name), out_dir)
        for file, n in written.items():
            typer.echo(f"{out_dir / file}: {n}", err=True)
        if not written:
            typer.echo("nessuna azione di pubblico o attività inviata / no audience or task action sent", err=True)

    @grp.command("log")
    def log_cmd(name: Annotated[str | None, typer.Argument()] = None, limit: Annotated[int, typer.Option("--limit")] = 1000,
                project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Registro delle azioni / the action log (journey, step, customer, variant, channel, status, error)."""
        from percorso.activation.service import action_log

        with open_cli_project(project) as p:
            emit_frame(action_log(p, name, limit), fmt, out, title="action log")
