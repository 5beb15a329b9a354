"""Options and output helpers shared by every command."""

from __future__ import annotations

import sys
from contextvars import ContextVar
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

    from percorso.analysis.rows import Rows

    from percorso.project import Project


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


class Locale(str, Enum):
    it = "it"
    en = "en"


ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", help="Project folder (holds percorso.toml).", show_default=".")
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")]
LocaleOpt = Annotated[Locale | None, typer.Option("--locale", help="Language and number format (it|en).")]


#: Number and date format of printed tables and of ``--out FILE.csv``: the ``[project] locale``
#: of the project this command opened (``it`` until one is opened).
_LOCALE: ContextVar[str] = ContextVar("percorso_cli_locale", default="it")


def reset_locale() -> None:
    """Back to the default output format (``it``), before a command opens its project."""
    _LOCALE.set("it")


def one_blas_thread() -> None:
    """Let numpy's OpenBLAS start no thread pool in this process (unless the user set its size).

    For a command whose numpy work is no BLAS routine: a build (the identity solver's integer
    arrays, connected components) and the journey analyses (pandas frames of aggregates).
    Starting OpenBLAS's threads as numpy loads cost a fresh process ~0.05 s of wall time on a
    2-core machine (import 0.11 -> 0.06 s). Only before numpy is loaded (in a long-running
    process, such as the server, it is already); never for the models (personas, churn),
    whose fits do use BLAS.
    """
    import os

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def open_cli_project(path: Path, *, read_only: bool = False, engine: str | None = None) -> Project:
    """Open the command's project; its ``[project] locale`` becomes the output format.

    ``engine="duckdb"`` for the commands that write the database (whatever ``--engine``)."""
    from percorso.project import open_project

    project = open_project(path, read_only=read_only, engine=engine)
    _LOCALE.set(project.settings.project.locale)
    return project


def output_locale() -> str:
    """The opened project's ``[project] locale`` (``it`` | ``en``), for text a command formats itself."""
    return _LOCALE.get()


def cell(value: Any) -> str:
    """One value as text in the opened project's locale (see :func:`emit_frame`)."""
    from percorso.export.files import format_cell

    return format_cell(value, locale=_LOCALE.get())


def local_time(value: Any, tz: str) -> Any:
    """A stored UTC timestamp as wall-clock time in the project zone (other values unchanged).

    Why: people read tables in the time they lived (a store receipt at 17:30 in Milan, not
    16:30 UTC); files and JSON keep UTC for machines.
    """
    from percorso.engine.localtime import local_value

    return local_value(value, tz)


def local_times(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """A copy of ``frame`` with every timestamp cell in project time (see :func:`local_time`)."""
    out = frame.copy()
    for col in out.columns:
        out[col] = out[col].map(lambda v: local_time(v, tz)).astype(object)
    return out


#: Width of standard output when it is not a terminal: wide enough that nothing wraps.
UNWRAPPED_WIDTH = 100_000


def console(stderr: bool = True) -> Any:
    """A Rich console on stderr (messages) or stdout (results).

    Results sent to a pipe or a file are never wrapped: Rich would otherwise cut them at 80
    columns, splitting a table row (and a number in it) over two lines a script then misreads.
    """
    from rich.console import Console

    c = Console(stderr=stderr, highlight=False)
    if not stderr and not c.is_terminal:
        return Console(stderr=stderr, highlight=False, width=UNWRAPPED_WIDTH)
    return c


def print_note(note: str, out: Any = None) -> None:
    """A line of plain text under a result (a note, a caveat, a hint) on ``out`` (default: stderr).

    Why one helper: a note names things from the data, whose ``[brackets]`` Rich would read as
    markup and whose numbers it would colour; and Rich would cut a long note at the terminal's
    width, where a pipe or a log should get one line per note (the terminal wraps it anyway).
    """
    (out or console()).print(note, markup=False, highlight=False, soft_wrap=True)


def emit_frame(
    frame: pd.DataFrame | Rows,
    fmt: OutputFormat = OutputFormat.table,
    out: Path | None = None,
    *,
    title: str | None = None,
    locale: str | None = None,
    like: dict[str, str] | None = None,
) -> None:
    """Write a result frame as a Rich table, CSV, JSON or XLSX (to ``out`` or stdout).

    ``frame`` may be :class:`~percorso.analysis.rows.Rows` (an analysis result's table).
    Machines (JSON, CSV, Parquet) get the frame's English keys and raw numbers in every locale;
    people (tables, XLSX) get headers in the project's language and numbers formatted by column
    kind (:mod:`percorso.export.columns`; ``like`` maps a column to the key whose kind it
    shares, e.g. a pivot's channel columns to the measure). ``locale`` defaults to the opened project's ``[project] locale`` (``it``: 1.234,50
    and dd/mm/yyyy, ``;`` CSV for Excel; ``en``: 1,234.50, ISO dates, ``,`` CSV).
    """
    from percorso.analysis.rows import table_of
    from percorso.export.files import frame_to_json, write_frame

    locale = locale or _LOCALE.get()
    if out is not None or fmt not in (OutputFormat.json, OutputFormat.csv):
        frame = table_of(frame)   # rows (analysis.rows) print as JSON and CSV without pandas; else a frame

    if out is not None:
        write_frame(frame, out, locale=locale, like=like)
        console().print(f"[green]scritto / written[/green] {shown_path(out)} ({cell(len(frame))} righe / rows)")
        return
    if fmt is OutputFormat.json:
        sys.stdout.write(frame_to_json(frame) + "\n")
    elif fmt is OutputFormat.csv:
        from percorso.export.files import frame_to_csv_text

        sys.stdout.write(frame_to_csv_text(frame, profile="standard"))
    elif fmt is OutputFormat.xlsx:
        raise typer.BadParameter("--format xlsx needs --out FILE.xlsx")
    else:
        print_table(frame, title=title, locale=locale, like=like)


def shown_path(path: Path) -> str:
    """A file name for a Rich message, shown as typed ([brackets] in it are not markup)."""
    from rich.markup import escape

    return escape(str(path))


def print_table(frame: pd.DataFrame, *, title: str | None = None, locale: str | None = None,
                max_rows: int = 200, like: dict[str, str] | None = None) -> None:
    """``frame`` as a table for people in the project's language (see :mod:`percorso.cli.tables`)."""
    from percorso.cli.tables import print_table as _print

    _print(frame, title=title, locale=locale or _LOCALE.get(), max_rows=max_rows, like=like)  # type: ignore[arg-type]


def write_figure(figure: Any, out: Path) -> None:
    """Write a Plotly figure to ``.html`` (self-contained, works offline) or ``.png``.

    PNG export needs the optional ``kaleido`` package and a Chromium; the error says so
    rather than failing deep inside Plotly.
    """
    suffix = out.suffix.lower()
    if suffix in (".html", ".htm"):
        figure.write_html(str(out), include_plotlyjs=True, full_html=True)
    elif suffix in (".png", ".svg", ".pdf"):
        try:
            figure.write_image(str(out))
        except (ImportError, ValueError, RuntimeError) as exc:
            raise typer.BadParameter(
                f"cannot write {out.name}: {exc}. Image export needs `pip install kaleido` and Chromium; "
                "use --out FILE.html instead"
            ) from None
    else:
        raise typer.BadParameter(f"chart file {out.name}: use .html or .png")
    console().print(f"[green]grafico scritto / chart written[/green] {shown_path(out)}")
