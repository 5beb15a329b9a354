"""CLI command: demo (generate → import → build → summary checked against the ground truth)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from percorso.cli.common import console, print_note


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("demo")
    def demo_cmd(
        customers: Annotated[int, typer.Option("--customers", "-n", help="Persone simulate / simulated people.")] = 20_000,
        seed: Annotated[int, typer.Option("--seed", "-s", help="Seme casuale / random seed.")] = 42,
        folder: Annotated[Path, typer.Option("--dir", "-d", help="Cartella del progetto demo / demo project folder.")] = Path("demo"),
        fresh: Annotated[bool, typer.Option("--fresh", help="Ricrea la cartella / delete and rebuild the demo folder.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Riepilogo in JSON / print the summary as JSON.")] = False,
        serve: Annotated[bool, typer.Option("--serve", help="Poi apre la dashboard / then serve the dashboard and "
                                            "print a link that opens it logged in (Ctrl-C stops).")] = False,
        host: Annotated[str, typer.Option("--host", help="Con --serve: indirizzo / address.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Con --serve: porta / port.", min=0, max=65535)] = 8000,
        journeys: Annotated[bool, typer.Option("--journeys", help="Poi esegue i percorsi di attivazione sul periodo "
                                               "simulato (i clienti simulati rispondono) e confronta con la verità / "
                                               "then run the activation journeys over the simulated period "
                                               "(docs/activation.md).")] = False,
    ) -> None:
        """Demo completa: genera un rivenditore, importa, costruisce, verifica; con --serve apre la
        dashboard. Full demo; without --serve it exits after the summary (for scripts)."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from percorso.demo import run_demo

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console(), transient=True) as bar:
            task = bar.add_task("demo", total=None)
            report = run_demo(folder, customers=customers, seed=seed, fresh=fresh,
                              progress=lambda msg: bar.update(task, description=str(msg)))
        activation = None
        if journeys:
            from percorso.activation.demo import simulate
            from percorso.project import open_project

            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                          console=console(), transient=True) as bar, open_project(folder) as project:
                task = bar.add_task("journeys", total=None)
                activation = simulate(project, seed=seed, progress=lambda msg: bar.update(task, description=str(msg)))
        if as_json:
            out = report.to_dict() | ({"activation": activation} if activation else {})
            sys.stdout.write(json.dumps(out, default=str, ensure_ascii=False) + "\n")
        else:
            print_demo_summary(report.to_dict())
            if activation:
                print_activation_summary(activation)
        if serve:
            from percorso.cli import goes_on_serving
            from percorso.server.app import serve as serve_project

            goes_on_serving()
            sys.stdout.flush()
            serve_project(folder, host, port, login_link=True)


def print_activation_summary(out: dict[str, Any]) -> None:
    """The shipped journeys' measured uplift against the demo's true one."""
    rows = []
    for name, r in out["journeys"].items():
        rows.append([name, int(r["n_treated"]), int(r["n_control"]), f"{r['true_uplift'] * 100:+.2f}",
                     f"{r['uplift'] * 100:+.2f} ({r['uplift_low'] * 100:+.2f} … {r['uplift_high'] * 100:+.2f})",
                     f"{r['p_value']:.3f}"])
    console(stderr=False).print(_table(
        "attivazione: misurato contro vero / activation: measured vs true uplift (points)",
        [("journey", "left"), ("treated", "right"), ("control", "right"), ("true", "right"),
         ("measured (95 %)", "right"), ("p", "right")], rows))


def _table(title: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from percorso.export.files import format_cell

    t = Table(title=title, title_justify="left")
    for name, justify in columns:
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        t.add_row(*(escape(format_cell(v)) for v in row))
    return t


def print_demo_summary(r: dict[str, Any]) -> None:
    """What the demo found, in the order a marketer asks: who, where, what, what went wrong, how right."""
    from percorso.build.summary import channel_note
    from percorso.export.files import format_cell

    out = console(stderr=False)
    c = r["customers"]
    out.print(f"\n[bold]percorso demo[/bold] — {format_cell(r['customers_simulated'])} persone simulate "
              f"(seed {r['seed']}) in [cyan]{r['folder']}[/cyan]")
    out.print(_table("clienti / customers", [("", "left"), ("", "right")], [
        ["persone trovate / people found", c["customers"]],
        ["con punti di contatto / with touchpoints", c["with_touchpoints"]],
        ["identificati / identified", c["identified"]],
        ["acquirenti / buyers", c["buyers"]],
        ["  solo online / online only", c["online_only"]],
        ["  solo negozio / store only", c["store_only"]],
        ["  omnicanale / both", c["omnichannel"]],
    ]))
    out.print(_table("punti di contatto per canale / touchpoints by channel",
                     [("canale / channel", "left"), ("online", "left"), ("punti di contatto", "right"), ("clienti", "right")],
                     [[x["channel"], x["online"], x["touchpoints"], x["customers"]] for x in r["channels"]]))
    if note := channel_note(r["channels"]):
        print_note(note, out)
    out.print(_table("ordini / orders", [("dove / where", "left"), ("ordini", "right"), ("resi / returns", "right"),
                                         ("ricavi netti / net revenue (EUR)", "right"), ("acquirenti / buyers", "right")],
                     [["online" if x["online"] else "negozio / store", x["orders"], x["returns"], x["revenue"],
                       x["customers"]] for x in r["orders"]]))
    out.print(_table("import per fonte / import by source",
                     [("fonte", "left"), ("file", "left"), ("righe lette", "right"), ("accettate", "right"),
                      ("quarantena", "right"), ("duplicati", "right")],
                     [[s["source"], s["file"], s["rows_read"], s["accepted"], s["quarantined"], s["duplicates"]]
                      for s in r["sources"]]))
    out.print(_table("quarantena per motivo / quarantine by reason",
                     [("fonte", "left"), ("motivo / reason", "left"), ("righe", "right")],
                     [[q["source_name"], q["reason_code"], q["rows"]] for q in r["quarantine"]]))
    rec = r["reconciliation"]
    missing = sum(x["missing"] for x in rec)
    out.print(_table("righe malformate generate vs quarantena / malformed rows vs quarantine",
                     [("fonte", "left"), ("generate", "right"), ("in quarantena", "right"), ("mancanti", "right")],
                     [[x["source_name"], x["generated"], x["in_quarantine"], x["missing"]] for x in rec]))
    out.print("[green]ogni riga malformata è in quarantena / every malformed row is in quarantine[/green]"
              if missing == 0 else f"[red]{missing} righe malformate non in quarantena / not in quarantine[/red]")
    i = r["identity"]
    if i:
        out.print(f"identità / identity: precisione {i['precision']:.4f}, richiamo / recall {i['recall']:.4f} "
                  f"(coppie / pairs: {format_cell(int(i['true_pairs']))} vere, {format_cell(int(i['predicted_pairs']))} "
                  f"previste); hub segnalati / hubs flagged {format_cell(i.get('hubs_flagged', 0))}")
    secs = ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items())
    out.print(f"tempi / timings: {secs}")
    folder = r["folder"]
    out.print("\n[bold]prossimi passi / next steps[/bold]")
    if r.get("example_customer"):
        out.print(f"  percorso customer show {r['example_customer']} --project {folder}")
    for cmd in ("percorso paths top", "percorso journey-map", "percorso funnel page_view add_to_cart purchase",
                "percorso attribution", "percorso export touchpoints --out touchpoints.csv"):
        out.print(f"  {cmd} --project {folder}")
