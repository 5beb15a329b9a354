"""Cliente 360: find a customer by name, e-mail, phone, loyalty card or id; their summary, a
timeline across every channel, their orders, and why their identifiers are one person, in words.

Searching goes through :func:`percorso.profile.search.search_customers` (a fragment of any
contact field, compared in the engine) and, for an exact identifier whose contact data is only
stored as a keyed hash, :func:`percorso.profile.lookup.find_customer`; the profile is
:func:`percorso.profile.customer_profile` and the explanation :func:`percorso.identity.explain`:
the same functions as ``percorso customer show`` and ``percorso identity explain``. Every view
of one person is written to the audit log, as the REST route does. Analysts and up only.
"""

from __future__ import annotations

from typing import Any

from percorso.errors import NotFound, PercorsoError
from percorso.events import event_label
from percorso.web.i18n import format_date, format_number
from percorso.web.pages import N_
from percorso.web.palette import channel_colour
from percorso.web.tables import table_view

PAGE = 100
#: Identifier kinds in words (hashed kinds name the contact, never the hash).
ID_WORDS = {"email_key": N_("the e-mail address"), "phone_key": N_("the phone number"),
            "tax_code_key": N_("the tax code"), "loyalty_card": N_("loyalty card %(v)s"), "crm_id": N_("CRM record %(v)s"),
            "order_id": N_("order %(v)s"), "anonymous_id": N_("a browser or app (cookie %(v)s)"),
            "user_id": N_("the web account %(v)s"), "device_id": N_("the device %(v)s")}


def id_words(ctx: Any, id_type: str, value: str) -> str:
    text = ctx._(ID_WORDS.get(id_type, N_("%(t)s %(v)s")))
    return text % {"v": value[:16], "t": id_type}


def explain_in_words(ctx: Any, e: Any) -> list[str]:
    """One sentence per link that joined two identifiers, in the order they chain."""
    _ = ctx._
    out = []
    for link in e.chain:
        a, b = id_words(ctx, link["id_type_a"], str(link["id_value_a"])), id_words(ctx, link["id_type_b"], str(link["id_value_b"]))
        when = format_date(link.get("occurred_at"), ctx.locale)
        if str(link.get("rule", "")).startswith("device"):
            out.append(_("%(a)s and %(b)s used the same device (IP address and browser) on %(when)s.")
                       % {"a": a, "b": b, "when": when})
        else:
            where = link.get("source_file") or link.get("source_name") or "?"
            line = link.get("source_line")
            out.append(_("%(a)s and %(b)s appear in the same record of %(where)s%(line)s (%(when)s), so they are the same person.")
                       % {"a": a, "b": b, "where": where, "when": when,
                          "line": (_(", line %(n)s") % {"n": line}) if line else ""})
    return out


async def view(ctx: Any) -> dict[str, Any]:
    state, _, loc = ctx.state, ctx._, ctx.locale
    text = (ctx.get("q") or "").strip()
    cid = ctx.get("id")
    hits = None
    if text and not cid:
        hits = await _search(ctx, text)
        if hits is not None and len(hits) == 1:
            cid = str(hits["customer_id"].iloc[0])
    out: dict[str, Any] = {"q": text, "hits": None, "profile": None}
    if hits is not None and not cid:
        out["hits"] = table_view(hits, loc, customer_link=True, labels={"customer_id": _("Customer")})
    if cid:
        out["profile"] = await _profile(ctx, cid)
    return out


async def _search(ctx: Any, text: str) -> Any:
    from percorso.profile import find_customer
    from percorso.profile.search import search_customers

    state = ctx.state
    try:
        hits = await state.db(lambda: search_customers(state.engine, text, limit=50, settings=state.project.settings))
        if not len(hits):  # an exact identifier stored only as a keyed hash (a tax code, a normalised phone)
            try:
                found = await state.db(find_customer, state.engine, state.project.settings, text)
            except NotFound:
                found = None
            if found:
                hits = await state.db(lambda: search_customers(state.engine, found, limit=1, settings=state.project.settings))
    except PercorsoError as exc:
        ctx.errors.append(exc.message)
        return None
    await state.audit(ctx.request, "customer_search", query={"text_length": len(text)}, rows=len(hits))
    return hits


def _profile_of(state: Any, cid: str, offset: int) -> Any:
    from percorso.profile import customer_profile

    return customer_profile(state.engine, cid, limit=PAGE, offset=offset, settings=state.project.settings)


async def _profile(ctx: Any, cid: str) -> dict[str, Any] | None:
    from percorso.identity import explain

    state, _, loc = ctx.state, ctx._, ctx.locale
    offset = ctx.integer("offset", 0, 0, 10_000_000)
    try:
        # once per data version (the audit row below is written on every opening)
        p = await state.read("customer_profile", _profile_of, state, cid, offset)
        e = await state.read("identity_explain", explain, state.project, cid)
    except PercorsoError as exc:
        ctx.errors.append(exc.message)
        return None
    await state.audit(ctx.request, "customer_view", query={"customer_id": p.customer_id}, rows=len(p.timeline))
    s = p.summary
    name = " ".join(str(s.get(k)) for k in ("first_name", "last_name") if s.get(k) and s.get(k) == s.get(k))
    facts = [(_("Customer"), p.customer_id), (_("E-mail"), s.get("email")), (_("Phone"), s.get("phone")),
             (_("Loyalty card"), s.get("loyalty_card")), (_("City"), s.get("city")), (_("Home store"), s.get("home_store")),
             (_("First channel"), s.get("first_channel")), (_("Stage now"), _(str(s.get("current_stage") or "—"))),
             (_("Orders"), format_number(s.get("n_orders") or 0, "count", loc)),
             (_("Revenue"), format_number(s.get("revenue") or 0, "money", loc)),
             (_("First seen"), format_date(s.get("first_seen_at"), loc)), (_("Last seen"), format_date(s.get("last_seen_at"), loc)),
             (_("Marketing consent"), _("yes") if s.get("consent_marketing") else _("no"))]
    facts = [(k, v) for k, v in facts if v is not None and v == v and v != ""]
    timeline = [{"when": format_date(r["occurred_at_local"], loc, with_time=True), "channel": r["channel"],
                 "colour": channel_colour(r["channel"]), "event": event_label(r["event_type"], r.get("event_name")), "stage": _(str(r["stage"] or "")),
                 "detail": " · ".join(str(v) for v in (r.get("campaign"), r.get("store_id"), r.get("order_id"),
                                                       format_number(r["revenue"], "money", loc) if r.get("revenue") == r.get("revenue") and r.get("revenue") is not None else None)
                                      if v is not None and v == v and v != "")}
                for r in p.timeline.to_dict("records")]
    return {"id": p.customer_id, "name": name or p.customer_id, "facts": facts, "timeline": timeline,
            "total": p.total_touchpoints, "offset": offset,
            "next_url": ctx.url(offset=offset + PAGE) if offset + PAGE < p.total_touchpoints else None,
            "prev_url": ctx.url(offset=max(0, offset - PAGE) or None) if offset else None,
            "channels": table_view(p.channels, loc), "orders": table_view(p.orders.drop(columns=["occurred_at"], errors="ignore"), loc),
            "identity": explain_in_words(ctx, e), "n_identifiers": len(e.identifiers),
            "flags": len(e.flags), "other_links": len(e.other_links), "also": e.also}


view.cacheable = False  # type: ignore[attr-defined]  # every view of one person is audited, and the search is not a function of the data version alone
