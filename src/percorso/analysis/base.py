"""Query → Runner → Result, the one shape of every analysis.

Why: the CLI, the Python API, the REST API and the dashboard must all ask the same
question the same way and get the same typed answer. A query is a frozen, serialisable
pydantic model with a ``kind``; its runner turns it into Ibis expressions over the build
tables (data stays in the engine) and returns a typed result holding only aggregates.
Every result can list the customers behind any of its numbers (drill-down).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from percorso.analysis.rows import FrameField, Rows, held
from percorso.errors import InputError, suggest

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from percorso.engine import Engine


class AnalysisQuery(BaseModel):
    """Base of every analysis query: immutable, validated, no unknown fields.

    Common controls every analysis understands (each may ignore what does not apply):
    ``date_from`` / ``date_to`` (inclusive local days of the project time zone, on
    ``occurred_at_local``; a ``datetime`` is a local wall time; ADR 0012) and
    ``segment`` (a stored segment name, see the value package).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str] = ""
    date_from: date | datetime | None = None
    date_to: date | datetime | None = None
    segment: str | None = None

    def resolve(self, engine: Engine) -> tuple[AnalysisQuery, list[str]]:
        """The query as it will run, and notes on what was read differently from how it was
        typed (journey queries read step names against the data, see
        :func:`percorso.journeys.controls.resolve_steps`). By default: unchanged, no notes."""
        return self, []


#: Notes said in both languages in ``meta["notes"]``: the bilingual opening → each language's.
_BILINGUAL_OPENINGS: dict[str, dict[str, str]] = {}


def bilingual_note(it: str, en: str) -> str:
    """The opening ``"it / en"`` of a note said in both languages, registered so that
    :func:`note_in` can say it in one.

    Why: ``meta["notes"]`` travels as text (the API, the server's cache), so the result knows
    a note by its words; what follows the opening (step names, numbers) is kept as it is.

    >>> opening = bilingual_note("esempio letto", "example read")
    >>> note_in(opening + ": a, b", "en")
    'example read: a, b'
    """
    both = f"{it} / {en}"
    _BILINGUAL_OPENINGS[both] = {"it": it, "en": en}
    return both


def note_in(note: str, lang: str) -> str:
    """``note`` in ``lang`` (``it`` | ``en``) when it opens with a :func:`bilingual_note`, else as it is."""
    for both, texts in _BILINGUAL_OPENINGS.items():
        if note.startswith(both) and lang in texts:
            return texts[lang] + note[len(both):]
    return note


Q = TypeVar("Q", bound=AnalysisQuery)
R = TypeVar("R", bound="AnalysisResult")


