"""CLI commands: paths top | transitions | sankey."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, emit_frame, open_cli_project, print_note
from percorso.cli.journey_options import (
    BreakdownOpt, ChartOpt, CleanOpt, CollapseOpt, ExcludeOpt, FromOpt, LimitOpt, NodeOpt, OffsetOpt, OnlineOpt, ScopeOpt,
    SegmentOpt, ToOpt, journey_controls,
)

CHART_SUFFIXES = (".html", ".htm", ".png", ".svg", ".pdf")

paths_app = typer.Typer(help="Percorsi: varianti, transizioni, Sankey / paths, transitions, Sankey.",
                        no_args_is_help=True)

StartOpt = Annotated[str | None, typer.Option("--start", help=(
    "Parti dal primo nodo X / start at the first X (or purchase:store | purchase:online | purchase:any)."))]
EndOpt = Annotated[str | None, typer.Option("--end", help=(
    "Fermati al primo nodo X / stop at the first X; purchase:store | purchase:online | purchase:any: "
    "al primo acquisto di quel tipo / at the first purchase of that kind, whatever --node."))]
DrillOpt = Annotated[
    str | None,
    typer.Option("--customers", help="Clienti dietro un valore / customers behind a cell, e.g. 'from_node=Email'."),
]


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(paths_app, name="paths")


def run_with_progress(p: Any, query: Any, title: str, *, machine_output: bool = False) -> Any:
    """``run(query)`` with a progress bar on stderr (:mod:`percorso.progress`): at 100M
    touchpoints an analysis runs for a minute, and a silent terminal looks hung."""
    from percorso.analysis.base import run
    from percorso.progress import StepProgress, show_progress

    engine = p.engine if getattr(p.engine, "kind", "") == "duckdb" else None   # Spark has no estimate
    with StepProgress(engine, enabled=show_progress(machine_output)) as step:
        step(title)
        return run(p.engine, query, p.settings)


def run_journey_analysis(project: Path, query: Any, fmt: OutputFormat, out: Path | None, chart: Path | None,
                         drill: str | None, title: str, *, limit: int = 1000, offset: int = 0,
                         labels: tuple[str, ...] = (), what: str = "") -> None:
    """Run a journey query and print its table, chart or drill-down (shared by every journey command).

    The drill-down prints one page of ``limit`` customers from ``offset``; when the page is full,
    stderr names the ``--offset`` of the next one, so a cell of 3,000 customers is never read as
    the first 1,000 only. ``labels`` are node labels the user typed (funnel steps, ``--start``,
    ``--end``): one that no touchpoint has is an error with "did you mean" rather than a table
    of zeros (checked when the result is empty somewhere, and always for event types).
    """
    from percorso.cli.common import console, one_blas_thread, output_locale, write_figure

    from percorso.engine.imports_meanwhile import want

    one_blas_thread()   # the answer is a frame of aggregates: numpy, no BLAS routine
    if _needs_frame(query, fmt, out, chart, drill):
        want("pandas")  # imported while the engine works (the answer is a pandas frame)
    chart_only = out is not None and out.suffix.lower() in CHART_SUFFIXES and not drill
    if chart_only:
        chart, out = out, None  # --out FILE.html|.png writes the chart instead of the table
    with open_cli_project(project, read_only=True) as p:
        result = run_with_progress(p, query, title, machine_output=fmt is not OutputFormat.table)
        query = result.query  # as it ran: step names read against the data (a note says how)
        for note in result.notes(output_locale()):   # in the project's language
            print_note(note)
        # event types are a closed vocabulary: checking them costs no query, so always
        if labels and (_empty_somewhere(result) or query.node in ("event_type", "event") and not query.clean):
            from percorso.journeys.controls import absent_types_note, require_labels

            require_labels(p.engine, query, labels, what=what)
            note = absent_types_note(p.engine, query, labels) if _empty_somewhere(result) else None
            if note:
                print_note(note)
        if chart is not None:
            write_figure(result.figure(), chart)
            if chart_only:
                return
        if drill:
            selector = parse_selector(drill)
            frame = result.customers(limit=limit, offset=offset, **selector)
            emit_frame(frame, fmt, out, title=f"clienti / customers: {drill}")
            if len(frame) == limit:
                console().print(f"… pagina piena / page full: i successivi / next ones with --offset {offset + limit}")
            console().print("scheda / profile: percorso customer show ID")
            return
        from percorso.build.definitions import titled

        emit_frame(result.table(), fmt, out, title=titled(title, result.meta.get("definitions")))
        if fmt is OutputFormat.table and out is None:
            for section, frame in getattr(result, "sections", dict)().items():
                emit_frame(frame, fmt, None, title=section)


def _needs_frame(query: Any, fmt: OutputFormat, out: Path | None, chart: Path | None, drill: str | None) -> bool:
    """Whether the command makes a pandas frame: unless it prints JSON or CSV of an analysis whose
    result holds rows (:attr:`percorso.analysis.base.Runner.gives_rows`)."""
    from percorso.analysis.base import runner_for

    printed = fmt in (OutputFormat.json, OutputFormat.csv) and out is None and chart is None and not drill
    return not (printed and runner_for(query.kind).gives_rows)


def _empty_somewhere(result: Any) -> bool:
    """A funnel with a step nobody reached, or a path / Sankey result without journeys."""
    from percorso.analysis.rows import Rows

    table = result.table()   # rows or a frame: read without making a frame of rows
    if "reached" in table.columns:
        reached = table.column("reached") if isinstance(table, Rows) else list(table["reached"])
        return not len(table) or any(r == 0 for r in reached)
    return not result.meta.get("journeys", 1)


def _anchors(start: str | None, end: str | None) -> tuple[str, ...]:
    """The node labels among ``--start`` / ``--end`` (``purchase:store`` and co. are not labels)."""
    from percorso.journeys.controls import typed_labels

    return typed_labels(x for x in (start, end) if x is not None)


def parse_selector(text: str) -> dict[str, Any]:
    """'step=2,node=Email' → {'step': 2, 'node': 'Email'} (values that look like integers become ints)."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--customers {text!r}: expected KEY=VALUE[,KEY=VALUE]")
        v = value.strip()
        out[key.strip()] = int(v) if v.lstrip("-").isdigit() else v
    return out


