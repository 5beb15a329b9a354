"""Small aggregates that describe a build: touchpoints by channel, orders online vs in store.

Why: ``percorso build`` and ``percorso demo`` print the same overview; computing it in one
place keeps the two in agreement. Only aggregates leave the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from percorso.engine import Engine


def touchpoints_by_channel(engine: Engine) -> pd.DataFrame:
    """Touchpoints and distinct customers per channel, most touchpoints first."""
    tp = engine.table("touchpoints")
    frame = engine.execute(
        tp.group_by("channel", "online").aggregate(touchpoints=tp.count(), customers=tp.customer_id.nunique())
    )
    return frame.sort_values(["touchpoints", "channel"], ascending=[False, True]).reset_index(drop=True)


def orders_by_place(engine: Engine) -> pd.DataFrame:
    """Orders, returns, net revenue and buying customers online vs in store (online first).

    ``customers`` counts buyers (customers with an order that is not a return), so it adds up
    with the online-only / store-only / both split; a return receipt without a card is a
    customer of its own and would otherwise count as a store customer who never bought.
    """
    o = engine.table("orders")
    frame = engine.execute(o.group_by("online").aggregate(
        orders=o.count(where=~o.is_return), returns=o.count(where=o.is_return),
        revenue=o.revenue.sum(), customers=o.customer_id.nunique(where=~o.is_return),
    ))
    frame["revenue"] = frame["revenue"].fillna(0.0).astype(float)
    return frame.sort_values("online", ascending=False).reset_index(drop=True)
