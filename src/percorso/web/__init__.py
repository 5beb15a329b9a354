"""The dashboard: server-rendered pages at ``/`` over the same query objects as REST and the CLI.

Why server-rendered (Jinja2 + HTMX + Plotly.js, ADR 0024): one Python process serves the API
and the pages, every control lives in the URL (a link shares the view, back and forward work),
and no page holds logic of its own: each page builds the typed queries of
:mod:`percorso.api`, runs them through the server's cached runner path
(:func:`percorso.server.routes.analyses.answer`, the one ``POST /v1/analyses/{kind}`` uses)
and draws the result. No SQL here; no asset from a CDN (``plotly.min.js`` comes from the
installed ``plotly`` package, ``htmx.min.js`` is vendored in ``static/vendor``).
"""
