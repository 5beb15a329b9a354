"""CLI commands: build (touchpoints, orders and customers from the imported events)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from percorso.cli.common import (FormatOpt, OutputFormat, ProjectOpt, console, one_blas_thread, open_cli_project,
                                 print_note)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("build")
    def build_cmd(
        project: ProjectOpt = ".",  # type: ignore[assignment]
        full: Annotated[bool, typer.Option("--full", help="Ricostruisce tutto / rebuild from every event.")] = False,
        no_refresh: Annotated[bool, typer.Option("--no-refresh", help="Non ricalcola CLV, personas e segmenti "
                                                 "salvati (li segna come non aggiornati) / do not refresh the "
                                                 "stored CLV, personas and segments (they are marked stale).")] = False,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        """Costruisce clienti, punti di contatto e ordini (incremental unless --full); poi aggiorna
        CLV, personas e segmenti salvati (refreshes the stored value artefacts)."""
        one_blas_thread()   # the identity solver's integer arrays: no BLAS routine
        from percorso.build import run_build
        from percorso.engine.imports_meanwhile import soon

        soon("numpy")   # identity's solver: imported while the database opens (ADR 0070)

        from percorso.progress import StepProgress, show_progress

        with open_cli_project(project, engine="duckdb") as p:
            with StepProgress(p.engine, enabled=show_progress(fmt is OutputFormat.json)) as steps:
                # a process of its own: a full build keeps the engine's freed blocks (ADR 0035, 0098)
                report = run_build(p, full=full, refresh=not no_refresh, progress=steps, keep_block_memory=True)
            if fmt is OutputFormat.json:
                sys.stdout.write(json.dumps(report.to_dict(), default=str, ensure_ascii=False) + "\n")
                return
            print_build_summary(p.engine, report)


def print_build_summary(engine: object, report: object) -> None:
    """Rich summary of a build: counts, channels and orders (after a full build), timings."""
    from rich.table import Table

    from percorso.cli.common import cell as format_cell  # in the project locale

    out = console(stderr=False)
    r = report.to_dict()  # type: ignore[attr-defined]
    head = Table(title=f"build {r['mode']} ({format_cell(r['seconds'].get('total', 0.0))} s)")
    head.add_column("voce / item")
    head.add_column("valore / value", justify="right")
    for label, key in (("eventi / events", "events"), ("eventi nuovi letti / new events read", "new_events"),
                       ("eventi senza cliente / events without a person", "events_without_customer"),
                       ("clienti ricostruiti / customers rebuilt", "customers_rebuilt"),
                       ("persone trovate / people found", "customers"),
                       ("punti di contatto / touchpoints", "touchpoints"),
                       ("ordini / orders", "orders")):
        head.add_row(label, format_cell(r[key]))
    out.print(head)
    if r["mode"] == "full":
        _print_breakdown(engine, out)
    else:
        # an incremental build read what changed; the breakdown reads every touchpoint and order
        # (and loads Ibis and pandas): at 10M events, more than the build itself
        print_note("canali e ordini / channels and orders: `percorso omnichannel` (una build incrementale "
                   "legge solo ciò che è cambiato / an incremental build reads only what changed)")
    secs = ", ".join(f"{k} {format_cell(v)} s" for k, v in r["seconds"].items())
    console().print(f"tempi / timings: {secs}")
    if r.get("value"):
        from percorso.value.refresh import RefreshReport

        value = RefreshReport(**r["value"])
        print_note(value.summary())
        for w in value.warnings:
            print_note(f"attenzione / warning: {w}")


def _print_breakdown(engine: object, out: object) -> None:
    """Touchpoints by channel and orders online vs in store (whole tables: after a full build)."""
    from rich.markup import escape
    from rich.table import Table

    from percorso.build.summary import channel_note, orders_by_place, touchpoints_by_channel
    from percorso.cli.common import cell as format_cell

    t = Table(title="punti di contatto per canale / touchpoints by channel")
    for col in ("canale / channel", "punti di contatto / touchpoints", "clienti / customers"):
        t.add_column(col, justify="left" if col.startswith("canale") else "right")
    rows = touchpoints_by_channel(engine)  # type: ignore[arg-type]
    for row in rows:
        t.add_row(escape(str(row["channel"])), format_cell(row["touchpoints"]), format_cell(row["customers"]))
    out.print(t)  # type: ignore[attr-defined]
    if note := channel_note(rows):
        print_note(note, out)
    t = Table(title="ordini / orders")
    for col in ("dove / where", "ordini / orders", "resi / returns", "ricavi netti / net revenue (EUR)",
                "acquirenti / buyers"):
        t.add_column(col, justify="left" if col.startswith("dove") else "right")
    for row in orders_by_place(engine):  # type: ignore[arg-type]
        t.add_row("online" if row["online"] else "negozio / store", format_cell(row["orders"]),
                  format_cell(row["returns"]), format_cell(row["revenue"]), format_cell(row["customers"]))
    out.print(t)  # type: ignore[attr-defined]
