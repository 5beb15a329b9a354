"""Costs and ROI per channel and campaign, for every attribution model.

Costs (``campaign_costs``) are summed in the engine by channel and campaign over the query's
dates and joined to the conversions, revenue and new customers each model credits to the
same (channel, campaign) node. Metrics:

- ``roi``  = (revenue - cost) / cost: ROI **on revenue** (gross revenue of the conversions)
- ``roas`` = revenue / cost
- ``cpa``  = cost / conversions
- ``cac``  = cost / new customers (first conversion of the customer)

Where no cost is recorded (cost 0: no ``campaign_costs`` row for the channel and campaign, or
none loaded at all) ROI, ROAS, CPA and CAC are NaN ("—"): a cost per acquisition of 0 € would
read as free conversions, when the spend is only unknown.
- with ``[attribution] margin`` set: ``margin`` = revenue × margin and ``roi_margin`` =
  (margin - cost) / cost, ROI **on margin** (what the spend earned after the cost of goods)

Ratios with a zero denominator are NaN (shown as "—"), never infinite.

Reconciliation: without a ``campaign`` / ``channel`` filter every model also has a row
:data:`~percorso.attribution.analysis.NOT_ATTRIBUTABLE` (the conversions and revenue no
touchpoint could take: cost 0) and a row :data:`~percorso.attribution.analysis.TOTAL` (every
conversion, all revenue and every cost in the dates; its ROI is the blended one). Attributed
rows + not attributable = total, for every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner, register_drill_check, require_value
from percorso.attribution.analysis import NOT_ATTRIBUTABLE, TOTAL, AttributionQuery, AttributionRunner
from percorso.attribution.journeys import _day_bounds
from percorso.errors import NotFound, suggest
from percorso.export.files import format_eur, format_it_number  # noqa: F401 - public here since issue 4

NODE_SEP = " | "


class RoiQuery(AnalysisQuery):
    kind: ClassVar[str] = "roi"
    models: tuple[str, ...] = ("all",)
    conversion: str | None = None
    campaign: str | None = None
    channel: str | None = None
    markov_order: int | None = Field(None, ge=1, le=4)
    lookback_days: int | None = Field(None, ge=1, le=730)
    direct: str | None = None
    """``ignore_unless_alone`` (GA4) or ``credit``; unset: the ``[attribution]`` setting."""


@dataclass
class RoiResult(AnalysisResult):
    """``frame``: channel, campaign, model, cost, conversions, revenue, new_customers, roi, roas,
    cpa, cac (and margin, roi_margin when a margin is set); per model, the not-attributable and
    total rows close it (see the module doc)."""

    def formatted(self, locale: str = "it") -> pd.DataFrame:
        """The frame with euros and ratios as text for people, in ``locale`` (``it`` | ``en``): what a
        printed table shows (column kinds from :mod:`percorso.export.columns`; keys unchanged)."""
        from percorso.export.columns import formatted_frame

        return formatted_frame(self.frame, locale, headers=False)

    def title(self, locale: str | None = None) -> str:
        """Title of the ROI table in ``locale`` (default: the project's): what the ROI is on."""
        locale = locale or self.meta.get("locale", "it")
        margin = self.meta.get("margin")
        if locale == "it":
            return f"ROI sui ricavi (roi) e sul margine (roi_margin, {margin:.0%})" if margin else "ROI sui ricavi"
        return f"ROI on revenue (roi) and on margin (roi_margin, {margin:.0%})" if margin else "ROI on revenue"

    def figure(self, locale: str | None = None) -> Any:
        import plotly.graph_objects as go

        locale = locale or self.meta.get("locale", "it")
        fig = go.Figure()
        for model, part in self.frame.groupby("model", sort=False):
            fig.add_bar(name=str(model), x=part["channel"] + NODE_SEP + part["campaign"], y=part["roas"])
        fig.update_layout(barmode="group", title="ROAS per modello" if locale == "it" else "ROAS by model",
                          yaxis_title="ROAS")
        return fig


def costs_expr(engine: Any, query: Any) -> Any:
    """Costs summed by channel and campaign over the query's dates (in the engine)."""
    c = engine.table("campaign_costs")
    lo, hi = _day_bounds(query)
    if lo is not None:
        c = c.filter(c.date >= lo.date())
    if hi is not None:
        c = c.filter(c.date < hi.date())
    c = c.mutate(channel=c.channel.fill_null("(none)"), campaign=c.campaign.fill_null("(none)"))
    return c.group_by(["channel", "campaign"]).aggregate(cost=c.cost.sum())


class RoiRunner(Runner[RoiQuery, RoiResult]):
    query_type = RoiQuery
    drill_by = ('channel', 'campaign')  # frame columns that name a cell's customers (selectors)

    def _attribution(self) -> AttributionRunner:
        q = self.query
        aq = AttributionQuery(models=q.models, conversion=q.conversion, level="channel_campaign",
                              markov_order=q.markov_order, lookback_days=q.lookback_days, direct=q.direct,
                              date_from=q.date_from, date_to=q.date_to)
        return AttributionRunner(self.engine, aq, self.settings)

    def calculate(self) -> RoiResult:
        q = self.query
        runner = self._attribution()
        attr = runner.calculate()
        long = attr.long.copy() if attr.long is not None else pd.DataFrame()
        # astype: a date range with no conversion leaves an empty, untyped node column
        split = long["node"].astype(str).str.split(NODE_SEP, n=1, expand=True, regex=False).reindex(columns=[0, 1])
        long["channel"], long["campaign"] = split[0], split[1].fillna("(none)")
        long = long.groupby(["channel", "campaign", "model"], sort=False, as_index=False)[
            ["conversions", "value", "new_customers"]].sum()
        costs = self.engine.execute(costs_expr(self.engine, q))
        models = long["model"].unique().tolist() or [m for m in q.models]
        cost_rows = costs.assign(key=1).merge(pd.DataFrame({"model": models, "key": 1}), on="key").drop(columns="key")
        # keys as plain objects on both sides: with no conversion in the dates the split parts are
        # an empty float column, which the merge with the text cost keys refused (`roi --from`
        # past the data was an internal error)
        keys = dict.fromkeys(("channel", "campaign", "model"), object)
        frame = long.astype(keys).merge(cost_rows.astype(keys), on=list(keys), how="outer")
        frame = frame.rename(columns={"value": "revenue"})
        frame[["conversions", "revenue", "new_customers", "cost"]] = frame[
            ["conversions", "revenue", "new_customers", "cost"]].fillna(0.0)
        if q.campaign is not None:
            known = set(frame["campaign"])
            if q.campaign not in known:
                raise NotFound(f"no costs nor conversions for campaign '{q.campaign}'; "
                               f"{suggest(q.campaign, sorted(k for k in known if k != '(none)'))}",
                               code="campaign_unknown")
            frame = frame[frame["campaign"] == q.campaign]
        if q.channel is not None:
            known = set(frame["channel"])
            if q.channel not in known:
                raise NotFound(f"no costs nor conversions for channel '{q.channel}'; {suggest(q.channel, known)}",
                               code="channel_unknown")
            frame = frame[frame["channel"] == q.channel]
        order = {m: i for i, m in enumerate(models)}
        frame = frame.sort_values(["channel", "campaign", "model"], key=lambda s: s.map(order)
                                  if s.name == "model" else s).reset_index(drop=True)
        if q.campaign is None and q.channel is None and attr.totals is not None:
            frame = pd.concat([frame, _reconciling_rows(attr.totals, float(costs["cost"].sum()), models)],
                              ignore_index=True)
        cost = frame["cost"].to_numpy(float)

        def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

        rev = frame["revenue"].to_numpy(float)
        spent = np.where(cost > 0, cost, np.nan)  # no recorded spend: every cost ratio is "—", never 0 €
        frame = frame.assign(
            roi=ratio(rev - cost, cost), roas=ratio(rev, cost),
            cpa=ratio(spent, frame["conversions"].to_numpy(float)),
            cac=ratio(spent, frame["new_customers"].to_numpy(float)),
        )
        cols = ["channel", "campaign", "model", "cost", "conversions", "revenue", "new_customers",
                "roi", "roas", "cpa", "cac"]
        margin = runner.cfg.margin
        if margin is not None:
            frame = frame.assign(margin=rev * margin, roi_margin=ratio(rev * margin - cost, cost))
            cols += ["margin", "roi_margin"]
        frame = frame[cols].reset_index(drop=True)
        meta = {**attr.meta, "currency": "EUR", "margin": margin,
                "roi": "on revenue: (revenue - cost) / cost" + (
                    f"; roi_margin on margin ({margin:.0%} of revenue): (margin - cost) / cost" if margin else "")}
        self._attr_runner = runner
        return RoiResult(frame=frame, query=q, meta=meta)

    def customers_expr(self, **selector: Any) -> Any:
        runner = getattr(self, "_attr_runner", None) or self._attribution()
        channel, campaign = selector.pop("channel", None), selector.pop("campaign", "(none)")
        if channel in (NOT_ATTRIBUTABLE, TOTAL):  # the reconciling rows have no campaign
            return runner.customers_expr(node=channel, **selector)
        return runner.customers_expr(node=f"{channel}{NODE_SEP}{campaign}", **selector)


def _check_drill(runner: RoiRunner, selector: dict[str, Any]) -> None:
    """A channel and campaign no journey has are a typo: say so (see ``register_drill_check``)."""
    if selector.get("channel") in (None, NOT_ATTRIBUTABLE, TOTAL):
        return
    attr = getattr(runner, "_attr_runner", None) or runner._attribution()
    node = f"{selector['channel']}{NODE_SEP}{selector.get('campaign', '(none)')}"
    require_value(runner.engine, attr.touches().node, node, what="channel and campaign")


register_drill_check(("roi",), _check_drill)


def _reconciling_rows(totals: pd.DataFrame, total_cost: float, models: list[str]) -> pd.DataFrame:
    """Per model: the not-attributable row (cost 0) and the total row (every cost in the dates)."""
    rows = []
    for key, label, cost in (("not_attributable", NOT_ATTRIBUTABLE, 0.0), ("total", TOTAL, total_cost)):
        part = totals[totals["row"] == key].set_index("model")
        for m in models:
            if m in part.index:
                r = part.loc[m]
                rows.append({"channel": label, "campaign": "", "model": m, "cost": cost,
                             "conversions": float(r["conversions"]), "revenue": float(r["value"]),
                             "new_customers": float(r["new_customers"])})
    return pd.DataFrame(rows)
