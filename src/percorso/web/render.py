"""Templates: one Jinja2 environment per language, autoescaped, with the catalogs installed.

Why autoescape everywhere (``.html`` and every string): tracking data is written by anyone who
can load a page with a crafted URL or referrer, and it reaches the dashboard as page names,
campaigns and paths. Nothing is marked safe except the JSON of a chart, which travels in an
escaped ``data-`` attribute and is parsed by ``static/app.js``, never run.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from percorso.web.i18n import translations

TEMPLATES = Path(__file__).parent / "templates"

#: Content Security Policy of every page: scripts and styles from this server only (Plotly sets
#: inline styles on its SVG; no inline script anywhere).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@lru_cache(maxsize=None)
def environment(locale: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                      auto_reload=False)  # templates ship with the code: no file check per page
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200, locale: str = "it") -> HTMLResponse:
    """The page ``template`` with ``context``, in ``locale``, with the security headers and the CSRF cookie."""
    from percorso.web.session import set_csrf_cookie

    html = environment(locale).get_template(template).render(**context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"  # pages hold customer data for some roles
    set_csrf_cookie(request, response)
    return response
