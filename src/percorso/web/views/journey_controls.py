"""The journey controls shared by Percorsi, Funnel and Frizioni, read from the URL.

``node`` (what a step is), ``scope`` (customer or session), ``collapse`` (merge repeats),
``exclude`` (repeated: labels left out) and ``clean`` (repeated ``regex => alias``: path
cleaning). The same names in every page, so a link from Percorsi to Funnel keeps them.
"""

from __future__ import annotations

from typing import Any

from percorso.web.pages import N_

NODES = ("event", "channel", "event_type", "event_name", "campaign", "page", "store", "stage", "source",
         "device", "region", "utm_source", "utm_medium", "channel+event_type")
NODE_NAMES = {"event": N_("event"), "channel": N_("channel"), "event_type": N_("event type"),
              "event_name": N_("event name"), "campaign": N_("campaign"), "page": N_("page"), "store": N_("store"),
              "stage": N_("stage"), "source": N_("source system"), "device": N_("device"), "region": N_("region"),
              "utm_source": N_("UTM source"), "utm_medium": N_("UTM medium"),
              "channel+event_type": N_("channel and event type")}
PARAMS = ("node", "scope", "collapse", "exclude", "clean")


def journey_fields(ctx: Any) -> dict[str, Any]:
    """The JourneyQuery fields the URL sets (the query validates them; errors show on the page)."""
    clean = []
    for rule in ctx.listing("clean"):
        pattern, _sep, alias = rule.partition("=>")
        if not _sep or not pattern.strip() or not alias.strip():
            ctx.errors.append(ctx._("Path cleaning rule “%(rule)s” is not “pattern => name”; it was ignored")
                              % {"rule": rule})
            continue
        clean.append((pattern.strip(), alias.strip()))
    return {"node": ctx.choice("node", NODES, "event"), "scope": ctx.choice("scope", ("customer", "session"), "customer"),
            "collapse_repeats": ctx.flag("collapse"), "exclude": tuple(ctx.listing("exclude")), "clean": tuple(clean)}


def journey_form(ctx: Any) -> dict[str, Any]:
    """What the shared controls' template part needs."""
    _ = ctx._
    return {"nodes": [(n, _(NODE_NAMES[n])) for n in NODES], "node": ctx.get("node", "event"),
            "scope": ctx.get("scope", "customer"), "collapse": ctx.flag("collapse"),
            "exclude_text": ", ".join(ctx.listing("exclude")), "clean_rules": ctx.listing("clean")}


async def node_labels(ctx: Any, fields: dict[str, Any]) -> list[str]:
    """Every step label in the data for these controls (autocomplete): the transitions query's
    from/to labels, most frequent first (cached with every other answer)."""
    from percorso.journeys.transitions import TransitionsQuery

    r = await ctx.run(TransitionsQuery, **{**fields, "exclude": ()}, top=5000)
    if r is None:
        return []
    counts: dict[str, int] = {}
    for a, b, n in zip(r.frame["from_node"], r.frame["to_node"], r.frame["transitions"]):
        for label in (a, b):
            if label is not None and label != "other":
                counts[str(label)] = counts.get(str(label), 0) + int(n)
    return sorted(counts, key=lambda k: (-counts[k], k))
