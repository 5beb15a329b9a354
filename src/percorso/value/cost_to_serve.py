"""Cost to serve per customer and the margin left after it, computed in the engine.

Why: revenue alone ranks customers by what they bring; a CRM decision also needs what they
cost — contacts, calls, returns, deliveries and discounts. The customers whose margin after
cost to serve is negative are the ones a retention budget should not chase blindly.

Definitions, over the period ``[date_from, date_to]`` (all data when open), rates from
``[value.cost_to_serve]`` in ``percorso.toml`` (:class:`~percorso.value.settings.CostToServeSettings`):

* **marketing contacts**: one contact is one session (``session_id``; a touchpoint without
  one counts alone) on a marketing channel (:data:`MARKETING_CHANNELS`). Cost per contact =
  the channel's ``campaign_costs`` in the period / the channel's contacts in the period (all
  contacts, anonymous ones too, so the spend is shared by everyone it reached). A channel
  without costs uses the flat rate ``email_contact``, ``sms_contact``, ``flyer_contact`` or
  ``default_contact_cost``.
* **call center**: touchpoints on ``Call center`` × ``call_center_contact``.
* **returns**: return orders × ``return_handling`` plus the margin lost on the refunded value
  (``refunded × margin_rate``: the goods come back to stock, the margin does not).
* **deliveries**: online purchase orders × ``delivery``.
* **discounts**: list value of the order lines (``qty × price`` from ``orders.items``) minus
  the order revenue, never below 0; orders without items carry no known discount.
* **gross margin** = ``margin_rate`` × (purchase revenue + discounts), i.e. the margin at list
  price; ``margin_after`` = gross margin − cost to serve.

Every amount is summed to the millionth of a euro as a decimal
(:func:`~percorso.build.schema.exact_sum`): the same data gives the same figures run after run
(sums of doubles changed in their last digits with the order the engine met the rows).

The main frame summarises per RFM segment (customers without purchases: ``No purchase``) how
many customers cost more than they bring (``losing``) and their total ``loss``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner, register_drill_check, require_value
from percorso.build.definitions import GROSS_REVENUE, WITH_TOUCHPOINTS, named
from percorso.build.schema import REVENUE_DIGITS, exact_sum
from percorso.errors import InputError
from percorso.value.rfm import rfm_expr
from percorso.value.settings import CostToServeSettings, value_settings

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go
    from ibis.expr.types import Table

    from percorso.engine import Engine

MARKETING_CHANNELS = (
    "Email", "SMS", "Mobile Push Notifications", "Paid Search", "Paid Social", "Paid Shopping",
    "Paid Video", "Paid Other", "Display", "Cross-network", "Affiliates", "Audio",
    "Direct mail / flyer",
)
NO_PURCHASE = "No purchase"
COST_COLUMNS = ("marketing_cost", "call_cost", "returns_cost", "delivery_cost", "discounts")


def _day(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def in_period(t: Table, start: date | datetime | None, end: date | datetime | None,
              col: str = "occurred_at_local") -> Table:
    """Rows of ``t`` whose ``col`` date (a local day) lies in the inclusive ``[start, end]``."""
    s, e = _day(start), _day(end)
    if s is not None:
        t = t.filter(t[col].date() >= s)
    if e is not None:
        t = t.filter(t[col].date() <= e)
    return t


def order_list_value(orders: Table) -> Any:
    """Σ qty × price over the ``items`` JSON of each order (NULL when the order has no items)."""
    arr = orders["items"].cast("json").array
    return arr.map(lambda it: it["qty"].unwrap_as("float64").fill_null(1.0)
                   * it["price"].unwrap_as("float64").fill_null(0.0)).sums()


def contact_costs(engine: Engine, cfg: CostToServeSettings, start: Any, end: Any) -> Table:
    """Per marketing channel: contacts in the period, spend and cost per contact."""
    tp = in_period(engine.table("touchpoints"), start, end)
    tp = tp.filter(tp.channel.isin(MARKETING_CHANNELS))
    tp = tp.mutate(contact=tp.session_id.fill_null(tp.event_id))
    per = tp.group_by("channel").aggregate(contacts=tp.contact.nunique())
    flat = ibis.cases(
        (per.channel == "Email", cfg.email_contact), (per.channel == "SMS", cfg.sms_contact),
        (per.channel == "Direct mail / flyer", cfg.flyer_contact), else_=cfg.default_contact_cost,
    )
    if engine.has_table("campaign_costs"):
        c = engine.table("campaign_costs")
        s, e = _day(start), _day(end)
        if s is not None:
            c = c.filter(c.date >= s)
        if e is not None:
            c = c.filter(c.date <= e)
        spend = c.group_by("channel").aggregate(spend=exact_sum(c.cost))
        per = per.left_join(spend, "channel").drop("channel_right")
        per = per.mutate(spend=per.spend.fill_null(0.0))
        cpc = ibis.cases((per.spend > 0, per.spend / per.contacts), else_=flat)
    else:
        per = per.mutate(spend=ibis.literal(0.0))
        cpc = flat
    return per.mutate(cost_per_contact=cpc)


def cost_to_serve_expr(engine: Engine, cfg: CostToServeSettings | None = None, *,
                       start: Any = None, end: Any = None) -> Table:
    """Per customer with a touchpoint (or an order) in the period: each cost, gross margin and margin after."""
    cfg = cfg or CostToServeSettings()
    m = cfg.margin_rate
    tp = in_period(engine.table("touchpoints"), start, end)
    tp = tp.filter(tp.customer_id.notnull())
    mk = tp.filter(tp.channel.isin(MARKETING_CHANNELS))
    mk = mk.mutate(contact=mk.session_id.fill_null(mk.event_id))
    mk = mk.group_by(["customer_id", "channel"]).aggregate(n=mk.contact.nunique())
    cc = contact_costs(engine, cfg, start, end).select("channel", "cost_per_contact")
    mk = mk.join(cc, "channel")
    mk = mk.group_by("customer_id").aggregate(
        marketing_contacts=mk.n.sum(), marketing_cost=exact_sum(mk.n * mk.cost_per_contact))
    calls = tp.filter(tp.channel == "Call center")
    calls = calls.group_by("customer_id").aggregate(calls=calls.count())

    o = in_period(engine.table("orders"), start, end)
    o = o.filter(o.customer_id.notnull())
    ret = o.is_return.fill_null(False)
    online = o.online.fill_null(False)
    disc = ibis.greatest(order_list_value(o) - o.revenue, 0.0).fill_null(0.0)
    o = o.mutate(_ret=ret, _online=online, _disc=ibis.cases((ret, 0.0), else_=disc))
    og = o.group_by("customer_id").aggregate(
        orders=(~o._ret).cast("int64").sum(),
        revenue=exact_sum(o.revenue, where=~o._ret).fill_null(0.0),
        returns=o._ret.cast("int64").sum(),
        refunded=exact_sum(-o.revenue, where=o._ret).fill_null(0.0),
        deliveries=(o._online & ~o._ret).cast("int64").sum(),
        discounts=exact_sum(o._disc),
    )
    # every person with a touchpoint in the period (the people with touchpoints of
    # percorso.build.definitions), costs or not: one with none serves at 0 and earns 0
    ids = tp.select("customer_id").union(og.select("customer_id")).distinct()
    t = ids.left_join(mk, "customer_id").drop("customer_id_right")
    t = t.left_join(calls, "customer_id").drop("customer_id_right")
    t = t.left_join(og, "customer_id").drop("customer_id_right")
    zero_i = ("marketing_contacts", "calls", "orders", "returns", "deliveries")
    zero_f = ("marketing_cost", "revenue", "refunded", "discounts")
    t = t.mutate(**{c: t[c].fill_null(0).cast("int64") for c in zero_i},
                 **{c: t[c].fill_null(0.0).cast("float64") for c in zero_f})
    t = t.mutate(
        call_cost=t.calls * cfg.call_center_contact,
        returns_cost=t.returns * cfg.return_handling + t.refunded * m,
        delivery_cost=t.deliveries * cfg.delivery,
        gross_margin=(t.revenue + t.discounts) * m,
    )
    t = t.mutate(cost_to_serve=t.marketing_cost + t.call_cost + t.returns_cost + t.delivery_cost + t.discounts)
    return t.mutate(margin_after=t.gross_margin - t.cost_to_serve)


class CostToServeQuery(AnalysisQuery):
    """Cost to serve and margin after it, per customer; summary per RFM segment."""

    kind: ClassVar[str] = "cost_to_serve"


@dataclass
class CostToServeResult(AnalysisResult):
    def notes(self, lang: str = "it") -> list[str]:
        """``meta["notes"]`` and the default rates it used (:func:`default_rates_note`), in ``lang``."""
        note = default_rates_note(self.meta.get("default_rates") or {}, lang, lang)
        return [*super().notes(lang), *([note] if note else [])]

    def figure(self) -> go.Figure:
        """Waterfall from gross margin through each cost to the margin after cost to serve."""
        import plotly.graph_objects as go

        tot = self.meta["totals"]
        labels = ["gross margin", "marketing", "call center", "returns", "delivery", "discounts", "margin after"]
        values = [tot["gross_margin"]] + [-tot[c] for c in COST_COLUMNS] + [tot["margin_after"]]
        fig = go.Figure(go.Waterfall(x=labels, y=values, measure=["absolute"] + ["relative"] * 5 + ["total"]))
        fig.update_layout(title="Margine dopo il costo di servizio / margin after cost to serve")
        return fig

    def per_customer(self, limit: int = 100, offset: int = 0) -> pd.DataFrame:
        """A page of the per-customer table (by customer id); ``customers(losing=True)`` for the losers."""
        return self.customers(limit=limit, offset=offset)


def default_rates(cfg: CostToServeSettings) -> dict[str, float]:
    """The rates ``[value.cost_to_serve]`` does not set, with the default each took (key order)."""
    return {k: getattr(cfg, k) for k in type(cfg).model_fields if k not in cfg.model_fields_set}


def default_rates_note(rates: dict[str, float], locale: str = "it", lang: str | None = None) -> str | None:
    """One line naming the default rates a result used and where to set them: numbers in
    ``locale``'s format, words in Italian / English, or in ``lang`` alone (a dashboard page).

    Why: a margin after cost to serve computed on someone else's delivery cost reads as the
    company's own; the user must see which figures are assumptions.

    Examples
    --------
    >>> default_rates_note({"delivery": 6.9, "margin_rate": 0.45})
    'tariffe predefinite / default rates: delivery 6,90 €, margin_rate 45,0 %; impostale / set them in percorso.toml [value.cost_to_serve] (docs/value.md)'
    >>> default_rates_note({"delivery": 6.9}, "en", "en")
    'default rates: delivery €6.90; set them in percorso.toml [value.cost_to_serve] (docs/value.md)'
    """
    if not rates:
        return None
    from percorso.export.columns import format_value

    shown = ", ".join(f"{k} {format_value(v, 'share' if k == 'margin_rate' else 'money', locale)}"
                      for k, v in rates.items())
    words = {"it": ("tariffe predefinite", "impostale"), "en": ("default rates", "set them")}
    head, verb = words[lang] if lang in words else (" / ".join(w) for w in zip(*words.values()))
    return f"{head}: {shown}; {verb} in percorso.toml [value.cost_to_serve] (docs/value.md)"


class CostToServeRunner(Runner[CostToServeQuery, CostToServeResult]):
    query_type = CostToServeQuery
    drill_by = ('segment',)  # frame columns that name a cell's customers (selectors)

    def _table(self) -> Table:
        cfg = value_settings(self.settings).cost_to_serve
        q = self.query
        t = cost_to_serve_expr(self.engine, cfg, start=q.date_from, end=q.date_to)
        if self.engine.has_table("orders") and self.engine.count("orders") > 0:
            end = _day(q.date_to)
            r = rfm_expr(self.engine, end + timedelta(days=1) if end else None).select("customer_id", "rfm_segment")
            t = t.left_join(r, "customer_id").drop("customer_id_right")
            t = t.mutate(segment=t.rfm_segment.fill_null(NO_PURCHASE)).drop("rfm_segment")
        else:
            t = t.mutate(segment=ibis.literal(NO_PURCHASE))
        from percorso.value.segments.store import in_segment

        return in_segment(self.engine, t, q.segment, self.settings)

    def calculate(self) -> CostToServeResult:
        t = self._table()
        loss = t.margin_after < 0
        agg = t.group_by("segment").aggregate(
            customers=t.count(), revenue=exact_sum(t.revenue), gross_margin=exact_sum(t.gross_margin),
            cost_to_serve=exact_sum(t.cost_to_serve), margin_after=exact_sum(t.margin_after),
            losing=loss.cast("int64").sum(), loss=exact_sum(-t.margin_after, where=loss).fill_null(0.0),
        )
        df = self.engine.execute(agg.order_by(ibis.desc("loss"), "segment"))
        cols = ("revenue", "gross_margin", *COST_COLUMNS, "cost_to_serve", "margin_after")
        totals = self.engine.execute(t.aggregate(**{c: exact_sum(t[c]) for c in cols}, customers=t.count()))
        tot = {c: float(totals[c].iloc[0] or 0.0) for c in cols}
        tot["customers"] = int(totals["customers"].iloc[0])
        tot["losing"] = int(df["losing"].sum()) if len(df) else 0
        tot["loss"] = round(float(df["loss"].sum()), REVENUE_DIGITS) if len(df) else 0.0  # exact to the millionth
        defs = named(revenue=GROSS_REVENUE, customers=WITH_TOUCHPOINTS)
        rates = default_rates(value_settings(self.settings).cost_to_serve)
        return CostToServeResult(frame=df.reset_index(drop=True), query=self.query,
                                 meta={"totals": tot, "definitions": defs, "default_rates": rates})

    def customers_expr(self, **selector: Any) -> Table:
        t = self._table()
        seg = selector.pop("segment", None)
        losing = selector.pop("losing", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: segment, losing")
        if seg is not None:
            t = t.filter(t.segment == seg)
        if losing is not None:
            yes = ("1", "true", "yes", "si", "sì")
            flag = losing if isinstance(losing, bool) else str(losing).strip().lower() in yes
            t = t.filter((t.margin_after < 0) == flag)
        return t


def _check_drill(runner: CostToServeRunner, selector: dict[str, Any]) -> None:
    """A segment no customer is in is a typo: say so (see ``register_drill_check``)."""
    if selector.get("segment") is not None:
        require_value(runner.engine, runner._table().segment, selector["segment"], what="segment")


register_drill_check(("cost_to_serve",), _check_drill)
