"""What a page's view works with: the URL's controls, the reader's role and language, and the
one way to run a query (the REST route's cached path, so a page and the API show the same numbers).

Every control is a URL parameter. :meth:`PageContext.url` rewrites the current address with
some parameters changed, so links, forms and the back button all carry the whole view; the
global filters (:data:`percorso.web.pages.GLOBAL_PARAMS`) follow the reader from page to page.
A bad value (a date that is not a date) is reported on the page and ignored, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from pydantic import ValidationError

from percorso.errors import PercorsoError
from percorso.server.tokens import Principal, Role
from percorso.web.i18n import gettext_for, parse_locale
from percorso.web.pages import GLOBAL_PARAMS, Page


@dataclass
class PageContext:
    """One request to one page."""

    request: Request
    page: Page
    principal: Principal
    locale: str
    params: dict[str, str]
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _encoded: dict[int, tuple[Any, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, request: Request, page: Page) -> PageContext:
        state = request.app.state.percorso
        params = {k: v for k, v in request.query_params.items() if v != ""}
        locale = parse_locale(params.get("lang"), state.project.settings.project.locale)
        return cls(request, page, request.state.principal, locale, params)

    # -- who and how ------------------------------------------------------------------------
    @property
    def state(self) -> Any:
        return self.request.app.state.percorso

    @property
    def viewer(self) -> bool:
        """Aggregates only: no customer id, no contact data, no drill-down."""
        return self.principal.role < Role.analyst

    @property
    def _(self) -> Any:
        return gettext_for(self.locale)

    # -- controls ---------------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.params.get(name, default)
        if value not in options:
            self.errors.append(self._("“%(value)s” is not a valid %(name)s; valid: %(options)s")
                               % {"value": value, "name": name, "options": ", ".join(options)})
            return default
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            self.errors.append(self._("“%(value)s” is not a valid %(name)s; valid: a whole number from %(lo)d to %(hi)d")
                               % {"value": raw, "name": name, "lo": lo, "hi": hi})
            return default
        return value

    def flag(self, name: str) -> bool:
        return self.params.get(name, "") in ("1", "true", "on", "yes", "si", "sì")

    def listing(self, name: str) -> list[str]:
        """Every value of a repeated parameter (``?step=a&step=b``), in order, blanks dropped."""
        return [v for v in self.request.query_params.getlist(name) if v.strip()]

    def _date(self, name: str) -> date | None:
        from percorso.web.i18n import DATE_INPUT, read_date

        raw = self.params.get(name)
        if not raw:
            return None
        try:
            return read_date(raw)
        except ValueError:
            self.errors.append(self._("“%(value)s” is not a date (%(hint)s); the filter was ignored")
                               % {"value": raw, "hint": DATE_INPUT[self.locale][1]})
            return None

    def shown_date(self, name: str) -> str:
        """The day of parameter ``name`` as its control shows it (``04/12/2026`` in Italian)."""
        from percorso.web.i18n import input_date

        return input_date(self.params.get(name), self.locale)

    @property
    def date_hint(self) -> str:
        """What a date control asks for (``gg/mm/aaaa`` in Italian): its placeholder and title."""
        from percorso.web.i18n import DATE_INPUT

        return DATE_INPUT[self.locale][1]

    def filters(self) -> dict[str, Any]:
        """The global filters as query fields: ``date_from``, ``date_to``, ``segment``."""
        out: dict[str, Any] = {"date_from": self._date("from"), "date_to": self._date("to"),
                               "segment": self.params.get("segment") or None}
        if out["date_from"] and out["date_to"] and out["date_from"] > out["date_to"]:
            self.errors.append(self._("The start date is after the end date; the date filter was ignored"))
            out["date_from"] = out["date_to"] = None
        return out

    # -- addresses --------------------------------------------------------------------------
    def url(self, path: str | None = None, *, keep: bool = True, **changes: Any) -> str:
        """The current view's address with ``changes`` (None removes a parameter; a list repeats it).

        ``keep=False`` keeps only the global filters (a link to another page).
        """
        items: list[tuple[str, str]] = []
        for k, v in self.request.query_params.multi_items():
            if (keep or k in GLOBAL_PARAMS) and k not in changes and v != "":
                items.append((k, v))
        for k, v in changes.items():
            if v is None or v == "" or v is False:
                continue
            for one in v if isinstance(v, (list, tuple)) else [v]:
                items.append((k, "1" if one is True else str(one)))
        query = urlencode(items)
        return (path or self.request.url.path) + (f"?{query}" if query else "")

    def page_url(self, page: Page) -> str:
        return self.url(page.path, keep=False)

    def hidden(self, *, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """The current parameters a form must carry along (everything it does not set itself)."""
        return [(k, v) for k, v in self.request.query_params.multi_items() if k not in exclude and v != ""]

    def drill_url(self, query: Any, selector: dict[str, Any]) -> str | None:
        """The customers behind one number (None for a viewer, who sees aggregates only)."""
        if self.viewer or not selector:
            return None
        return f"/clienti?{self._query_part(query)}&" + urlencode({"sel": _compact(selector), "lang": self.locale})

    def export_url(self, query: Any, table: str, fmt: str) -> str:
        """A table of a result as a file (``csv``: Italian Excel CSV; ``xlsx``)."""
        return f"/esporta?{self._query_part(query)}&" + urlencode({"table": table, "format": fmt, "lang": self.locale})

    def _query_part(self, query: Any) -> str:
        """``kind=…&q=…`` of a query, encoded once per query and request: a Sankey or a long table
        links hundreds of numbers to the same query (dumping and quoting it each time was
        ~0.3 s of a cold /percorsi on the 2,000-person demo)."""
        key = id(query)
        hit = self._encoded.get(key)
        if hit is None or hit[0] is not query:
            hit = (query, urlencode({"kind": query.kind, "q": _compact(query.model_dump(mode="json"))}))
            self._encoded[key] = hit
        return hit[1]

    def fmt(self, value: Any, kind: str, unit: str | None = None) -> str:
        """A number for a template: ``ctx.fmt(x, 'share')`` (the CLI's formats, in the reader's language)."""
        from percorso.web.i18n import format_number

        return format_number(value, kind, self.locale, unit=unit)

    # -- running ----------------------------------------------------------------------------
    async def run(self, query_type: type, **fields: Any) -> Any:
        """Validate and run a query with the global filters; the typed result, or None with the
        reason on the page (a bad control, a step the data does not have)."""
        from percorso.server.routes.analyses import answer

        try:
            query = query_type(**{**self.filters(), **fields})
            out = await answer(self.state, query)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ())) or query_type.__name__
            self.errors.append(f"{where}: {first.get('msg', '')}")
            return None
        except PercorsoError as exc:
            self.errors.append(exc.message)
            return None
        result = out.result(self.viewer)
        for note in result.notes(self.locale):   # in the page's language where the result has both
            if note not in self.notes:
                self.notes.append(note)
        return result

    async def has_data(self) -> bool:
        """The project has been built (touchpoints exist): otherwise every page says how to import."""
        engine = self.state.engine
        return bool(await self.state.db(lambda: engine.has_table("touchpoints") and engine.has_table("customers")))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)

