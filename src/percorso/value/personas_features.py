"""Journey features per customer for the personas, and the per-persona facts of the cards.

Why in the engine: the features are group-bys over every touchpoint and order; only the
numeric matrix of a sample (for fitting) and per-persona aggregates (for the cards) leave
DuckDB. Every feature is a share, a flag or a log amount, so standardising them is enough.

Features (one row per customer with at least one touchpoint):

* channel mix: shares of the customer's touchpoints that are online, in store
  (``Store / POS``), owned messaging (Email, SMS, push) and paid media (:data:`PAID`);
* device: shares of the touchpoints with a device that are mobile, desktop, app;
* value and frequency: ``ln(1 + revenue)`` and ``ln(1 + purchase orders)``, and the share of
  orders placed online; revenue is net of refunds and never below 0 (:func:`net_revenue`);
* stage: one flag per most common stage (up to :data:`MAX_STAGES`) of the customer's current
  stage (``customers.current_stage``, else the stage of the latest staged touchpoint);
* product categories: for each of the most common categories bought (up to
  :data:`MAX_CATEGORIES`, by pieces), its share of the customer's pieces bought;
* region: one flag per most common province of residence (up to :data:`MAX_REGIONS`).

Only the most common stages, categories and regions become features: a flag per value of a
many-valued field would drown the channel mix in near-empty dimensions. The home store, the
full category list and every region remain facts of each persona's card (:func:`card_facts`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    import pandas as pd
    from ibis.expr.types import Table

    from percorso.engine import Engine

PAID = ("Paid Search", "Paid Social", "Paid Shopping", "Paid Video", "Paid Other", "Display",
        "Cross-network", "Affiliates", "Audio")
OWNED = ("Email", "SMS", "Mobile Push Notifications")
BASE_FEATURES = ("online_share", "store_share", "owned_share", "paid_share", "mobile_share",
                 "desktop_share", "app_share", "log_revenue", "log_orders", "online_order_share")
MAX_STAGES = 4
MAX_CATEGORIES = 4
MAX_REGIONS = 3


def _share(cond: Any, n: Any) -> Any:
    return ibis.cases((n > 0, cond.cast("float64").sum() / n.cast("float64")), else_=0.0)


def _stage_expr(engine: Engine) -> Table:
    """customer_id, stage: the current stage of each customer (NULL when none is known)."""
    tp = engine.table("touchpoints")
    tp = tp.filter(tp.customer_id.notnull())
    last = tp.group_by("customer_id").aggregate(
        tp_stage=tp.stage.argmax(tp.occurred_at, where=tp.stage.notnull()))
    c = engine.table("customers").select("customer_id", "current_stage")
    j = last.left_join(c, "customer_id").drop("customer_id_right")
    return j.select("customer_id", stage=j.current_stage.fill_null(j.tp_stage))


def feature_expr(engine: Engine) -> tuple[Table, list[str]]:
    """The feature table (customer_id, revenue, orders, refunded, stage and the numeric features) and
    the names of the numeric feature columns, in a fixed order."""
    tp = engine.table("touchpoints")
    tp = tp.filter(tp.customer_id.notnull())
    dev = tp.device_type.lower()
    g = tp.group_by("customer_id").aggregate(
        n=tp.count(),
        n_online=tp.online.fill_null(False).cast("int64").sum(),
        n_store=(tp.channel == "Store / POS").cast("int64").sum(),
        n_owned=tp.channel.isin(OWNED).cast("int64").sum(),
        n_paid=tp.channel.isin(PAID).cast("int64").sum(),
        n_dev=tp.device_type.notnull().cast("int64").sum(),
        n_mobile=dev.isin(("mobile", "tablet")).fill_null(False).cast("int64").sum(),
        n_desktop=(dev == "desktop").fill_null(False).cast("int64").sum(),
        n_app=(dev == "app").fill_null(False).cast("int64").sum(),
    )
    o = engine.table("orders")
    o = o.filter(o.customer_id.notnull())
    ret = o.is_return.fill_null(False)
    og = o.group_by("customer_id").aggregate(
        purchases=o.revenue.sum(where=~ret),
        refunds=o.revenue.abs().sum(where=ret),
        orders=(~ret).cast("int64").sum(),
        online_orders=(~ret & o.online.fill_null(False)).cast("int64").sum(),
    )
    t = g.left_join(og, "customer_id").drop("customer_id_right")
    t = t.left_join(_stage_expr(engine), "customer_id").drop("customer_id_right")
    n, nd = t.n.cast("float64"), t.n_dev.cast("float64")
    orders = t.orders.fill_null(0)
    revenue = net_revenue(t.purchases, t.refunds)

    def frac(num: Any, den: Any) -> Any:
        return ibis.cases((den > 0, num.cast("float64") / den), else_=0.0)

    t = t.select(
        "customer_id", "stage", revenue=revenue, orders=orders, refunded=t.refunds.fill_null(0.0),
        online_share=frac(t.n_online, n), store_share=frac(t.n_store, n),
        owned_share=frac(t.n_owned, n), paid_share=frac(t.n_paid, n),
        mobile_share=frac(t.n_mobile, nd), desktop_share=frac(t.n_desktop, nd), app_share=frac(t.n_app, nd),
        log_revenue=(revenue + 1.0).ln(),
        log_orders=(orders.cast("float64") + 1.0).ln(),
        online_order_share=frac(t.online_orders.fill_null(0), orders.cast("float64")),
    )
    stages = top_stages(engine)
    names = list(BASE_FEATURES)
    for i, s in enumerate(stages):
        col = f"stage_{i}"
        t = t.mutate(**{col: (t.stage == s).fill_null(False).cast("float64")})
        names.append(col)
    items = bought_items(engine)
    cats = _top_values(engine, items, "category", "qty", MAX_CATEGORIES)
    if cats:
        per = items.group_by("customer_id").aggregate(
            _q=items.qty.sum(), **{f"_c{i}": items.qty.sum(where=items.category == c) for i, c in enumerate(cats)})
        t = t.left_join(per, "customer_id").drop("customer_id_right")
        for i in range(len(cats)):
            t = t.mutate(**{f"category_{i}": frac(t[f"_c{i}"].fill_null(0.0), t._q.fill_null(0.0))})
        t = t.drop("_q", *(f"_c{i}" for i in range(len(cats))))
        names += [f"category_{i}" for i in range(len(cats))]
    c = engine.table("customers").select("customer_id", "province")
    regions = _top_values(engine, c.filter(c.province.notnull()).mutate(one=1), "province", "one", MAX_REGIONS)
    if regions:
        t = t.left_join(c, "customer_id").drop("customer_id_right")
        for i, r in enumerate(regions):
            t = t.mutate(**{f"region_{i}": (t.province == r).fill_null(False).cast("float64")})
        t = t.drop("province")
        names += [f"region_{i}" for i in range(len(regions))]
    return t, names


def net_revenue(purchases: Any, refunds: Any) -> Any:
    """A customer's purchases minus their refunds, never below 0 (NULL sums count as 0).

    Why the floor: a refund is not always next to the purchase it refunds. In the
    20,000-customer demo 140 of 321 store returns carry no loyalty card, e-mail or tax code,
    so identity resolution cannot tie them to the buyer and each becomes a "customer" whose
    only order is a refund; a refund of a purchase made before the first imported day, or one larger than the
    amount paid (a discounted purchase refunded at list price), does the same inside one
    customer. Such a customer brought no revenue: counting the refund would make a persona's
    average revenue negative. Refunds are taken by absolute value, so a source that reports
    them as positive amounts lowers the revenue as well.
    """
    return ibis.greatest(purchases.fill_null(0.0) - refunds.fill_null(0.0), 0.0)


def bought_items(engine: Engine) -> Table:
    """customer_id, category, qty: one row per line of every purchase order with items."""
    o = engine.table("orders")
    o = o.filter(o.customer_id.notnull(), ~o.is_return.fill_null(False), o["items"].notnull())
    it = o.select("customer_id", item=o["items"].cast("json").array.unnest())
    it = it.select("customer_id", category=it.item["category"].str,
                   qty=it.item["qty"].float.fill_null(1.0))
    return it.filter(it.category.notnull())


def _top_values(engine: Engine, t: Table, key: str, weight: str, n: int) -> list[str]:
    """The ``n`` values of ``key`` with the largest total ``weight`` (ties by value)."""
    df = engine.execute(t.group_by(key).aggregate(w=t[weight].sum()).order_by([ibis.desc("w"), key]).limit(n))
    return [str(x) for x in df[key]]


def top_stages(engine: Engine) -> list[str]:
    """The most common current stages (at most :data:`MAX_STAGES`), most common first."""
    s = _stage_expr(engine)
    s = s.filter(s.stage.notnull())
    df = engine.execute(s.group_by("stage").aggregate(n=s.count()).order_by([ibis.desc("n"), "stage"])
                        .limit(MAX_STAGES))
    return [str(x) for x in df["stage"]]


def typical_paths(engine: Engine, assign: Table, steps: int = 4) -> Table:
    """Per persona the most common sequence of the first ``steps`` distinct channels before
    the customer's first purchase (all touchpoints for customers who never bought)."""
    tp = engine.table("touchpoints")
    tp = tp.filter(tp.customer_id.notnull(), tp.channel.notnull())
    o = engine.table("orders")
    o = o.filter(o.customer_id.notnull(), ~o.is_return.fill_null(False))
    first = o.group_by("customer_id").aggregate(first_buy=o.occurred_at.min())
    j = tp.left_join(first, "customer_id").drop("customer_id_right")
    j = j.filter(j.first_buy.isnull() | (j.occurred_at < j.first_buy))
    fc = j.group_by(["customer_id", "channel"]).aggregate(at=j.occurred_at.min())
    # paths from ranked rows, not an ordered aggregate (unsupported on Spark: DESIGN §2)
    fc = fc.mutate(rn=ibis.row_number().over(group_by=fc.customer_id, order_by=[fc.at, fc.channel]))
    fc = fc.filter(fc.rn < steps)
    seq = fc.group_by("customer_id").aggregate(**{f"s{k}": fc.channel.max(where=fc.rn == k) for k in range(steps)})
    path = seq.s0
    for k in range(1, steps):
        path = ibis.cases((seq[f"s{k}"].notnull(), path + " > " + seq[f"s{k}"]), else_=path)
    seq = seq.select("customer_id", path=path)
    seq = seq.join(assign, "customer_id")
    cnt = seq.group_by(["persona", "path"]).aggregate(n=seq.count())
    rn = ibis.row_number().over(group_by=cnt.persona, order_by=[ibis.desc(cnt.n), cnt.path])
    cnt = cnt.mutate(rn=rn)
    return cnt.filter(cnt.rn == 0).select("persona", "path", "n")


