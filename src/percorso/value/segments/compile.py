"""Compile a predicate tree to an Ibis boolean over the customer profile.

Two-valued logic on purpose: a comparison on a missing value is false (``coalesce(…, false)``),
so ``not`` means "everyone else", as a marketer expects.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import ibis

from percorso.errors import InputError
from percorso.value.segments.definition import FIELDS, And, Behaviour, Compare, Not, Or, fields_used

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from percorso.engine import Engine


def profile_expr(engine: Engine, rule: Any) -> Table:
    """``customers`` plus the value / RFM columns the rule uses."""
    c = engine.table("customers")
    used = fields_used(rule)
    if any(FIELDS[f][0] == "customer_value" for f in used):
        if not engine.has_table("customer_value"):
            raise InputError("the rule uses CLV fields: run `percorso clv fit` first")
        cv = engine.table("customer_value").select("customer_id", "clv", "p_alive", "expected_purchases")
        c = c.left_join(cv, "customer_id").select(c, cv.clv, cv.p_alive, cv.expected_purchases)
    if any(FIELDS[f][0] == "rfm" for f in used):
        from percorso.value.rfm import rfm_expr

        r = rfm_expr(engine).select("customer_id", "rfm_segment", "recency_days", "frequency", "monetary")
        c = c.left_join(r, "customer_id").select(c, r.rfm_segment, r.recency_days, r.frequency, r.monetary)
    return c


def _behaviour(engine: Engine, b: Behaviour) -> Any:
    if b.action == "visited_site":
        t = engine.table("touchpoints")
        t = t.filter(t.online.fill_null(False))
    else:
        t = engine.table("orders")
        t = t.filter(~t.is_return.fill_null(False), t.online.fill_null(False) == (b.action == "bought_online"))
    if b.within_days is not None:
        ref = engine.execute(engine.table("touchpoints").occurred_at.max())
        t = t.filter(t.occurred_at >= ref - timedelta(days=b.within_days))
    return t.customer_id


def compile_rule(engine: Engine, rule: Any, profile: Table) -> Any:
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
        return profile.customer_id.isin(_behaviour(engine, rule)).fill_null(False)
    if isinstance(rule, And):
        parts = [compile_rule(engine, r, profile) for r in rule.rules]
        out = parts[0]
        for p in parts[1:]:
            out = out & p
        return out
    if isinstance(rule, Or):
        parts = [compile_rule(engine, r, profile) for r in rule.rules]
        out = parts[0]
        for p in parts[1:]:
            out = out | p
        return out
    if isinstance(rule, Not):
        return ~compile_rule(engine, rule.rule, profile)
    raise InputError(f"unknown rule node {type(rule).__name__}")


def members_expr(engine: Engine, rule: Any) -> Table:
    prof = profile_expr(engine, rule)
    return prof.filter(compile_rule(engine, rule, prof))
