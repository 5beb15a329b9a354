"""CLI commands: identity (risoluzione dell'identità / identity resolution)."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from percorso.cli.common import (
    FormatOpt, OutOpt, OutputFormat, ProjectOpt, console, emit_frame, local_times, open_cli_project,
)

if TYPE_CHECKING:
    import pandas as pd


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    ident = typer.Typer(help="Identità: unisce gli identificativi in clienti (identity resolution).",
                        no_args_is_help=True)
    app.add_typer(ident, name="identity")

    @ident.command("resolve")
    def resolve_cmd(
        project: ProjectOpt = ".",  # type: ignore[assignment]
        full: Annotated[bool, typer.Option("--full", help="Ricalcola da tutti gli eventi / recompute from every event.")] = False,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        """Risolve l'identità dei clienti (stitch identifiers into customers; ids stay stable)."""
        from percorso.identity import resolve

        with open_cli_project(project) as p, console().status("identità…") as status:
            report = resolve(p, full=full, progress=lambda msg: status.update(msg))
        _emit_dict(report.to_dict(), fmt)

    @ident.command("explain")
    def explain_cmd(
        query: Annotated[str, typer.Argument(help="Codice cliente, e-mail, telefono, carta o altro identificativo.")],
        project: ProjectOpt = ".",  # type: ignore[assignment]
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        """Spiega perché gli identificativi sono un cliente (chain of links and the events behind them)."""
        from percorso.identity import explain

        with open_cli_project(project, read_only=True) as p:
            e = explain(p, query)
            tz = p.settings.project.time_zone
        if fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(e.to_dict(), default=str, ensure_ascii=False, indent=2) + "\n")
            return
        import pandas as pd

        def show(frame: pd.DataFrame, title: str) -> None:
            # tables in project time, like `customer show`, so both name the same hour for one event;
            # keyed hashes (64 hex) cut to 12: enough to tell them apart, and the table stays readable
            if fmt is OutputFormat.table:
                frame, title = short_hashes(local_times(frame, tz)), f"{title} (ora {tz})"
            emit_frame(frame, fmt, title=title)

        c = console(stderr=False)
        c.print(f"[bold]cliente {e.customer_id}[/bold] — {len(e.identifiers)} identificativi"
                + (f" (anche / also: {', '.join(e.also)})" if e.also else ""))
        cols = ["from", "to", "rule", "event_id", "known_event_id", "source_name", "source_file", "source_line", "occurred_at", "n_events", "trusted"]
        if e.chain:
            show(pd.DataFrame(e.chain).reindex(columns=cols), "collegamenti usati / links used")
        if e.other_links:
            show(pd.DataFrame(e.other_links)[["id_type_a", "id_value_a", "id_type_b", "id_value_b", "status",
                                              "event_id", "source_name", "occurred_at"]],
                 "collegamenti scartati / flagged, blocked, rejected")
        if e.flags:
            show(pd.DataFrame(e.flags), "identificativi segnalati / flagged hubs")
        if e.merges:
            show(pd.DataFrame(e.merges), "fusioni / merges")

    @ident.command("flags")
    def flags_cmd(
        project: ProjectOpt = ".",  # type: ignore[assignment]
        fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
        limit: Annotated[int, typer.Option("--limit", help="Righe al massimo / max rows.")] = 1000,
    ) -> None:
        """Elenca gli identificativi condivisi segnalati (hubs: shared tablets, family e-mails)."""
        with open_cli_project(project, read_only=True) as p:
            if not p.engine.has_table("identity_flags"):
                from percorso.errors import NotFound

                raise NotFound("no identity_flags yet; run `percorso identity resolve` first")
            frame = p.engine.execute(p.engine.table("identity_flags").order_by(
                [p.engine.table("identity_flags").n_linked.desc(), "id_type", "id_value"]).limit(limit))
        emit_frame(frame, fmt, out, title="identificativi segnalati / flagged identifiers")


_HASH = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{52}\b")


def short_hashes(frame: pd.DataFrame) -> pd.DataFrame:
    """Every 64-hex HMAC key in the text cells of ``frame`` cut to its first 12 digits and '…'."""
    return frame.apply(lambda col: col.map(lambda v: _HASH.sub(r"\1…", v) if isinstance(v, str) else v))


def _emit_dict(d: dict, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(d, default=str) + "\n")
        return
    import pandas as pd

    emit_frame(pd.DataFrame({"item": list(d), "value": [str(v) for v in d.values()]}), fmt)
