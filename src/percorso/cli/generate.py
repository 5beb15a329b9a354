"""CLI commands: generate (demo data for an Italian omnichannel sleep retailer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("generate")
    def generate_cmd(
        customers: Annotated[int, typer.Option("--customers", "-n", help="Persone simulate / number of simulated people.")] = 10_000,
        seed: Annotated[int, typer.Option("--seed", "-s", help="Seme casuale / random seed (same seed, same files).")] = 42,
        out: Annotated[Path, typer.Option("--out", "-o", help="Cartella di destinazione / output folder.")] = Path("demo"),
    ) -> None:
        """Genera i file sorgente demo e la verità di base. Writes demo source files and ground truth."""
        import time

        from percorso.cli.common import console
        from percorso.generate import generate

        con = console()
        started = time.perf_counter()
        with con.status("generazione…") as status:
            summary = generate(out, customers, seed, progress=lambda s: status.update(f"generazione: {s}"))
        for name, rows in summary["rows"].items():
            con.print(f"  {name:<26} {rows:>12,} righe")
        con.print(f"persone {summary['persons']:,}, ordini {summary['orders']:,}, righe malformate "
                  f"{summary['malformed']:,} → {out} ({time.perf_counter() - started:.1f} s)")
