"""GET /login/link/{code}: redeem a one-time login link into the session cookie, then open ``/``.

The answer is a small page that moves on to ``/`` by itself rather than a redirect: a
``SameSite=Strict`` cookie set while following a link from another application (a terminal)
would not be sent with a redirect in the same navigation, and the user would land on the
log-in form.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from percorso.server.login_link import PATH
from percorso.server.security import PUBLIC, endpoint

router = APIRouter(tags=["dashboard"])

_OPEN = """<!doctype html><html lang="it"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url=/"><title>percorso</title></head>
<body><main><p><a href="/">Apri la dashboard / open the dashboard</a></p></main></body></html>"""
_SPENT = """<!doctype html><html lang="it"><head><meta charset="utf-8"><title>percorso</title></head>
<body><main><h1>Link scaduto o già usato / link expired or already used</h1>
<p>Ogni link di accesso vale una volta per dieci minuti. Accedi con un token
(<code>percorso token create --role viewer --name NOME</code>) da <a href="/login">/login</a>.</p>
<p>Each log-in link works once, for ten minutes. Log in with a token from <a href="/login">/login</a>.</p>
</main></body></html>"""


@endpoint(router, "GET", PATH + "{code}", role=PUBLIC, include_in_schema=False)
async def redeem(code: str, request: Request) -> HTMLResponse:
    token = request.app.state.percorso.login_links.redeem(code)
    if token is None:
        return HTMLResponse(_SPENT, status_code=410, headers={"Cache-Control": "no-store"})
    response = HTMLResponse(_OPEN, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    from percorso.web.session import start_session

    start_session(request, response, token)  # the same cookie as the log-in form's
    return response
