"""Customer health index 0–100: an explainable weighted sum of six components.

Why a composite and not a model: a CRM team must be able to say *why* a customer scores 35
("no purchase for three times their usual gap, two complaints"); each component is a plain
rule scaled 0–1 in the engine, and every customer's score comes with its components.

With ``as_of`` (default: the day after the last touchpoint) and the parameters of
``[value.health]`` (:class:`~percorso.value.settings.HealthSettings`; windows end the day
before ``as_of``):

* **recency**: customers with ≥ 2 purchases on different days are judged against their own
  rhythm, ``ratio = days since last purchase / mean gap between purchases``:
  ``clip(1 − (ratio − 1) / 2, 0, 1)`` (1 within the rhythm, 0 at three gaps). One purchase
  (or all on one day): ``clip(1 − days since / recency_days, 0, 1)``. No purchase: 0.
* **frequency**: purchase orders in the last ``trend_days`` (``a``) and the ``trend_days``
  before (``b``): ``a / (a + b)`` (0.5 = steady, 1 = only recent, 0 = stopped; 0 if none).
* **value**: the same ratio on purchase revenue.
* **engagement**: distinct channels of the touchpoints in the last ``engagement_days``
  divided by ``engagement_channels``, capped at 1.
* **service**: ``1 − min(1, issues / service_issues)`` where issues are call-center contacts
  whose ``reason`` is in ``complaint_reasons`` plus returns, in the last ``service_days``.
* **consent**: 1 with marketing consent, else 0. When no customer has a consent on record (no
  source gives one: :data:`CONSENT_NOTE`), consent is not measured: the component is NULL (shown
  ``—``, not 0 % of people consenting) and its weight goes to the other five (ADR 0060).

``score = 100 × Σ weight × component`` with the weights normalised to sum 1. Bands:
``0-20``, ``20-40``, ``40-60``, ``60-80``, ``80-100`` (lower bound included; 100 is in the top).

Per band, revenue is summed to the millionth and the scores and components averaged to the
1e-9th (:func:`~percorso.build.schema.exact_sum`, ``exact_mean``): exact sums, so the same
data gives the same figures run after run (a mean of doubles changed in its last digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import ibis

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner, bilingual_note
from percorso.build.definitions import GROSS_REVENUE, WITH_TOUCHPOINTS, named, with_touchpoints
from percorso.build.details import with_details
from percorso.build.schema import exact_mean, exact_sum
from percorso.errors import InputError, suggest
from percorso.value.settings import HEALTH_COMPONENTS, HealthSettings, value_settings

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

    from percorso.engine import Engine

BANDS = ("0-20", "20-40", "40-60", "60-80", "80-100")


def _clip01(x: Any) -> Any:
    return ibis.least(ibis.greatest(x, 0.0), 1.0)


def default_as_of(engine: Engine) -> date:
    """The local day after the last touchpoint (today's view of a finished data set)."""
    t = engine.table("touchpoints")
    last = engine.scalar(t.occurred_at_local.max())
    if last is None:
        raise InputError("no touchpoints: run `percorso build` first (nessun touchpoint)")
    return last.date() + timedelta(days=1)


CONSENT_NOTES = {
    "it": ("consenso: non misurato, nessuna sorgente dà il consenso marketing (un file crm o loyalty con la colonna "
           "consenso_marketing); il punteggio usa le altre componenti"),
    "en": ("consent: not measured, no source gives marketing consent (a crm or loyalty file with a consent_marketing "
           "column); the score uses the other components"),
}
"""Why the consent column of a health result is empty (:func:`consent_measured` is False), by language."""
CONSENT_NOTE = bilingual_note(CONSENT_NOTES["it"], CONSENT_NOTES["en"])
"""The same in both languages, one line (``meta["notes"]``: the API); the CLI and the dashboard
say it in one (``HealthResult.notes``)."""


def consent_measured(engine: Engine) -> bool:
    """Whether any customer with touchpoints has a marketing consent on record (yes or no).

    Why: ``consent_marketing`` is NULL for everyone when no source gives consent (a clickstream
    alone); counted as "no consent", it read as "nobody consented" and took its weight off every
    score."""
    c = with_touchpoints(engine.table("customers"))
    return bool(engine.scalar(c.consent_marketing.notnull().any()))


def health_expr(engine: Engine, cfg: HealthSettings | None = None, as_of: date | None = None, *,
                consent: bool | None = None) -> Table:
    """Per customer: the six components (0–1), ``score`` (0–100), ``band`` and ``revenue``.

    ``consent``: whether consent is measured (default: :func:`consent_measured`); when not, the
    consent component is NULL and the other components share its weight."""
    cfg = cfg or HealthSettings()
    as_of = as_of or default_as_of(engine)
    if consent is None:
        consent = consent_measured(engine)
    # local midnight of as_of: windows are local calendar days (orders/touchpoints.occurred_at_local)
    end = ibis.literal(datetime.combine(as_of, datetime.min.time()))
    since = lambda days: end - ibis.interval(days=days)  # noqa: E731

    o = engine.table("orders")
    o = o.filter(o.customer_id.notnull(), o.occurred_at_local < end)
    ret = o.is_return.fill_null(False)
    pur = o.filter(~ret)
    n_tr = cfg.trend_days
    recent = pur.occurred_at_local >= since(n_tr)
    before = (pur.occurred_at_local >= since(2 * n_tr)) & ~recent
    pos = ibis.greatest(pur.revenue, 0.0)
    pg = pur.group_by("customer_id").aggregate(
        n=pur.count(), first_day=pur.occurred_at_local.min().date(), last_day=pur.occurred_at_local.max().date(),
        revenue=exact_sum(pur.revenue),  # exact sums: the same in any row order (build.schema.exact_sum)
        fa=recent.cast("int64").sum(), fb=before.cast("int64").sum(),
        va=exact_sum(pos, where=recent).fill_null(0.0), vb=exact_sum(pos, where=before).fill_null(0.0),
    )
    rets = o.filter(ret & (o.occurred_at_local >= since(cfg.service_days)))
    rets = rets.group_by("customer_id").aggregate(n_returns=rets.count())

    tp = engine.table("touchpoints")
    tp = tp.filter(tp.customer_id.notnull(), tp.occurred_at_local < end)
    eng_tp = tp.filter(tp.occurred_at_local >= since(cfg.engagement_days))
    eg = eng_tp.group_by("customer_id").aggregate(n_channels=eng_tp.channel.nunique())
    reasons = [r.lower() for r in cfg.complaint_reasons]
    calls = tp.filter(tp.channel == "Call center", tp.occurred_at_local >= since(cfg.service_days))
    calls = with_details(engine, calls, ["properties"])   # a call's reason: read from its event (ADR 0061)
    reason = calls.properties.cast("json")["reason"].str.lower()
    calls = calls.filter(reason.isin(reasons) if reasons else ibis.literal(False))
    cg = calls.group_by("customer_id").aggregate(n_complaints=calls.count())

    # people with touchpoints: a person known only from CRM records has no behaviour to score
    c = with_touchpoints(engine.table("customers")).select("customer_id", "consent_marketing")
    t = c.left_join(pg, "customer_id").drop("customer_id_right")
    for part in (rets, eg, cg):
        t = t.left_join(part, "customer_id").drop("customer_id_right")
    n = t.n.fill_null(0)
    days_since = ibis.literal(as_of).delta(t.last_day, unit="day").cast("float64")
    span = t.last_day.delta(t.first_day, unit="day").cast("float64")
    gap = span / (n - 1).cast("float64")
    recency = ibis.cases(
        ((n >= 2) & (span > 0), _clip01(1.0 - (days_since / gap - 1.0) / 2.0)),
        (n >= 1, _clip01(1.0 - days_since / cfg.recency_days)),
        else_=0.0,
    )
    fa, fb = t.fa.fill_null(0).cast("float64"), t.fb.fill_null(0).cast("float64")
    va, vb = t.va.fill_null(0.0), t.vb.fill_null(0.0)
    issues = (t.n_returns.fill_null(0) + t.n_complaints.fill_null(0)).cast("float64")
    comp = {
        "recency": recency,
        "frequency": ibis.cases((fa + fb > 0, fa / (fa + fb)), else_=0.0),
        "value": ibis.cases((va + vb > 0, va / (va + vb)), else_=0.0),
        "engagement": ibis.least(t.n_channels.fill_null(0).cast("float64") / cfg.engagement_channels, 1.0),
        "service": 1.0 - ibis.least(issues / cfg.service_issues, 1.0),
        "consent": (ibis.cases((t.consent_marketing.fill_null(False), 1.0), else_=0.0) if consent
                    else ibis.null("float64")),
    }
    t = t.select("customer_id", revenue=t.revenue.fill_null(0.0), orders=n.cast("int64"),
                 **{k: v.cast("float64") for k, v in comp.items()})
    w = cfg.weights(() if consent else ("consent",))
    score = sum((t[k] * w[k] for k in HEALTH_COMPONENTS if w[k]), ibis.literal(0.0)) * 100.0
    t = t.mutate(score=score)
    idx = ibis.least((t.score / 20.0).floor().cast("int64"), 4)
    band = ibis.cases(*((idx == i, b) for i, b in enumerate(BANDS)), else_=BANDS[-1])
    return t.mutate(band=band)


class HealthQuery(AnalysisQuery):
    """Customer health index: customers and revenue per score band."""

    kind: ClassVar[str] = "health"
    as_of: date | None = None


@dataclass
class HealthResult(AnalysisResult):
    def figure(self) -> go.Figure:
        """Histogram of the customers per score band."""
        import plotly.express as px

        return px.bar(self.frame, x="band", y="customers", text="customers", color="avg_score",
                      title="Indice di salute dei clienti / customer health index")


class HealthRunner(Runner[HealthQuery, HealthResult]):
    query_type = HealthQuery
    drill_by = ('band',)  # frame columns that name a cell's customers (selectors)

    def _table(self) -> Table:
        cfg = value_settings(self.settings).health
        as_of = self.query.as_of
        if as_of is None and self.query.date_to is not None:
            dt = self.query.date_to
            as_of = (dt.date() if isinstance(dt, datetime) else dt) + timedelta(days=1)
        from percorso.value.segments.store import in_segment

        self.consent = consent_measured(self.engine)
        return in_segment(self.engine, health_expr(self.engine, cfg, as_of, consent=self.consent),
                          self.query.segment, self.settings)

    def calculate(self) -> HealthResult:
        t = self._table()
        agg = t.group_by("band").aggregate(
            customers=t.count(), revenue=exact_sum(t.revenue), avg_score=exact_mean(t.score),
            **{f"avg_{k}": exact_mean(t[k]) for k in HEALTH_COMPONENTS},
        )
        df = self.engine.execute(agg)
        df = df.set_index("band").reindex(list(BANDS)).reset_index()
        df["customers"] = df["customers"].fillna(0).astype("int64")
        df["revenue"] = df["revenue"].fillna(0.0)
        total = int(df["customers"].sum())
        df.insert(2, "share", df["customers"] / total if total else 0.0)
        unmeasured = () if self.consent else ("consent",)
        w = value_settings(self.settings).health.weights(unmeasured)
        defs = named(revenue=GROSS_REVENUE, customers=WITH_TOUCHPOINTS)
        meta = {"customers": total, "weights": w, "definitions": defs, "unmeasured": list(unmeasured),
                "notes": [] if self.consent else [CONSENT_NOTE]}
        return HealthResult(frame=df, query=self.query, meta=meta)

    def customers_expr(self, **selector: Any) -> Table:
        t = self._table()
        band = selector.pop("band", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: band")
        if band is not None:
            if band not in BANDS:
                raise InputError(f"unknown health band '{band}'; {suggest(band, BANDS)}")
            t = t.filter(t.band == band)
        return t
