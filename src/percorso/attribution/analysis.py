"""``AttributionQuery`` → runner → ``AttributionResult``: all models side by side.

The runner builds journeys in the engine (:mod:`percorso.attribution.journeys`), brings out
only the distinct-path table, credits it with every requested model, and (``ci_samples``)
bootstraps customers: each resample draws customers with replacement (multinomial counts)
and re-weights the per-customer path rows, so correlated journeys of one customer move together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner, register_drill_check, require_value
from percorso.attribution import aggregates as A
from percorso.attribution import journeys as J
from percorso.attribution import stored as S
from percorso.attribution.direct import IGNORE, drop_direct_paths
from percorso.attribution.models import MODELS, column_name, parse_models
from percorso.attribution.paths import PathTable, read_paths_file
from percorso.attribution.settings import attribution_settings, direct_mode
from percorso.build.definitions import GROSS_REVENUE, named
from percorso.build.schema import exact_sum
from percorso.errors import InputError

if TYPE_CHECKING:
    import plotly.graph_objects as go

MEASURE_NAMES = ("conversions", "value", "new_customers")
#: Node label of the conversions no model could credit (no eligible touchpoint in the lookback).
NOT_ATTRIBUTABLE = "(non attribuibile / not attributable)"
#: Node label of the total row: attributed + not attributable = every conversion in the dates.
TOTAL = "(totale / total)"
#: Row names of :attr:`AttributionResult.totals`.
TOTAL_ROWS = ("attributed", "not_attributable", "total")


class AttributionQuery(AnalysisQuery):
    """Which conversions, which models, at which level."""

    kind: ClassVar[str] = "attribution"
    models: tuple[str, ...] = ("all",)
    conversion: str | None = None
    level: str | None = None
    online_breakdown: bool = False
    lookback_days: int | None = Field(None, ge=1, le=730)
    markov_order: int | None = Field(None, ge=1, le=4)
    half_life_days: float | None = Field(None, gt=0)
    ci_samples: int = Field(0, ge=0, le=2000)
    ci_level: float = Field(0.95, gt=0, lt=1)
    seed: int = 0
    paths_file: str | None = None
    """Credit an aggregated path table file instead of the project's journeys."""
    direct: str | None = None
    """``ignore_unless_alone`` (GA4) or ``credit``; unset: the ``[attribution]`` setting."""


def attribution_title(measure: str = "conversions", locale: str = "it", *, by_model: bool = False) -> str:
    """Title of an attribution table (or, ``by_model``, chart) in the project's ``locale``.

    >>> attribution_title("conversions", "en"), attribution_title("value", "it", by_model=True)
    ('Attribution (conversions)', 'Attribuzione per modello (valore)')
    """
    from percorso.export.columns import column_label

    head = ("Attribuzione", " per modello") if locale == "it" else ("Attribution", " by model")
    return f"{head[0]}{head[1] if by_model else ''} ({column_label(measure, locale)})"


#: The notes an attribution result can carry (``meta["notes"]``), in Italian and English: what a
#: reader of the table would otherwise take for a fault of the numbers.
NOTES: dict[str, tuple[str, str]] = {
    "time_decay_steps": ("time_decay su un file di percorsi: un passo indietro vale un giorno",
                         "time_decay on a paths file: one step back counts as one day"),
    "direct_ignored": ("direct = ignore_unless_alone: last_non_direct è uguale a last (Direct è già ignorato)",
                       "direct = ignore_unless_alone: last_non_direct equals last (Direct is already ignored)"),
    "paths_file": ("file di percorsi: si conoscono solo i percorsi con punti di contatto; non attribuibile = 0",
                   "paths file: only journeys with touchpoints are known; not attributable = 0"),
}


def note_text(key: str, locale: str = "it") -> str:
    """The note ``key`` of :data:`NOTES` in ``locale`` (``it`` | ``en``), as the titles
    (:func:`attribution_title`): an Italian team reads Italian under an Italian table.

    >>> note_text("paths_file", "en")
    'paths file: only journeys with touchpoints are known; not attributable = 0'
    """
    it, en = NOTES[key]
    return it if locale == "it" else en


def settings_locale(settings: Any) -> str:
    """The ``[project] locale`` of a runner's settings (``it`` when they do not say: a dict of
    analysis settings, or none)."""
    return str(getattr(getattr(settings, "project", None), "locale", None) or "it")


