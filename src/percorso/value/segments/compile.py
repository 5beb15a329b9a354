"""Compile a predicate tree to an Ibis boolean over the customer profile.

Two-valued logic on purpose: a comparison on a missing value is false (``coalesce(…, false)``),
so ``not`` means "everyone else", as a marketer expects. Behaviours are counted in the engine
(one group-by per behaviour node) and tested with a semi-join; nothing is evaluated row by
row in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import ibis

from percorso.errors import InputError
from percorso.value.segments.definition import FIELDS, And, Behaviour, Compare, Not, Or, fields_used

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from percorso.engine import Engine

SITE_SOURCES = ("web", "app")
STORE_EVENTS = ("store_visit", "receipt", "return")
#: Touchpoint behaviours: action → event type of one occurrence.
STEP_EVENTS = {"opened_email": "email_open", "clicked_email": "email_click", "viewed_product": "product_view",
               "added_to_cart": "add_to_cart", "started_checkout": "checkout"}
#: Abandonment: action → (event type of the step, later event types that, like a purchase
#: order, mean the customer went on). A step is abandoned when none of them comes after it.
ABANDONMENTS = {"abandoned_browse": ("product_view", ("add_to_cart",)), "abandoned_cart": ("add_to_cart", ()),
                "abandoned_checkout": ("checkout", ())}


def _need(engine: Engine, table: str, hint: str) -> None:
    if not engine.has_table(table):
        raise InputError(f"the rule uses fields of {table}: run `{hint}` first")


def _value(engine: Engine, settings: Any) -> Table:
    _need(engine, "customer_value", "percorso clv fit")
    return engine.table("customer_value")


def _churn(engine: Engine, settings: Any) -> Table:
    from percorso.value.churn import churn_expr

    _need(engine, "customer_value", "percorso clv fit")
    return churn_expr(engine).mutate(churn_risk_level=ibis._.risk_level)


def _rfm(engine: Engine, settings: Any) -> Table:
    from percorso.value.rfm import rfm_expr

    return rfm_expr(engine)


def _health(engine: Engine, settings: Any) -> Table:
    from percorso.value.health import health_expr
    from percorso.value.settings import value_settings

    h = health_expr(engine, value_settings(settings).health)
    return h.mutate(health_score=h.score, health_band=h.band)


def _personas(engine: Engine, settings: Any) -> Table:
    from percorso.value.personas import TABLE

    _need(engine, TABLE, "percorso personas")
    return engine.table(TABLE)


#: Field source (see :data:`FIELDS`) → the per-customer table holding its columns.
SOURCES: dict[str, Callable[[Engine, Any], Table]] = {
    "customer_value": _value, "churn": _churn, "rfm": _rfm, "health": _health, "personas": _personas,
}


def profile_expr(engine: Engine, rule: Any, settings: Any = None, fields: tuple[str, ...] | list[str] = ()) -> Table:
    """``customers`` plus the derived columns (value, churn, RFM, health, persona) the rule
    uses, and those of ``fields``."""
    c = engine.table("customers")
    used = fields_used(rule) | set(fields)
    for source, make in SOURCES.items():
        cols = sorted(f for f in used if FIELDS[f][0] == source)
        if cols:
            x = make(engine, settings).select("customer_id", *cols)
            c = c.left_join(x, "customer_id").select(c, *(x[k] for k in cols))
    return c


def reference_time(engine: Engine) -> Any:
    """The end of "the last N days": the local time of the last touchpoint in the data
    (windows count local calendar time, like every day of the analyses)."""
    return engine.execute(engine.table("touchpoints").occurred_at_local.max())


def abandoned_steps(engine: Engine, step: str, later: tuple[str, ...] = ()) -> Table:
    """The ``step`` touchpoints after which the customer placed no purchase order (online or in
    store, returns excluded) and had no touchpoint of a ``later`` type, ever.

    Why: "cart abandoners" are those the shop can still win back; a purchase in store after
    adding to the online cart is a purchase, not an abandonment. A follow-up at the very same
    time as the step counts as coming after it. One left join on each customer's last
    follow-up time: a step is abandoned when it is later than all of them.
    """
    t = engine.table("touchpoints")
    steps = t.filter(t.event_type == step, t.customer_id.notnull())
    o = engine.table("orders")
    o = o.filter(~o.is_return.fill_null(False), o.customer_id.notnull())
    follow = o.select("customer_id", "occurred_at")
    if later:
        nxt = t.filter(t.event_type.isin(later), t.customer_id.notnull())
        follow = follow.union(nxt.select("customer_id", "occurred_at"))
    last = follow.group_by("customer_id").aggregate(_last=follow.occurred_at.max())
    j = steps.left_join(last, "customer_id")
    return j.filter(j._last.isnull() | (j.occurred_at > j._last)).select(*steps.columns)


def behaviour_counts(engine: Engine, b: Behaviour) -> Table:
    """Per customer, how many times they did ``b.action`` (in the window): see ``ACTIONS``."""
    a = b.action
    if a in ("bought_in_store", "bought_online", "returned"):
        t = engine.table("orders")
        ret = t.is_return.fill_null(False)
        t = t.filter(ret) if a == "returned" else t.filter(~ret, t.online.fill_null(False) == (a == "bought_online"))
    elif a in ABANDONMENTS:
        t = abandoned_steps(engine, *ABANDONMENTS[a])
    else:
        t = engine.table("touchpoints")
        if a in STEP_EVENTS:
            t = t.filter(t.event_type == STEP_EVENTS[a])
        else:
            t = t.filter({
                "visited_site": lambda: t.source_system.isin(SITE_SOURCES),
                "visited_store": lambda: t.event_type.isin(STORE_EVENTS) & ~t.online.fill_null(False),
                "called": lambda: t.channel == "Call center",
            }[a]())
    t = t.filter(t.customer_id.notnull())
    if b.within_days is not None:
        ref = reference_time(engine)
        if ref is None:
            return t.filter(ibis.literal(False)).group_by("customer_id").aggregate(n=t.count())
        t = t.filter(t.occurred_at_local >= ref - timedelta(days=b.within_days))
    if a == "visited_site":
        n = t.session_id.nunique()
    elif a == "visited_store":
        n = t.occurred_at_local.date().nunique()  # visit days are local days
    else:
        n = t.count()
    return t.group_by("customer_id").aggregate(n=n)


def absent_step_types(engine: Engine, rule: Any) -> list[str]:
    """The event types the rule's step behaviours (``added_to_cart``, ``abandoned_cart``…) count
    and that no touchpoint has: why such a segment is empty, when it is.

    Why: a clickstream that names its add-to-cart event ``cart`` imports it as a generic event,
    and ``abandoned_cart`` then finds nobody, which reads as "no customer abandons a cart".
    """
    def steps(node: Any) -> set[str]:
        if isinstance(node, Behaviour):
            step = STEP_EVENTS.get(node.action) or ABANDONMENTS.get(node.action, (None,))[0]
            return {step} if step else set()
        if isinstance(node, (And, Or)):
            return set().union(*(steps(r) for r in node.rules))
        return steps(node.rule) if isinstance(node, Not) else set()

    wanted = sorted(steps(rule))
    if not wanted:
        return []
    t = engine.table("touchpoints")
    found = set(engine.execute(t.filter(t.event_type.isin(wanted)).select("event_type").distinct())["event_type"])
    return [w for w in wanted if w not in found]


def untyped_event_names(engine: Engine, generic_type: str = "custom") -> dict[str, dict[str, int]]:
    """Source → {event name: touchpoints} of the events imported as ``generic_type`` (names no
    type, alias or mapping knew), most touchpoints first.

    Why: when a segment's step has no event in the data (:func:`absent_step_types`), these are
    the names the data may call it (a clickstream's ``cart``); the command then says what the
    import said of them (``ingest.pipeline.generic_names_text``), names and source as they are.
    """
    from percorso.build.details import with_details

    t = engine.table("touchpoints")
    # the source name is a detail read from the events (ADR 0061), joined for these rows only
    c = with_details(engine, t.filter(t.event_type == generic_type), ["source_name"])
    counts = c.group_by(["source_name", "event_name"]).aggregate(n=c.count())
    out: dict[str, dict[str, int]] = {}
    for r in engine.rows(counts.order_by(["source_name", ibis.desc("n"), "event_name"])):
        out.setdefault(str(r["source_name"]), {})[str(r["event_name"])] = int(r["n"])
    return out


def compile_rule(engine: Engine, rule: Any, profile: Table) -> Any:
    """The Ibis boolean of ``rule`` over ``profile`` (from :func:`profile_expr`)."""
    if isinstance(rule, Compare):
        col = profile[rule.field]
        v = rule.value
        if rule.op == "in":
            vals = v if isinstance(v, list) else [v]
            expr = col.isin(vals)
        else:
            lit = ibis.literal(v)
            expr = {"eq": col == lit, "ne": col != lit, "lt": col < lit, "le": col <= lit,
                    "gt": col > lit, "ge": col >= lit}[rule.op]
        return expr.fill_null(False)
    if isinstance(rule, Behaviour):
        cnt = behaviour_counts(engine, rule)
        return profile.customer_id.isin(cnt.filter(cnt.n >= rule.min_count).customer_id).fill_null(False)
    if isinstance(rule, (And, Or)):
        parts = [compile_rule(engine, r, profile) for r in rule.rules]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if isinstance(rule, And) else (out | p)
        return out
    if isinstance(rule, Not):
        return ~compile_rule(engine, rule.rule, profile)
    raise InputError(f"unknown rule node {type(rule).__name__}")


def members_expr(engine: Engine, rule: Any, settings: Any = None, fields: tuple[str, ...] | list[str] = ()) -> Table:
    """The profile rows (with ``fields`` too) of the customers that satisfy ``rule``."""
    prof = profile_expr(engine, rule, settings, fields)
    return prof.filter(compile_rule(engine, rule, prof))
