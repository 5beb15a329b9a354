"""``customers``: one row per person with activity, identifiers, consent and traits.

Why here: the customer profile is where identity (which identifiers), behaviour (first and
last seen, orders, revenue, home store, first channel) and what the person told us (name,
city, consent per purpose, latest value wins) meet. Contact data is held as keyed hashes
(``email_key``, ``phone_key``): the raw values are only in the sealed PII vault, opened by the
readers that show or send them (:mod:`percorso.privacy.contacts`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from percorso.build.schema import CUSTOMER_COLUMNS, REVENUE_DECIMAL
from percorso.build.touchpoints import _ibis_type
from percorso.engine.dialect import epoch_seconds, first_by, json_text, last_by, ordered_collect

#: Identifier types that make a customer "identified" (known person, not just a cookie).
STRONG_ID_TYPES: tuple[str, ...] = ("user_id", "email_key", "phone_key", "loyalty_card", "crm_id", "tax_code_key")

_TRAITS = ("first_name", "last_name", "city", "province", "birth_date")
#: The identifier kinds whose latest value a customer row holds, in a column of the kind's name.
_CONTACT_KINDS = ("email_key", "phone_key", "loyalty_card")


def _seen(m: ir.Table) -> ir.StructValue:
    """Identifiers by first time seen, then value (ties broken the same way on every build)."""
    return ibis.struct({"at": m.first_seen_at, "v": m.id_value})


def when(t: ir.Table) -> ir.StructValue:
    """The order of events: time, then event id (two events in the same second must not make
    first channel or latest stage depend on how the engine happened to read the rows)."""
    return ibis.struct({"at": t.occurred_at, "id": t.event_id})


def _latest(t: ir.Table, col: str) -> ir.Value:
    return t[col].argmax(when(t), where=t[col].notnull())


def customers_expr(
    touchpoints: ir.Table,
    record_updates: ir.Table,
    orders: ir.Table,
    identity_map: ir.Table,
    event_customers: ir.Table,
    contact_profiles: ir.Table,
    merges: ir.Table | None,
) -> ir.Table:
    """Customer rows for every person found in ``touchpoints`` or ``record_updates`` (already scoped).

    A person known only from records (a CRM contact who never visited, bought or opened an
    e-mail) is a customer row with ``n_touchpoints = 0`` and no first channel: the people
    found, of :mod:`percorso.build.definitions`. ``first_seen_at`` / ``last_seen_at`` are their
    first and last touchpoint, or their first and last record when they have no touchpoint.
    """
    tp = touchpoints
    # ``seq`` numbers a customer's touchpoints in the order of :func:`when` (the sessions'
    # window, build/touchpoints.py): the first and latest by one integer instead of a struct
    # of time and event id (0.25 against 0.8 s over 10M touchpoints), and by DuckDB's own
    # arg_min/arg_max (``first_by``: no sort key encoded per row)
    touched = tp.group_by("customer_id").aggregate(
        _tp_first=tp.occurred_at.min(),
        _tp_last=tp.occurred_at.max(),
        n_touchpoints=tp.count(),
        first_channel=first_by(tp.channel, tp.seq),
        current_stage=last_by(tp.stage, tp.seq, where=tp.stage.notnull()),
    )
    ru = record_updates
    recorded = ru.group_by("customer_id").aggregate(_ru_first=ru.occurred_at.min(), _ru_last=ru.occurred_at.max())
    # the people of either, in one join (a distinct union of their ids joined to each again
    # grouped and joined a million customers twice more at 10M events)
    act = touched.outer_join(recorded, "customer_id")
    act = act.mutate(customer_id=act.customer_id.fill_null(act.customer_id_right)).drop("customer_id_right")
    act = act.mutate(
        first_seen_at=act._tp_first.fill_null(act._ru_first),
        last_seen_at=act._tp_last.fill_null(act._ru_last),
        n_touchpoints=act.n_touchpoints.fill_null(0),
    ).drop("_tp_first", "_tp_last", "_ru_first", "_ru_last")
    o = orders
    buy = o.group_by("customer_id").aggregate(
        n_orders=o.count(where=~o.is_return),
        # exact whatever order the engine's threads meet the rows in (schema.REVENUE_DECIMAL)
        revenue=o.revenue.cast(REVENUE_DECIMAL).sum().cast("float64"),
    )
    so = o.filter(o.store_id.notnull() & ~o.is_return)
    stores = so.group_by(["customer_id", "store_id"]).aggregate(n=so.count(), last=so.occurred_at.max())
    home = stores.group_by("customer_id").aggregate(
        home_store=stores.store_id.argmax(stores.n * 1e12 + epoch_seconds(stores.last))
    )
    # every customer's identifiers, not only those of ``act``'s: the left join below keeps
    # ``act``'s alone (a semi-join first probed the map's million rows once more at 10M events)
    m = identity_map
    ids = m.group_by("customer_id").aggregate(
        n_identifiers=m.count(),
        n_anonymous_ids=m.count(where=m.id_type == "anonymous_id"),
        n_devices=m.count(where=m.id_type == "device_id"),
        n_emails=m.count(where=m.id_type == "email_key"),
        n_phones=m.count(where=m.id_type == "phone_key"),
        n_cards=m.count(where=m.id_type == "loyalty_card"),
        is_identified=m.id_type.isin(STRONG_ID_TYPES).any(),
    )
    # the latest e-mail, phone and card: grouped apart, over the map's rows of those kinds alone.
    # In the grouping above, DuckDB encoded the sort key of every identifier for each of the three
    # ordered aggregates, whatever its kind (10M clickstream events, 1M identifiers, none of these
    # kinds: the map's grouping 0.40 -> 0.17 s; with an e-mail for a third of them, the same)
    k = m.filter(m.id_type.isin(_CONTACT_KINDS))
    keys = k.group_by("customer_id").aggregate(
        **{kind: k.id_value.argmax(_seen(k), where=k.id_type == kind) for kind in _CONTACT_KINDS})
    ids = ids.left_join(keys, "customer_id").drop("customer_id_right")
    ec = event_customers.select("event_id", "customer_id")
    ec = ec.filter(ec.customer_id.notnull())
    cp = contact_profiles.inner_join(ec, "event_id")
    prof = cp.group_by("customer_id").aggregate(
        consent_profiling=_latest(cp, "consent_profiling"),
        consent_marketing=_latest(cp, "consent_marketing"),
        **{name: _latest(cp, name) for name in _TRAITS},
    )
    c = (
        act.left_join(buy, "customer_id").drop("customer_id_right")
        .left_join(home, "customer_id").drop("customer_id_right")
        .left_join(ids, "customer_id").drop("customer_id_right")
        .left_join(prof, "customer_id").drop("customer_id_right")
    )
    if merges is not None:
        mg = merges.group_by(customer_id=merges.kept_id).aggregate(
            merged_from=ordered_collect(merges.retired_id, [merges.retired_id]))
        c = c.left_join(mg, "customer_id").drop("customer_id_right")
        c = c.mutate(merged_from=json_text(c.merged_from))
    else:
        c = c.mutate(merged_from=ibis.null("string"))
    c = c.mutate(
        n_orders=c.n_orders.fill_null(0),
        revenue=c.revenue.fill_null(0.0),
        is_identified=c.is_identified.fill_null(False),
    )
    for col in ("n_identifiers", "n_anonymous_ids", "n_devices", "n_emails", "n_phones", "n_cards"):
        c = c.mutate(**{col: c[col].fill_null(0)})
    return c.select(*[c[name].cast(_ibis_type(sql)).name(name) for name, sql in CUSTOMER_COLUMNS])