@dataclass
class AttributionResult(AnalysisResult):
    """``frame``: one row per credited node, one conversions column per model, plus ``spread``;
    then the row :data:`NOT_ATTRIBUTABLE` and the row :data:`TOTAL` (see :meth:`table`).
    ``long``: node, model, conversions, value, new_customers (and ci_low / ci_high), nodes only.
    ``totals``: row (``attributed`` | ``not_attributable`` | ``total``), model, conversions,
    value, new_customers: for every model, attributed + not attributable = total, and the total
    is every conversion of the definition in the dates (for purchases: the purchase orders and
    their gross revenue, :mod:`percorso.build.definitions`)."""

    long: pd.DataFrame | None = None
    totals: pd.DataFrame | None = None

    def notes(self, lang: str = "it") -> list[str]:
        """``meta["notes"]`` (in the project's language) with each of :data:`NOTES` in ``lang``:
        a dashboard page in English under an Italian project says them in English."""
        key = {text: k for k, pair in NOTES.items() for text in pair}
        return [note_text(key[n], lang) if n in key else n for n in super().notes(lang)]

    def table(self, measure: str = "conversions") -> pd.DataFrame:
        """Nodes × models for ``measure``, then the not-attributable row and the total row."""
        long = self.long if self.long is not None else pd.DataFrame(columns=["node", "model", *MEASURE_NAMES])
        models = list(self.totals["model"].unique()) if self.totals is not None else None
        return with_totals(wide_frame(long, measure, models), self.totals, measure)

    def nodes(self, measure: str = "conversions") -> pd.DataFrame:
        """The credited nodes only (no reconciling rows): sums to the ``attributed`` row."""
        f = self.frame if measure == "conversions" else self.table(measure)
        return f[~f["node"].isin((NOT_ATTRIBUTABLE, TOTAL))].reset_index(drop=True)

    def figure(self, measure: str = "conversions", locale: str | None = None) -> go.Figure:
        """Grouped bar chart: every model side by side per node; words in ``locale`` (default: the
        project's, ``meta["locale"]``)."""
        import plotly.graph_objects as go

        from percorso.export.columns import column_label

        locale = locale or self.meta.get("locale", "it")

        fig = go.Figure()
        long = self.long if self.long is not None else pd.DataFrame()
        for model, part in long.groupby("model", sort=False):
            err = None
            if "ci_low" in part and part["ci_low"].notna().any() and measure == "conversions":
                err = dict(type="data", symmetric=False, array=part["ci_high"] - part[measure],
                           arrayminus=part[measure] - part["ci_low"])
            fig.add_bar(name=str(model), x=part["node"], y=part[measure], error_y=err)
        fig.update_layout(barmode="group", title=attribution_title(measure, locale, by_model=True),
                          xaxis_title=column_label(str(self.meta.get("level", "channel")), locale),
                          yaxis_title=column_label(measure, locale))
        return fig