@dataclass
class AnalysisResult:
    """Base of every analysis result: a main table plus the means to drill down.

    Subclasses add typed fields; ``frame`` is the main table the CLI prints. A runner may give a
    table as :class:`~percorso.analysis.rows.Rows` (no pandas in its process until someone reads
    the table as a frame: :class:`~percorso.analysis.rows.FrameField`).
    """

    frame: pd.DataFrame = FrameField()  # type: ignore[assignment]
    query: AnalysisQuery
    meta: dict[str, Any] = field(default_factory=dict)
    _runner: Runner[Any, Any] | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The main table as pandas (a copy, safe to modify)."""
        return self.frame.copy()

    def table(self, name: str = "frame") -> pd.DataFrame | Rows:
        """A table of this result as its runner made it: :class:`~percorso.analysis.rows.Rows` (the
        command line writes JSON and CSV from them without pandas) or a frame (not a copy)."""
        return held(self, name)

    def figure(self) -> go.Figure:  # pragma: no cover - overridden
        raise NotImplementedError(f"{type(self).__name__} has no chart")

    def notes(self, lang: str = "it") -> list[str]:
        """The notes to show with this result, in ``lang`` (``it`` | ``en``) where the analysis
        words them in one language at a time (the dashboard's page language); by default
        ``meta["notes"]`` as they are.

        Why: ``meta["notes"]`` (the API's) may be one line in both languages; a page in one
        language, or the CLI of a project in one language, shows the note in that language,
        from the result's own data (a note opening with :func:`bilingual_note`'s words)."""
        return [note_in(str(n), lang) for n in self.meta.get("notes", []) or []]

    def customers(self, limit: int = 100, offset: int = 0, **selector: Any) -> pd.DataFrame:
        """The customers behind one number of this result (a page of them).

        ``selector`` names the cell, e.g. ``channel="Email"`` or ``step=3``; the runner
        decides which selectors it understands and says so when one is unknown.
        """
        if self._runner is None:
            raise InputError("this result was not produced by a runner; drill-down unavailable")
        remote = getattr(self._runner, "customers_page", None)
        if remote is not None:  # a result from a server (percorso.client): the server drills down
            return remote(limit=limit, offset=offset, **selector)
        expr = self._runner.customers_expr(**selector)
        frame = self._runner.engine.execute(expr.order_by("customer_id").limit(limit, offset=offset))
        check = _DRILL_CHECKS.get(self._runner.query.kind)
        if frame.empty and offset == 0 and selector and check is not None:
            # nobody behind the cell: a misspelt value (a node, a channel) says so, as the CLI does
            check(self._runner, dict(selector))
        return frame


_RUNNERS: dict[str, type[Runner[Any, Any]]] = {}
#: Analysis kind → a check of drill-down selector values that raises :class:`InputError` with
#: "did you mean" when a value names nothing in the data (see :func:`register_drill_check`).
_DRILL_CHECKS: dict[str, Callable[[Runner[Any, Any], dict[str, Any]], None]] = {}


def register_drill_check(kinds: Iterable[str], check: Callable[[Runner[Any, Any], dict[str, Any]], None]) -> None:
    """Check the selector values of these analyses' drill-downs when a page comes back empty.

    Why: a drill-down matches values by exact text, so ``customers(from_node="Emial")`` listed
    nobody, as if the cell were empty. The check runs only on an empty first page (a normal
    drill-down costs nothing more); it raises :class:`InputError` (code ``selector_invalid``)
    naming the close and valid values, and returns when the value exists (a true zero).
    """
    for kind in kinds:
        _DRILL_CHECKS[kind] = check


def require_value(engine: Engine, values: Any, value: Any, *, what: str) -> None:
    """Raise :class:`InputError` (``selector_invalid``) unless ``value`` is among the distinct
    values of the Ibis column ``values``; the message lists the close and valid ones."""
    known = engine.execute(values.name("v").as_table().distinct())["v"].dropna().astype(str)
    if str(value) not in set(known):
        raise InputError(f"unknown {what} '{value}'; {suggest(str(value), known, limit=30)}", code="selector_invalid")


class Runner(Generic[Q, R]):
    """Turns one query into engine expressions and a typed result.

    Subclasses set ``query_type`` and implement :meth:`calculate` and
    :meth:`customers_expr`; they register themselves by their query's ``kind``.
    """

    query_type: ClassVar[type[AnalysisQuery]]
    #: Columns of the main table whose values, as ``customers(**selector)`` arguments, list the
    #: customers behind a row's numbers (the REST answer links every row to its customers).
    drill_by: ClassVar[tuple[str, ...]] = ()
    #: Whether the result's tables are :class:`~percorso.analysis.rows.Rows` (a command printing
    #: them as JSON or CSV imports no pandas).
    gives_rows: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        qt = cls.__dict__.get("query_type")
        if qt is not None and qt.kind:
            _RUNNERS[qt.kind] = cls

    def __init__(self, engine: Engine, query: Q, settings: Any = None) -> None:
        self.engine = engine
        self.query = query
        self.settings = settings

    def calculate(self) -> R:
        raise NotImplementedError

    def customers_expr(self, **selector: Any) -> Any:
        """Ibis expression with a ``customer_id`` column: the customers behind a cell."""
        raise InputError(f"{type(self).__name__} does not support drill-down")


def runner_for(kind: str) -> type[Runner[Any, Any]]:
    try:
        return _RUNNERS[kind]
    except KeyError:
        raise InputError(f"unknown analysis '{kind}'; {suggest(kind, _RUNNERS)}") from None


def run(engine: Engine, query: AnalysisQuery, settings: Any = None) -> AnalysisResult:
    """Run any registered analysis: ``run(project.engine, FunnelQuery(steps=[...]))``."""
    query, notes = query.resolve(engine)
    runner = runner_for(query.kind)(engine, query, settings)
    result = runner.calculate()
    if result._runner is None:
        result._runner = runner
    if notes:  # the CLI prints them on stderr
        result.meta["notes"] = [*result.meta.get("notes", []), *notes]
    return result
