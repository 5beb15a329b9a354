"""Small aggregates that describe a build: touchpoints by channel, orders online vs in store.

Why: ``percorso build`` and ``percorso demo`` print the same overview; computing it in one
place keeps the two in agreement. Only aggregates leave the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from percorso.engine import Engine

#: One row of a summary: column → value (rows, not a data frame: a build loads no pandas).
Row = dict[str, Any]


def touchpoints_by_channel(engine: Engine) -> list[Row]:
    """Touchpoints and distinct customers per channel, most touchpoints first."""
    import ibis

    tp = engine.table("touchpoints")
    agg = tp.group_by("channel", "online").aggregate(touchpoints=tp.count(), customers=tp.customer_id.nunique())
    return engine.rows(agg.order_by([ibis.desc("touchpoints"), ibis.asc("channel")]))


def orders_by_place(engine: Engine) -> list[Row]:
    """Orders, returns, net revenue and buying customers online vs in store (online first).

    ``customers`` counts buyers (customers with an order that is not a return), so it adds up
    with the online-only / store-only / both split; a return receipt without a card is a
    customer of its own and would otherwise count as a store customer who never bought.
    """
    import ibis

    o = engine.table("orders")
    agg = o.group_by("online").aggregate(
        orders=o.count(where=~o.is_return), returns=o.count(where=o.is_return),
        revenue=o.revenue.sum().fill_null(0.0).cast("float64"), customers=o.customer_id.nunique(where=~o.is_return),
    )
    return engine.rows(agg.order_by(ibis.desc("online")))
