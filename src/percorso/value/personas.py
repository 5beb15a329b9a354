"""Data-driven personas: k-means on journey features, k chosen by silhouette, cards in IT/EN.

Why this shape: the features are computed in the engine (:mod:`personas_features`); only a
deterministic sample of at most ``sample`` rows (50,000 by default) is standardised and
clustered in Python with scikit-learn. Every customer is then assigned in the engine, as the
nearest centroid written as an Ibis expression, so the assignment scales with DuckDB and not
with Python memory. The assignment is persisted in ``customer_personas`` (customer_id,
persona, computed_at) for the segments and the dashboard; each run refreshes it and records
its settings in ``persona_runs`` (:mod:`percorso.value.artefacts`), so ``percorso build`` can
run it again the same way. ``stored=True`` describes the stored assignment without clustering.

Determinism: the sample is the first rows by ``hash(customer_id)``; k-means and the
silhouette sample use ``seed``, so the same data and seed give the same personas. Numbers: a
first run numbers them 1..k by size in the sample (largest first); a later run keeps the number
of the stored persona each new cluster matches (:mod:`percorso.value.personas_numbering`), so a
segment ``persona = 2`` or an exported list keeps meaning the same group after a rebuild; how
each number was chosen is stored in ``persona_numbering``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
from pydantic import Field

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.build.definitions import NET_REVENUE, WITH_TOUCHPOINTS, named
from percorso.errors import InputError, NotFound
from percorso.value import personas_text
from percorso.value.artefacts import (PERSONAS_TABLE, PersonaRun, clear_stale, last_persona_run, load_numbering,
                                      save_numbering, save_persona_run, stale)
from percorso.value.personas_features import card_facts, feature_expr
from percorso.value.personas_numbering import match_numbers, stored_centroids, stored_numbers

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

    from percorso.engine import Engine

TABLE = PERSONAS_TABLE
K_RANGE = (2, 8)
SILHOUETTE_SAMPLE = 5_000


class PersonasQuery(AnalysisQuery):
    """Personas: ``k`` fixed (2–8) or chosen by silhouette when ``None``."""

    kind: ClassVar[str] = "personas"
    k: int | None = Field(None, ge=K_RANGE[0], le=K_RANGE[1])
    seed: int = 0
    sample: int = Field(50_000, ge=10)
    persist: bool = True
    stored: bool = False
    """Describe the stored assignment (the last run, or the last build's refresh) instead of
    clustering again; ``k``, ``seed`` and ``sample`` then do not apply."""


@dataclass
class Fit:
    """Standardisation and centroids (in standard units) of the chosen clustering."""

    features: list[str]
    mean: np.ndarray
    std: np.ndarray
    centroids: np.ndarray
    silhouettes: dict[int, float]
    warm: bool = False
    """The chosen clustering started from the stored personas (see :func:`fit_personas`)."""


def _kmeans(z: np.ndarray, k: int, seed: int, warm: np.ndarray | None) -> tuple[Any, bool]:
    """k-means from ``n_init`` seeded starts and, when ``warm`` has k rows, also from ``warm``;
    the lower inertia wins, the warm start on a tie."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z)
    if warm is None or len(warm) != k:
        return km, False
    again = KMeans(n_clusters=k, init=warm, n_init=1, random_state=seed).fit(z)
    return (again, True) if again.inertia_ <= km.inertia_ * (1 + 1e-9) else (km, False)


def fit_personas(x: np.ndarray, features: list[str], k: int | None, seed: int,
                 previous: np.ndarray | None = None) -> Fit:
    """Standardise ``x`` and cluster it; ``k`` by best silhouette in 2..8 when not given.

    Centroids are ordered by cluster size (largest first): a first run numbers them so.
    ``previous`` (the stored personas' centroids in the units of ``x``) is one more start
    for the k-means with as many clusters. Why: on data with two local optima of nearly the
    same inertia, the seeded starts can land on either depending on the row order (the
    sample is ordered by customer id, and new data or an identity merge moves ids), and the
    personas would then regroup people for no reason in the data; starting from the stored
    personas keeps them when they are still at least as good a clustering.
    """
    from sklearn.metrics import pairwise_distances, silhouette_score

    from sklearn.cluster import KMeans
    from sklearn.metrics import pairwise_distances, silhouette_score

    n = len(x)
    distinct = len(np.unique(x, axis=0))
    if distinct < 2:
        raise InputError(f"personas need customers with at least 2 different journeys; found {distinct}")
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z = (x - mean) / std
    ks = [k] if k is not None else list(range(K_RANGE[0], min(K_RANGE[1], distinct - 1, n - 1) + 1)) or [2]
    if k is not None and k > distinct:
        raise InputError(f"k={k} is more than the {distinct} distinct journeys; use k ≤ {distinct}")
    rng = np.random.default_rng(seed)
    sil_idx = rng.choice(n, size=min(n, SILHOUETTE_SAMPLE), replace=False) if n > SILHOUETTE_SAMPLE else np.arange(n)
    # the distances between the silhouette rows do not depend on k: compute them once, not per k
    dist = pairwise_distances(z[sil_idx])
    warm = None if previous is None or not len(previous) else (previous - mean) / std
    best: tuple[float, int, Any, bool] | None = None
    sils: dict[int, float] = {}
    for kk in ks:
        km, from_warm = _kmeans(z, kk, seed, warm)
        ls = km.labels_[sil_idx]
        if len(np.unique(ls)) < 2:
            sils[kk] = -1.0
        else:
            sils[kk] = float(silhouette_score(dist, ls, metric="precomputed"))
        if best is None or sils[kk] > best[0] + 1e-12:
            best = (sils[kk], kk, km, from_warm)
    assert best is not None
    km = best[2]
    sizes = np.bincount(km.labels_, minlength=best[1])
    order = sorted(range(best[1]), key=lambda i: (-sizes[i], i))
    return Fit(features, mean, std, km.cluster_centers_[order], sils, best[3])


def assign_expr(features: Table, fit: Fit, numbers: list[int] | None = None) -> Table:
    """customer_id, persona: the number (``numbers[i]`` for centroid i, default i + 1) of the
    nearest centroid, computed in the engine."""
    z = {f: (features[f] - float(fit.mean[j])) / float(fit.std[j]) for j, f in enumerate(fit.features)}
    dists = []
    for c in fit.centroids:
        d = sum(((z[f] - float(c[j])) ** 2 for j, f in enumerate(fit.features)), ibis.literal(0.0))
        dists.append(d)
    t = features.select("customer_id", **{f"_d{i}": d for i, d in enumerate(dists)})
    best = ibis.least(*(t[f"_d{i}"] for i in range(len(dists)))) if len(dists) > 1 else t["_d0"]
    numbers = numbers or list(range(1, len(dists) + 1))
    persona = ibis.cases(*((t[f"_d{i}"] == best, numbers[i]) for i in range(len(dists))), else_=numbers[0])
    return t.select("customer_id", persona=persona.cast("int64"))


def _first(df: Any, persona: int, col: str) -> Any:
    rows = df[df["persona"] == persona] if len(df) else df
    return rows[col].iloc[0] if len(rows) else None


def build_cards(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per persona with its facts, names and descriptions, by persona number (numbers
    kept from an earlier run need not be 1..k)."""
    base = facts["base"].sort_values("persona")
    total = float(base["customers"].sum())
    overall = float((base["avg_revenue"] * base["customers"]).sum() / total) if total else 0.0
    cards = []
    for r in base.to_dict("records"):
        p = int(r["persona"])
        ch = facts["channels"]
        ch = ch[ch["persona"] == p]
        cats = facts["categories"]
        cats = cats[cats["persona"] == p]
        card: dict[str, Any] = {
            "persona": p, "customers": int(r["customers"]), "share": float(r["customers"]) / total,
            "avg_revenue": float(r["avg_revenue"]), "avg_orders": float(r["avg_orders"]),
            "buyers_share": float(r["buyers_share"]), "refund_only": int(r["refund_only"]),
            **{k: None if r[k] is None or np.isnan(r[k]) else float(r[k]) for k in personas_text.MIX_SHARES},
            "channels": list(zip(ch["channel"], ch["share"].astype(float), strict=True)),
            "typical_journey": _first(facts["paths"], p, "path"),
            "top_categories": ", ".join(cats["category"]) or None,
            "current_stage": _first(facts["stages"], p, "stage"),
            "home_store": _first(facts["stores"], p, "home_store"),
            "avg_clv": None, "churn_risk": None,
        }
        if "clv" in facts:
            card["avg_clv"] = _first(facts["clv"], p, "avg_clv")
            card["churn_risk"] = _first(facts["clv"], p, "churn_risk")
        card["name_it"], card["name_en"] = personas_text.names(card, overall)
        cards.append(card)
    personas_text.disambiguate(cards)
    for card in cards:
        card["description_it"], card["description_en"] = personas_text.describe(card)
    return cards


def cards_frame(cards: list[dict[str, Any]]) -> Any:
    """The cards as the result table, one row per persona."""
    import pandas as pd

    return pd.DataFrame([{
        "persona": c["persona"], "name_it": c["name_it"], "name_en": c["name_en"],
        "customers": c["customers"], "share": c["share"],
        "dominant_channels": ", ".join(f"{ch} {round(100 * s)}%" for ch, s in c["channels"]),
        "typical_journey": c["typical_journey"], "avg_revenue": c["avg_revenue"],
        "avg_orders": c["avg_orders"], "refund_only": c["refund_only"],
        **{k: c.get(k) for k in personas_text.MIX_SHARES},
        "avg_clv": c["avg_clv"], "churn_risk": c["churn_risk"], "top_categories": c["top_categories"],
        "current_stage": c["current_stage"], "home_store": c["home_store"],
        "description_it": c["description_it"], "description_en": c["description_en"],
    } for c in cards])


@dataclass
class PersonasResult(AnalysisResult):
    cards: list[dict[str, Any]] | None = None

    def figure(self) -> go.Figure:
        """Persona sizes, coloured by average revenue."""
        import plotly.express as px

        return px.bar(self.frame, x="name_en", y="customers", color="avg_revenue", text="share",
                      hover_data=["typical_journey", "dominant_channels"],
                      title="Personas / personas dei clienti")


class PersonasRunner(Runner[PersonasQuery, PersonasResult]):
    query_type = PersonasQuery
    drill_by = ('persona',)  # frame columns that name a cell's customers (selectors)

    def calculate(self) -> PersonasResult:
        q = self.query
        eng = self.engine
        feats, names = feature_expr(eng)
        # without profiling consent a person is in no persona; the result says how many (percorso.privacy)
        from percorso.privacy.consent import allowed
        from percorso.privacy.settings import privacy_settings

        n_all = int(eng.execute(feats.count()))
        feats = feats.semi_join(allowed(eng, "profiling", settings=privacy_settings(self.settings)), "customer_id")
        ftab = eng.temp_table(feats)
        try:
            left_out = n_all - int(eng.execute(ftab.count()))
            if q.stored:
                facts, meta = self._stored(ftab)
            else:
                facts, meta = self._cluster(ftab, names)
        finally:
            eng.drop_temp(ftab)
        cards = build_cards(facts)
        # avg_revenue: net of refunds, each person's never below 0 (personas_features.net_revenue)
        meta = {**meta, "definitions": named(revenue=NET_REVENUE, customers=WITH_TOUCHPOINTS),
                "left_out_without_profiling_consent": left_out}
        return PersonasResult(frame=cards_frame(cards), query=q, meta=meta, cards=cards)

    def _cluster(self, ftab: Table, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fit on the sample, assign everyone in the engine, persist (with the run's settings)."""
        q, eng = self.query, self.engine
        sample = ftab.mutate(_h=ftab.customer_id.hash()).order_by(["_h", "customer_id"]).limit(q.sample)
        x = eng.to_arrow(sample.select(*names)).to_pandas().to_numpy(dtype="float64")
        if len(x) < 3:
            raise InputError(f"personas need at least 3 customers with touchpoints; found {len(x)}")
        previous = stored_centroids(eng, eng.table(TABLE), ftab, names) if eng.has_table(TABLE) else {}
        fit = fit_personas(x, names, q.k, q.seed, np.stack(list(previous.values())) if previous else None)
        k = len(fit.centroids)
        numbering = match_numbers({n: (c - fit.mean) / fit.std for n, c in previous.items()}, fit.centroids,
                                  used=stored_numbers(eng, eng.table(TABLE)) if eng.has_table(TABLE) else set())
        assign = assign_expr(ftab, fit, numbering.numbers)
        meta: dict[str, Any] = {"k": k, "silhouette": fit.silhouettes, "features": names, "sample": len(x),
                                "numbering": numbering.lines(), "warm_start": fit.warm}
        if not q.persist:
            amap = eng.temp_table(assign)
            facts = card_facts(eng, amap, ftab)
            eng.drop_temp(amap)
            return facts, meta
        # microseconds kept: the time identifies the run in persona_runs and persona_numbering,
        # and two runs within one second (a rebuild right after a run) must not share it
        now = datetime.now(UTC).replace(tzinfo=None)
        eng.create_table(TABLE, assign.mutate(computed_at=ibis.literal(now)))
        amap = eng.table(TABLE).select("customer_id", "persona")
        facts = card_facts(eng, amap, ftab)
        save_persona_run(eng, PersonaRun(now, q.k, k, q.seed, q.sample, names, fit.silhouettes,
                                         int(facts["base"]["customers"].sum())))
        save_numbering(eng, now, numbering)
        clear_stale(eng, "personas")
        return facts, {**meta, "computed_at": now}

    def _stored(self, ftab: Table) -> tuple[dict[str, Any], dict[str, Any]]:
        """Cards of the stored assignment, with the settings recorded for it."""
        eng = self.engine
        if self.query.k is not None:
            raise InputError("k applies to a new clustering; with stored=True the stored personas are described")
        if not eng.has_table(TABLE):
            raise NotFound("no personas yet: run `percorso personas` first (nessuna persona calcolata)")
        stored = eng.table(TABLE)
        head = eng.execute(stored.aggregate(k=stored.persona.nunique(), computed_at=stored.computed_at.max())).iloc[0]
        k = 0 if head["k"] is None or head["k"] != head["k"] else int(head["k"])  # NULL: None or NaN
        if k == 0:
            raise NotFound("the stored personas are empty: run `percorso personas` again")
        amap = stored.select("customer_id", "persona")
        run_ = last_persona_run(eng)
        meta: dict[str, Any] = {"k": k, "computed_at": head["computed_at"],
                                "silhouette": run_.silhouette if run_ else {},
                                "features": run_.features if run_ else [], "sample": run_.sample if run_ else None,
                                "stale": stale(eng).get("personas")}
        numbering = load_numbering(eng, head["computed_at"])
        meta["numbering"] = numbering.lines() if numbering else []
        return card_facts(eng, amap, ftab), meta

    def customers_expr(self, **selector: Any) -> Table:
        if not self.engine.has_table(TABLE):
            raise InputError("no personas yet: run `percorso personas` first (nessuna persona calcolata)")
        t = self.engine.table(TABLE)
        p = selector.pop("persona", None)
        if selector:
            raise InputError(f"unknown selector {sorted(selector)}; valid: persona")
        if p is not None:
            t = t.filter(t.persona == int(p))
        return t
