"""CLI commands: value (RFM, CLV, churn, cohorts, segments)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project


def _run(project: Path, query: object) -> object:
    from percorso.analysis.base import run

    p = open_cli_project(project)
    return run(p.engine, query, p.settings)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    clv = typer.Typer(help="Customer lifetime value (BG/NBD + Gamma-Gamma) / valore del cliente nel tempo.")
    seg = typer.Typer(help="Rule-based segments / segmenti basati su regole.")
    app.add_typer(clv, name="clv")
    app.add_typer(seg, name="segment")

    @app.command("rfm")
    def rfm_cmd(project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Segmenti RFM: clienti e valore per segmento (RFM segments)."""
        from percorso.value.rfm import RFMQuery

        emit_frame(_run(project, RFMQuery()).to_frame(), fmt, out, title="RFM")

    @clv.command("fit")
    def clv_fit(project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Stima i modelli e scrive customer_value (fit the models, write customer_value)."""
        from percorso.value.clv.analysis import CLVQuery

        emit_frame(_run(project, CLVQuery()).to_frame(), fmt, out, title="CLV")

    @clv.command("predict")
    def clv_predict(
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
        limit: Annotated[int, typer.Option(help="Rows (top CLV first).")] = 100,
    ) -> None:
        """Clienti con CLV più alto da customer_value (top customers by CLV)."""
        import ibis

        p = open_cli_project(project)
        t = p.engine.table("customer_value")
        emit_frame(p.engine.execute(t.order_by(ibis.desc("clv")).limit(limit)), fmt, out, title="CLV")

    @clv.command("validate")
    def clv_validate(
        holdout: Annotated[str, typer.Option(help="Holdout window, e.g. 26w, 180d, 6m.")] = "26w",
        chart: Annotated[Path | None, typer.Option(help="Write the chart (HTML).")] = None,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Previsti vs reali nel periodo di holdout (predicted vs actual in the holdout)."""
        from percorso.value.clv.analysis import validate_holdout

        p = open_cli_project(project)
        res = validate_holdout(p.engine, holdout, p.settings)
        if chart is not None:
            res.figure().write_html(str(chart))
        emit_frame(res.to_frame(), fmt, out, title=f"holdout {holdout}")

    @app.command("churn")
    def churn_cmd(project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Rischio di abbandono e CLV a rischio (churn risk and CLV at stake); run `clv fit` first."""
        from percorso.value.churn import ChurnQuery

        emit_frame(_run(project, ChurnQuery()).to_frame(), fmt, out, title="churn")

    @app.command("cohorts")
    def cohorts_cmd(
        by: Annotated[str, typer.Option(help="month | channel")] = "month",
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Coorti di acquisizione e retention (acquisition cohorts and retention)."""
        from percorso.value.cohorts import CohortQuery

        emit_frame(_run(project, CohortQuery(by=by)).to_frame(), fmt, out, title="cohorts")

    @seg.command("create")
    def seg_create(
        name: str,
        rule: Annotated[str | None, typer.Option(help="Rule as JSON.")] = None,
        file: Annotated[Path | None, typer.Option(help="Rule JSON file.")] = None,
        project: ProjectOpt = Path("."),
    ) -> None:
        """Crea o sostituisce un segmento (create or replace a segment)."""
        from percorso.errors import InputError
        from percorso.value.segments.store import save_segment

        if (rule is None) == (file is None):
            raise InputError("give exactly one of --rule JSON or --file FILE")
        text = rule if rule is not None else file.read_text(encoding="utf-8")  # type: ignore[union-attr]
        p = open_cli_project(project)
        n = save_segment(p.engine, name, text)
        typer.echo(f"segmento '{name}': {n} clienti", err=True)

    @seg.command("list")
    def seg_list(project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None) -> None:
        """Elenca i segmenti (list segments)."""
        from percorso.value.segments.store import list_segments

        emit_frame(list_segments(open_cli_project(project).engine), fmt, out, title="segments")

    @seg.command("show")
    def seg_show(name: str, project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table,
                 out: OutOpt = None) -> None:
        """Definizione e dimensione di un segmento (definition and size)."""
        from percorso.value.segments.store import show_segment

        emit_frame(show_segment(open_cli_project(project).engine, name), fmt, out, title=name)

    @seg.command("export")
    def seg_export(name: str, project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.csv,
                   out: OutOpt = None) -> None:
        """Esporta i clienti del segmento (export members)."""
        from percorso.value.segments.store import members

        p = open_cli_project(project)
        emit_frame(p.engine.execute(members(p.engine, name)), fmt, out, title=name)