def _long_frame(nodes: tuple[str, ...], credits: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = []
    for name, c in credits.items():
        parts.append(pd.DataFrame({"node": list(nodes), "model": name, "conversions": c[:, 0],
                                   "value": c[:, 1], "new_customers": c[:, 2]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["node", "model", *MEASURE_NAMES])


def wide_frame(long: pd.DataFrame, measure: str = "conversions", models: list[str] | None = None) -> pd.DataFrame:
    """Nodes × models for one measure, with ``spread`` = max - min across models.

    ``models`` names the columns even when there is no node to credit (no journeys)."""
    models = models if models is not None else list(long["model"].unique())
    if long.empty:
        return pd.DataFrame(columns=["node", *models, "spread"])
    wide = long.pivot_table(index="node", columns="model", values=measure, sort=False, aggfunc="sum")
    wide = wide[models]
    wide["spread"] = wide.max(axis=1) - wide.min(axis=1)
    wide = wide.reset_index()
    wide.columns.name = None
    return wide.sort_values(wide.columns[1], ascending=False, kind="stable").reset_index(drop=True)


def with_totals(wide: pd.DataFrame, totals: pd.DataFrame | None, measure: str) -> pd.DataFrame:
    """``wide`` (nodes × models) followed by the not-attributable and total rows of ``totals``."""
    if totals is None or totals.empty:
        return wide
    rows = []
    for key, label in (("not_attributable", NOT_ATTRIBUTABLE), ("total", TOTAL)):
        part = totals[totals["row"] == key].set_index("model")[measure]
        row = {"node": label, **{m: float(part.get(m, 0.0)) for m in wide.columns if m not in ("node", "spread")}}
        vals = [v for k, v in row.items() if k != "node"]
        row["spread"] = (max(vals) - min(vals)) if vals else 0.0
        rows.append(row)
    return pd.concat([wide, pd.DataFrame(rows, columns=wide.columns)], ignore_index=True)


def totals_frame(long: pd.DataFrame, models: list[str], grand: dict[str, float]) -> pd.DataFrame:
    """Per model: what it credited, what it could not, and ``grand`` (every conversion).

    ``not_attributable`` = ``grand`` − credited, so the three rows reconcile by construction;
    what makes them honest is that ``grand`` is counted apart, from the conversions themselves
    (:func:`percorso.attribution.journeys.conversions_expr`), not from the journeys.
    """
    rows = []
    for m in models:
        part = long[long["model"] == m]
        got = {k: float(part[k].sum()) for k in MEASURE_NAMES}
        rows.append({"row": "attributed", "model": m, **got})
        # + 0.0: a sum's residue rounds to -0.0, printed "-0,00" (1M clickstream, linear, ADR 0058)
        rows.append({"row": "not_attributable", "model": m,
                     **{k: round(grand[k] - got[k], 9) + 0.0 for k in MEASURE_NAMES}})
        rows.append({"row": "total", "model": m, **grand})
    return pd.DataFrame(rows, columns=["row", "model", *MEASURE_NAMES])


class AttributionRunner(Runner[AttributionQuery, AttributionResult]):
    query_type = AttributionQuery
    drill_by = ('node',)  # frame columns that name a cell's customers (selectors)

    def __init__(self, engine: Any, query: AttributionQuery, settings: Any = None) -> None:
        super().__init__(engine, query, settings)
        base = attribution_settings(settings)
        updates: dict[str, Any] = {}
        for field, q in (("lookback_days", query.lookback_days), ("markov_order", query.markov_order),
                         ("half_life_days", query.half_life_days), ("level", query.level)):
            if q is not None:
                updates[field] = q
        if query.direct is not None:
            try:
                updates["direct"] = direct_mode(query.direct)
            except ValueError as exc:
                raise InputError(str(exc), code="direct_unknown") from None
        try:
            self.cfg = base.model_validate({**base.model_dump(), **updates}) if updates else base
        except ValidationError as exc:  # a query's level, lookback… is the user's input, not the TOML
            raise InputError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()),
                             code="attribution_query_invalid") from None
        self.conversion = self.cfg.conversion(query.conversion)
        self.model_names = parse_models(list(query.models))

    # -- inputs ---------------------------------------------------------------------------
    def touches(self) -> Any:
        return J.journey_touches(self.engine, self.cfg, self.conversion, level=self.cfg.level,
                                 online_breakdown=self.query.online_breakdown, query=self.query)

    def model(self, name: str) -> Any:
        c = self.cfg
        params = {"first": {}, "last": {}, "linear": {},
                  "last_non_direct": {"direct_channels": tuple(c.direct_channels)},
                  "time_decay": {"half_life_days": c.half_life_days},
                  "position": {"first": c.position_first, "last": c.position_last},
                  "markov": {"order": c.markov_order}, "shapley": {"max_exact": c.shapley_exact_max_channels}}
        return MODELS[name](**params.get(name, {}))

    def journeys(self) -> Any:
        """One row per journey in the query's dates (:func:`A.journeys_expr`): from the journeys
        stored for this definition and data version when the database allows it
        (:mod:`percorso.attribution.stored`, ADR 0038), else computed from :meth:`touches`."""
        whole = S.stored_journeys(self.engine, self.cfg, self.conversion, self.query.online_breakdown)
        self._stored = whole is not None
        if whole is None:
            self._touches = self.touches()
            return A.journeys_expr(self._touches)
        return S.in_dates(whole, self.query).drop("ref_at", "ref_local")

    # -- calculation ----------------------------------------------------------------------
    def calculate(self) -> AttributionResult:
        q = self.query
        if q.paths_file is not None:
            paths = read_paths_file(q.paths_file)
            if self.cfg.direct == IGNORE:  # the same convention, as a per-path rewrite
                paths = drop_direct_paths(paths, self.cfg.direct_channels)
            return self._credit(paths, None, None)
        journeys = self.journeys()
        # read twice: materialise the journeys once (stored journeys are a table already)
        shared = "time_decay" in self.model_names and not self._stored
        if shared:
            journeys = self.engine.temp_table(journeys)
        try:
            if q.ci_samples:
                paths, cust, n_cust = A.load_customer_paths(self.engine, journeys)
                return self._credit(paths, journeys, (cust, n_cust))
            return self._credit(A.load_path_table(self.engine, journeys), journeys, None)
        finally:
            if shared:
                self.engine.drop_temp(journeys)

    def _credit(self, paths: PathTable, journeys: Any, customers: tuple[np.ndarray, int] | None) -> AttributionResult:
        """Every requested model on the path table (time decay on the journeys, when there are)."""
        q = self.query
        credits: dict[str, np.ndarray] = {}
        notes: list[str] = []   # in the project's language (NOTES), printed under the table
        locale = settings_locale(self.settings)
        for name in self.model_names:
            col = column_name(name, self.cfg.markov_order)
            if name == "time_decay" and journeys is not None:
                credits[col] = self._engine_time_decay(journeys, paths.nodes)
            else:
                if name == "time_decay":
                    notes.append(note_text("time_decay_steps", locale))
                credits[col] = self.model(name).credit(paths)
        if "last_non_direct" in credits and "last" in credits and self.cfg.direct == IGNORE:
            notes.append(note_text("direct_ignored", locale))
        long = _long_frame(paths.nodes, credits)
        if q.ci_samples:
            long = self._bootstrap(long, paths, credits, customers)
        totals = paths.totals()
        meta = {"level": self.cfg.level, "conversion": q.conversion or self.cfg.default_conversion,
                "lookback_days": self.cfg.lookback_days, "markov_order": self.cfg.markov_order,
                "direct": self.cfg.direct,
                "n_paths": paths.n_paths, "totals": totals, "notes": notes, "locale": locale,
                # value: the conversions' revenue before returns (for purchases: gross revenue)
                "definitions": named(revenue=GROSS_REVENUE) if self.conversion.value == "revenue" else {}}
        if journeys is not None:
            grand = self._grand_totals()
            meta["conversions_without_touchpoints"] = grand["conversions"] - totals["conversions"]
        else:  # a path table holds only journeys with touchpoints: nothing is known beyond them
            grand = {k: float(totals[k]) for k in MEASURE_NAMES}
            notes.append(note_text("paths_file", locale))
        recon = totals_frame(long, list(credits), grand)
        frame = with_totals(wide_frame(long, models=list(credits)), recon, "conversions")
        return AttributionResult(frame=frame, query=q, meta=meta, long=long, totals=recon)

    def _grand_totals(self) -> dict[str, float]:
        """Every conversion of the definition in the query's dates, credited or not (the value an exact sum)."""
        c = J.conversions_expr(self.engine, self.conversion, self.query)
        row = self.engine.execute(c.aggregate(conversions=c.count(), value=exact_sum(c.value),
                                              new_customers=c.new_customer.sum())).iloc[0]
        return {k: float(0.0 if pd.isna(row[k]) else row[k]) for k in MEASURE_NAMES}

    def _engine_time_decay(self, journeys: Any, nodes: tuple[str, ...]) -> np.ndarray:
        df = self.engine.execute(A.time_decay_expr(journeys, self.cfg.half_life_days))
        by_node = df.set_index("node")
        out = np.zeros((len(nodes), 3))
        for i, n in enumerate(nodes):
            if n in by_node.index:
                out[i] = by_node.loc[n, list(MEASURE_NAMES)].to_numpy(dtype=float)
        return out

    def _bootstrap(self, long: pd.DataFrame, paths: PathTable, credits: dict[str, np.ndarray],
                   customers: tuple[np.ndarray, int] | None) -> pd.DataFrame:
        """Percentile intervals of conversions credited, resampling customers (or journeys)."""
        q = self.query
        if not len(paths.nodes) or (customers is not None and customers[1] == 0):
            return long.assign(ci_low=np.nan, ci_high=np.nan)  # nothing to resample (dates with no journey)
        rng = np.random.default_rng(q.seed)
        samples = {m: np.empty((q.ci_samples, len(paths.nodes))) for m in credits}
        base = (paths.conversions, paths.value, paths.nulls, paths.new_customers)
        for b in range(q.ci_samples):
            if customers is not None:
                cust, n_cust = customers
                weight = rng.multinomial(n_cust, np.full(n_cust, 1.0 / n_cust))[cust].astype(float)
                resampled = paths.with_counts(*(x * weight for x in base))
            else:  # a path file has no customers: Poisson-resample its journeys
                conv_b = rng.poisson(paths.conversions).astype(float)
                per_conv = conv_b / np.maximum(paths.conversions, 1e-12)
                resampled = paths.with_counts(conv_b, paths.value * per_conv,
                                              rng.poisson(paths.nulls).astype(float), paths.new_customers * per_conv)
            for col in credits:
                name = "markov" if col.startswith("markov_") else col
                if name == "time_decay" and customers is not None:
                    samples[col][b] = np.nan
                    continue
                samples[col][b] = self.model(name).credit(resampled)[:, 0]
        alpha = (1 - q.ci_level) / 2
        lows, highs = [], []
        for col in credits:
            lows.append(np.quantile(samples[col], alpha, axis=0))
            highs.append(np.quantile(samples[col], 1 - alpha, axis=0))
        long = long.copy()
        long["ci_low"] = np.concatenate(lows)
        long["ci_high"] = np.concatenate(highs)
        return long

    def customers_expr(self, **selector: Any) -> Any:
        """Converting customers whose credited journey passes through the selected node.

        ``node=NOT_ATTRIBUTABLE``: the customers with a conversion in the dates that no journey
        credits; ``node=TOTAL``: every customer with a conversion in the dates.
        """
        value = selector.pop("node", None) or selector.pop("channel", None) or selector.pop(self.cfg.level, None)
        if value is None or selector:
            raise InputError(f"drill-down needs node=… (or channel=…); got {sorted(selector) or 'nothing'}",
                             code="selector_invalid")
        if self.query.paths_file is not None:
            raise InputError("a paths file has no customers to drill down to", code="selector_invalid")
        whole = S.stored_journeys(self.engine, self.cfg, self.conversion, self.query.online_breakdown)
        if whole is not None:  # the same customers, from the stored journeys (ADR 0038)
            return self._stored_customers(S.in_dates(whole, self.query), value)
        t = getattr(self, "_touches", None)
        t = self.touches() if t is None else t
        if value in (NOT_ATTRIBUTABLE, TOTAL):
            conv = J.conversions_expr(self.engine, self.conversion, self.query)
            if value == NOT_ATTRIBUTABLE:  # a credited conversion is a converting journey's ref_at
                done = t.filter(t.converted == 1).select("customer_id", _at="ref_at").distinct()
                conv = conv.anti_join(done, [conv.customer_id == done.customer_id, conv.occurred_at == done._at])
            return conv.select("customer_id").distinct()
        return t.filter((t.node == value) & (t.converted == 1)).select("customer_id").distinct()


    def _stored_customers(self, j: Any, value: str) -> Any:
        """:meth:`customers_expr` on stored journeys: a journey's nodes are its touchpoints' nodes
        and its ``ref_at`` their conversion moment, so the same customers come out."""
        if value in (NOT_ATTRIBUTABLE, TOTAL):
            conv = J.conversions_expr(self.engine, self.conversion, self.query)
            if value == NOT_ATTRIBUTABLE:
                done = j.filter(j.converted == 1).select("customer_id", _at="ref_at").distinct()
                conv = conv.anti_join(done, [conv.customer_id == done.customer_id, conv.occurred_at == done._at])
            return conv.select("customer_id").distinct()
        return j.filter((j.converted == 1) & j.nodes.contains(value)).select("customer_id").distinct()


def _check_drill(runner: AttributionRunner, selector: dict[str, Any]) -> None:
    """A drill-down node no journey has is a typo: say so (see ``register_drill_check``)."""
    value = selector.get("node") or selector.get("channel") or selector.get(runner.cfg.level)
    if value is None or runner.query.paths_file is not None or value in (NOT_ATTRIBUTABLE, TOTAL):
        return
    t = getattr(runner, "_touches", None)
    require_value(runner.engine, (runner.touches() if t is None else t).node, value, what="node")


register_drill_check(("attribution",), _check_drill)