@paths_app.command("top")
def top_cmd(
    project: ProjectOpt = Path("."),
    steps: Annotated[int, typer.Option("--steps", help="Passi massimi per percorso / max steps.")] = 6,
    top: Annotated[int, typer.Option("--top", help="Varianti mostrate / variants shown (rest → other).")] = 20,
    start: StartOpt = None,
    end: EndOpt = None,
    converting: Annotated[bool, typer.Option("--converting", help="Solo percorsi con acquisto / converting only.")] = False,
    date_from: FromOpt = None, date_to: ToOpt = None, node: NodeOpt = "event", scope: ScopeOpt = "customer",
    clean: CleanOpt = None, collapse: CollapseOpt = False, exclude: ExcludeOpt = None, segment: SegmentOpt = None,
    online: OnlineOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None, chart: ChartOpt = None,
    drill: DrillOpt = None, breakdown: BreakdownOpt = None, limit: LimitOpt = 1000, offset: OffsetOpt = 0,
) -> None:
    """Percorsi più frequenti con quota e conversione / top path variants (with an 'other' row)."""
    from percorso.journeys.paths import PathsQuery

    q = PathsQuery(max_steps=steps, top=top, start=start, end=end, converting_only=converting, **journey_controls(
        date_from=date_from, date_to=date_to, node=node, scope=scope, clean=clean, collapse=collapse,
        exclude=exclude, segment=segment, online=online, breakdown=breakdown))
    run_journey_analysis(project, q, fmt, out, chart, drill, "percorsi / paths", limit=limit, offset=offset,
                         labels=_anchors(start, end), what="--start/--end")


@paths_app.command("transitions")
def transitions_cmd(
    project: ProjectOpt = Path("."),
    top: Annotated[int, typer.Option("--top", help="Coppie mostrate / pairs shown (rest → other).")] = 50,
    ends: Annotated[bool, typer.Option("--ends", help="Mostra (start) e (end) / show journey starts and ends.")] = False,
    date_from: FromOpt = None, date_to: ToOpt = None, node: NodeOpt = "event", scope: ScopeOpt = "customer",
    clean: CleanOpt = None, collapse: CollapseOpt = False, exclude: ExcludeOpt = None, segment: SegmentOpt = None,
    online: OnlineOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None, chart: ChartOpt = None,
    drill: DrillOpt = None, breakdown: BreakdownOpt = None, limit: LimitOpt = 1000, offset: OffsetOpt = 0,
) -> None:
    """Da → a: transizioni, clienti, minuti mediani / from → to with customers and median time."""
    from percorso.journeys.transitions import TransitionsQuery

    q = TransitionsQuery(top=top, include_ends=ends, **journey_controls(
        date_from=date_from, date_to=date_to, node=node, scope=scope, clean=clean, collapse=collapse,
        exclude=exclude, segment=segment, online=online, breakdown=breakdown))
    run_journey_analysis(project, q, fmt, out, chart, drill, "transizioni / transitions", limit=limit, offset=offset)


@paths_app.command("sankey")
def sankey_cmd(
    project: ProjectOpt = Path("."),
    steps: Annotated[int, typer.Option("--steps", help="Posizioni / positions.")] = 5,
    top_k: Annotated[int, typer.Option("--top-k", help="Nodi per posizione / nodes per position (rest → other).")] = 8,
    start: StartOpt = None,
    end: EndOpt = None,
    date_from: FromOpt = None, date_to: ToOpt = None, node: NodeOpt = "event", scope: ScopeOpt = "customer",
    clean: CleanOpt = None, collapse: CollapseOpt = False, exclude: ExcludeOpt = None, segment: SegmentOpt = None,
    online: OnlineOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None, chart: ChartOpt = None,
    drill: DrillOpt = None, limit: LimitOpt = 1000, offset: OffsetOpt = 0,
) -> None:
    """Flussi dopo/prima di un nodo / Sankey of N steps after --start, before --end, or between."""
    from percorso.journeys.sankey import SankeyQuery

    q = SankeyQuery(steps=steps, top_k=top_k, start=start, end=end, **journey_controls(
        date_from=date_from, date_to=date_to, node=node, scope=scope, clean=clean, collapse=collapse,
        exclude=exclude, segment=segment, online=online))
    run_journey_analysis(project, q, fmt, out, chart, drill, "flussi / Sankey links", limit=limit, offset=offset,
                         labels=_anchors(start, end), what="--start/--end")
