"""CLI commands: ``percorso clv fit | predict | validate | models | bayes``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project
from percorso.cli.journey_options import ChartOpt
from percorso.cli.value import LimitOpt, OffsetOpt, warn, warn_stale

CalOpt = Annotated[datetime | None, typer.Option("--calibration-end", help="Ultimo giorno usato per il fit / last "
                                                 "day of the fit (default: last order).", formats=["%Y-%m-%d"])]


def register(app: typer.Typer) -> None:
    """Add the ``clv`` group to the root app."""
    clv = typer.Typer(help="Customer lifetime value (BG/NBD + Gamma-Gamma) / valore del cliente nel tempo.")
    app.add_typer(clv, name="clv")

    @clv.command("fit")
    def clv_fit(
        calibration_end: CalOpt = None,
        horizon: Annotated[int | None, typer.Option("--horizon-months", help="Mesi di CLV / months of CLV "
                                                    "(default \\[value.clv] horizon_months).")] = None,
        discount: Annotated[float | None, typer.Option("--monthly-discount-rate", help="Sconto mensile / "
                                                       "monthly discount rate.")] = None,
        chart: ChartOpt = None, project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
    ) -> None:
        """Stima i modelli e scrive customer_value (fit, with standard errors and 95% intervals)."""
        from percorso.cli.common import console, write_figure
        from percorso.cli.value import run_value
        from percorso.value.clv.analysis import CLVQuery

        res = run_value(project, CLVQuery(calibration_end=calibration_end.date() if calibration_end else None,
                                          horizon_months=horizon, monthly_discount_rate=discount))
        if chart is not None:
            write_figure(res.figure(), chart)
        emit_frame(res.to_frame(), fmt, out, title="CLV: BG/NBD + Gamma-Gamma")
        console().print(f"calibrazione fino al / calibration end {res.meta['calibration_end']}, "
                        f"orizzonte / horizon {res.meta['horizon_months']} mesi; CLV per decile: "
                        "percorso clv predict --decile 1")
        warn(res.meta["warnings"])

    @clv.command("predict")
    def clv_predict(
        decile: Annotated[int | None, typer.Option("--decile", min=1, max=10, help="Solo un decile di CLV "
                                                   "(1 = top) / one CLV decile.")] = None,
        limit: LimitOpt = 100, offset: OffsetOpt = 0,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Clienti per CLV da customer_value (per-customer predictions, top CLV first)."""
        from percorso.cli.common import console
        from percorso.value.clv.analysis import predictions_page

        p = open_cli_project(project, read_only=True)
        frame, about = predictions_page(p.engine, p.settings, decile=decile, limit=limit, offset=offset)
        warn_stale(p.engine, "clv")
        emit_frame(frame, fmt, out, title="CLV")
        if about:
            console().print(f"calibration end {about['calibration_end']:%Y-%m-%d}, horizon {about['horizon_months']} months")

    @clv.command("validate")
    def clv_validate(
        holdout: Annotated[str, typer.Option(help="Ultimo periodo tenuto da parte / holdout window: "
                                             "26w, 180d, 6m.")] = "26w",
        bucket: Annotated[str | None, typer.Option("--bucket", help="Elenca i clienti di una riga (0 … 6, 7+) / "
                                                   "list the customers of one frequency bucket.")] = None,
        limit: LimitOpt = 100, offset: OffsetOpt = 0,
        chart: ChartOpt = None, project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table,
        out: OutOpt = None,
    ) -> None:
        """Previsti vs reali nel periodo di holdout, per frequenza (predicted vs actual purchases)."""
        from percorso.cli.common import console, write_figure
        from percorso.value.clv.analysis import validate_holdout

        p = open_cli_project(project)
        res = validate_holdout(p.engine, holdout, p.settings)
        if chart is not None:
            write_figure(res.figure(), chart)
        if bucket is not None:
            emit_frame(res.customers(limit=limit, offset=offset, bucket=bucket), fmt, out,
                       title=f"holdout {holdout}, bucket {bucket}")
        else:
            emit_frame(res.to_frame(), fmt, out, title=f"holdout {holdout}")
        m = res.meta
        console().print(f"fit fino al / calibration end {m['calibration_end']}; {m['customers']} clienti: "
                        f"previsti / predicted {m['predicted_total']:.1f}, reali / actual {m['actual_total']:.0f} "
                        f"acquisti ({m['total_error']:+.1%})")
        warn(m["warnings"])

    @clv.command("models")
    def clv_models(
        all_fits: Annotated[bool, typer.Option("--all", help="Tutti i fit / every stored fit.")] = False,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Parametri dell'ultimo fit con errori standard (estimates, SE, 95% intervals of the last fit)."""
        from percorso.value.clv.pipeline import models_frame

        engine = open_cli_project(project, read_only=True).engine
        warn_stale(engine, "clv")
        emit_frame(models_frame(engine, all_fits=all_fits), fmt, out, title="CLV models")

    @clv.command("bayes")
    def clv_bayes(
        calibration_end: CalOpt = None,
        sample: Annotated[int, typer.Option(help="Clienti nel fit / customers in the fit.")] = 20_000,
        draws: Annotated[int, typer.Option(help="Campioni per catena / draws per chain.")] = 1000,
        tune: Annotated[int, typer.Option(help="Campioni di adattamento / tuning draws.")] = 1000,
        chains: Annotated[int, typer.Option(help="Catene / chains.")] = 2,
        seed: Annotated[int, typer.Option(help="Seme / random seed.")] = 0,
        project: ProjectOpt = Path("."), fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    ) -> None:
        """Fit bayesiano con intervalli di credibilità (needs `pip install 'percorso\\[bayes]'`)."""
        from percorso.value.clv.bayes import fit_bayes, require_pymc_marketing

        require_pymc_marketing()  # fail before opening the project
        p = open_cli_project(project, read_only=True)
        res = fit_bayes(p.engine, p.settings, calibration_end=calibration_end.date() if calibration_end else None,
                        sample=sample, draws=draws, tune=tune, chains=chains, seed=seed)
        emit_frame(res.to_frame(), fmt, out, title="CLV bayes: posterior vs maximum likelihood")
        warn(res.meta["warnings"])

