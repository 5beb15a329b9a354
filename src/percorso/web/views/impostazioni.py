"""Impostazioni (admins only): the project's sources as ``percorso.toml`` declares them, with the
latest import of each, and the API tokens (create one, revoke one).

Tokens go through :mod:`percorso.server.tokens` like ``percorso token create|revoke`` and
``/v1/tokens``; the new token is shown once, on the answer to the form, never stored in clear.
The forms post to :mod:`percorso.web.actions` with the CSRF field.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from percorso.server.tokens import Role
from percorso.web.tables import table_view


def sources_frame(state: Any) -> pd.DataFrame:
    """Declared sources (name, kind, trusted for identity) with their latest import, if any."""
    from percorso.web.views.qualita import imports_frame

    last = imports_frame(state.engine)
    last = last.sort_values("finished_at", ascending=False).drop_duplicates("source_name")
    rows = [{"source_name": name, "source_kind": s.kind, "trusted": bool(s.trusted) if s.trusted is not None else None,
             "mapped_columns": len(s.mapping or {})} for name, s in state.project.settings.sources.items()]
    frame = pd.DataFrame(rows, columns=["source_name", "source_kind", "trusted", "mapped_columns"])
    frame = frame.merge(last[["source_name", "source_file", "accepted", "quarantined", "finished_at"]], how="left",
                        on="source_name")
    # row counts stay whole numbers where a source has no import yet (the merge made them floats: 1.234,00)
    return frame.astype({"accepted": "Int64", "quarantined": "Int64"})


async def view(ctx: Any) -> dict[str, Any]:
    from percorso.server.tokens import list_tokens

    state, _, loc = ctx.state, ctx._, ctx.locale
    sources = await state.db(sources_frame, state)
    rows = await state.db(list_tokens, state.engine)
    # the token rows as they come (a handful of dicts): one frame for the table, the active
    # ones picked from the list (masks and drops on a frame were ~1 ms of a 20 ms page)
    active = [r for r in rows if r["state"] == "active"]
    shown = pd.DataFrame([{k: v for k, v in r.items() if k != "last_used_at"} for r in rows])
    return {
        "sources": table_view(sources, loc, labels={"source_name": _("Source"), "source_kind": _("Kind"),
                                                    "trusted": _("Trusted for identity"),
                                                    "mapped_columns": _("Mapped columns"), "source_file": _("Last file")}),
        "tokens": table_view(shown, loc, labels={"token_id": _("Token id"), "name": _("Name"), "role": _("Role"),
                                                  "state": _("State")}),
        "active": [(r["token_id"], f"{r['name']} ({_(r['role'])}, {r['token_id']})") for r in active],
        "roles": [(r.name, _(r.name)) for r in Role], "new_token": None, "project_root": str(state.root),
    }


view.cacheable = False  # type: ignore[attr-defined]  # tokens change without a data version (created, revoked, used)