def _top(engine: Engine, t: Table, key: str, n: int) -> pd.DataFrame:
    """persona, value, count, share-in-persona of the ``n`` most common ``key`` per persona."""
    cnt = t.group_by(["persona", key]).aggregate(n=t.count())
    tot = cnt.n.sum().over(group_by=cnt.persona)
    rn = ibis.row_number().over(group_by=cnt.persona, order_by=[ibis.desc(cnt.n), cnt[key]])
    cnt = cnt.mutate(share=cnt.n.cast("float64") / tot, rn=rn)
    return engine.execute(cnt.filter(cnt.rn < n).order_by(["persona", "rn"]))


def card_facts(engine: Engine, assign: Table, features: Table) -> dict[str, Any]:
    """Per-persona aggregates of the cards, as small frames keyed by ``persona``."""
    f = features.join(assign, "customer_id")
    base = engine.execute(f.group_by("persona").aggregate(
        customers=f.count(), avg_revenue=f.revenue.mean(), avg_orders=f.orders.mean(),
        refund_only=((f.orders == 0) & (f.refunded > 0)).cast("int64").sum(),
        buyers_share=(f.orders > 0).cast("float64").mean(),
        online_order_share=f.online_order_share.mean(where=f.orders > 0),
        online_share=f.online_share.mean(), store_share=f.store_share.mean(),
        mobile_share=f.mobile_share.mean(), app_share=f.app_share.mean(),
    ).order_by("persona"))
    from percorso.build.orders import purchase_mix

    # where the persona's buyers buy, by the omnichannel analysis's own definition
    m = purchase_mix(engine.table("orders")).join(assign, "customer_id")
    buyers = m.filter(m.mix != "no_purchase")
    mix = engine.execute(buyers.group_by("persona").aggregate(
        **{f"{k}_share": (buyers.mix == k).cast("float64").mean() for k in ("online_only", "store_only", "omnichannel")}))
    base = base.merge(mix, on="persona", how="left")
    tp = engine.table("touchpoints")
    tp = tp.filter(tp.customer_id.notnull(), tp.channel.notnull()).join(assign, "customer_id")
    out: dict[str, Any] = {"base": base, "channels": _top(engine, tp, "channel", 3)}
    st = f.filter(f.stage.notnull())
    out["stages"] = _top(engine, st, "stage", 1)
    c = engine.table("customers")
    c = c.filter(c.home_store.notnull()).select("customer_id", "home_store").join(assign, "customer_id")
    out["stores"] = _top(engine, c, "home_store", 1)
    it = bought_items(engine).join(assign, "customer_id")
    out["categories"] = _top(engine, it, "category", 3)
    out["paths"] = engine.execute(typical_paths(engine, assign))
    if engine.has_table("customer_value"):
        from percorso.value.churn import churn_expr

        cv = churn_expr(engine).join(assign, "customer_id")
        # churn risk = share at high risk (P(alive) alone is 1 for every one-time buyer)
        out["clv"] = engine.execute(cv.group_by("persona").aggregate(
            avg_clv=cv.clv.mean(), churn_risk=(cv.risk_level == "high").cast("float64").mean()))
    return out
