"""The dashboard's pages: address, title, who may open them, and the module that draws each.

Why a table: the navigation, the routes (each with the role it needs, so the server's
deny-by-default check covers them), the tests and the docs all read this one list. A page's
view is ``percorso.web.views.<key>.view(ctx)`` returning the template context; a page whose
module does not exist yet is shown as a placeholder that says so.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from percorso.server.tokens import Role


def N_(text: str) -> str:
    """Mark a message for extraction; translated where it is shown."""
    return text


@dataclass(frozen=True)
class Page:
    key: str
    path: str
    title: str        # English message id (Italian in the catalog)
    role: Role
    icon: str = ""

    def view(self) -> Any:
        """The page's ``view(ctx)`` coroutine, or None while the page is still to be built."""
        try:
            module = importlib.import_module(f"percorso.web.views.{self.key}")
        except ModuleNotFoundError as exc:
            if exc.name != f"percorso.web.views.{self.key}":
                raise
            return None
        return module.view


PAGES: tuple[Page, ...] = (
    Page("panoramica", "/", N_("Overview"), Role.viewer),
    Page("mappa", "/mappa", N_("Journey map"), Role.viewer),
    Page("percorsi", "/percorsi", N_("Paths"), Role.viewer),
    Page("funnel", "/funnel", N_("Funnel builder"), Role.viewer),
    Page("frizioni", "/frizioni", N_("Friction"), Role.viewer),
    Page("omnicanale", "/omnicanale", N_("Omnichannel"), Role.viewer),
    Page("attribuzione", "/attribuzione", N_("Attribution and ROI"), Role.viewer),
    Page("valore", "/valore", N_("Value"), Role.viewer),
    Page("personas", "/personas", N_("Personas"), Role.viewer),
    Page("segmenti", "/segmenti", N_("Segments"), Role.viewer),
    Page("attivazione", "/attivazione", N_("Activation"), Role.viewer),
    Page("cliente", "/cliente", N_("Customer 360"), Role.analyst),
    Page("qualita", "/qualita", N_("Data quality"), Role.viewer),
    Page("impostazioni", "/impostazioni", N_("Settings"), Role.admin),
)

BY_KEY = {p.key: p for p in PAGES}

#: URL parameters every page understands and keeps when the reader moves to another page:
#: the date range and the segment filter apply across pages, the language everywhere.
GLOBAL_PARAMS = ("from", "to", "segment", "lang")

#: Words shown from data the catalog must know (role names, why a token was refused).
SHOWN_WORDS = (N_("viewer"), N_("analyst"), N_("crm"), N_("admin"),
               N_("missing"), N_("malformed"), N_("unknown"), N_("expired"), N_("revoked"))
