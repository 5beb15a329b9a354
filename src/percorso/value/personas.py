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
silhouette sample use ``seed``; personas are numbered 1..k by size in the sample (largest
first), so the same data and seed give the same personas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
from pydantic import Field

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner
from percorso.errors import InputError, NotFound
from percorso.value import personas_text
from percorso.value.artefacts import (PersonaRun, clear_stale, last_persona_run, save_persona_run,
                                      stale)
from percorso.value.personas_features import card_facts, feature_expr

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from ibis.expr.types import Table

    from percorso.engine import Engine

TABLE = "customer_personas"
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


def fit_personas(x: np.ndarray, features: list[str], k: int | None, seed: int) -> Fit:
    """Standardise ``x`` and cluster it; ``k`` by best silhouette in 2..8 when not given.

    Centroids are renumbered by cluster size (largest first) so persona 1 is the biggest.
    """
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
    best: tuple[float, int, Any] | None = None
    sils: dict[int, float] = {}
    for kk in ks:
        km = KMeans(n_clusters=kk, n_init=4, random_state=seed).fit(z)
        ls = km.labels_[sil_idx]
        if len(np.unique(ls)) < 2:
            sils[kk] = -1.0
        else:
            sils[kk] = float(silhouette_score(dist, ls, metric="precomputed"))
        if best is None or sils[kk] > best[0] + 1e-12:
            best = (sils[kk], kk, km)
    assert best is not None
    km = best[2]
    sizes = np.bincount(km.labels_, minlength=best[1])
    order = sorted(range(best[1]), key=lambda i: (-sizes[i], i))
    return Fit(features, mean, std, km.cluster_centers_[order], sils)


def assign_expr(features: Table, fit: Fit) -> Table:
    """customer_id, persona (1..k): the nearest centroid, computed in the engine."""
    z = {f: (features[f] - float(fit.mean[j])) / float(fit.std[j]) for j, f in enumerate(fit.features)}
    dists = []
    for c in fit.centroids:
        d = sum(((z[f] - float(c[j])) ** 2 for j, f in enumerate(fit.features)), ibis.literal(0.0))
        dists.append(d)
    t = features.select("customer_id", **{f"_d{i}": d for i, d in enumerate(dists)})
    best = ibis.least(*(t[f"_d{i}"] for i in range(len(dists)))) if len(dists) > 1 else t["_d0"]
    persona = ibis.cases(*((t[f"_d{i}"] == best, i + 1) for i in range(len(dists))), else_=1)
    return t.select("customer_id", persona=persona.cast("int64"))


def _first(df: Any, persona: int, col: str) -> Any:
    rows = df[df["persona"] == persona] if len(df) else df
    return rows[col].iloc[0] if len(rows) else None


def build_cards(facts: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """One dict per persona with its facts, names and descriptions."""
    base = facts["base"]
    total = float(base["customers"].sum())
    overall = float((base["avg_revenue"] * base["customers"]).sum() / total) if total else 0.0
    cards = []
    for p in range(1, k + 1):
        row = base[base["persona"] == p]
        if not len(row):
            continue
        r = row.iloc[0]
        ch = facts["channels"]
        ch = ch[ch["persona"] == p]
        cats = facts["categories"]
        cats = cats[cats["persona"] == p]
        card: dict[str, Any] = {
            "persona": p, "customers": int(r["customers"]), "share": float(r["customers"]) / total,
            "avg_revenue": float(r["avg_revenue"]), "avg_orders": float(r["avg_orders"]),
            "buyers_share": float(r["buyers_share"]),
            "online_order_share": None if r["online_order_share"] is None or np.isnan(r["online_order_share"])
            else float(r["online_order_share"]),
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
        "avg_orders": c["avg_orders"], "online_order_share": c["online_order_share"],
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

    def calculate(self) -> PersonasResult:
        q = self.query
        eng = self.engine
        feats, names = feature_expr(eng)
        ftab = eng.temp_table(feats)
        try:
            if q.stored:
                k, facts, meta = self._stored(ftab)
            else:
                k, facts, meta = self._cluster(ftab, names)
        finally:
            eng.drop_temp(ftab)
        cards = build_cards(facts, k)
        return PersonasResult(frame=cards_frame(cards), query=q, meta=meta, cards=cards)

    def _cluster(self, ftab: Table, names: list[str]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """Fit on the sample, assign everyone in the engine, persist (with the run's settings)."""
        q, eng = self.query, self.engine
        sample = ftab.mutate(_h=ftab.customer_id.hash()).order_by(["_h", "customer_id"]).limit(q.sample)
        x = eng.to_arrow(sample.select(*names)).to_pandas().to_numpy(dtype="float64")
        if len(x) < 3:
            raise InputError(f"personas need at least 3 customers with touchpoints; found {len(x)}")
        fit = fit_personas(x, names, q.k, q.seed)
        k = len(fit.centroids)
        assign = assign_expr(ftab, fit)
        meta: dict[str, Any] = {"k": k, "silhouette": fit.silhouettes, "features": names, "sample": len(x)}
        if not q.persist:
            amap = eng.temp_table(assign)
            facts = card_facts(eng, amap, ftab)
            eng.drop_temp(amap)
            return k, facts, meta
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        eng.create_table(TABLE, assign.mutate(computed_at=ibis.literal(now)))
        amap = eng.table(TABLE).select("customer_id", "persona")
        facts = card_facts(eng, amap, ftab)
        save_persona_run(eng, PersonaRun(now, q.k, k, q.seed, q.sample, names, fit.silhouettes,
                                         int(facts["base"]["customers"].sum())))
        clear_stale(eng, "personas")
        return k, facts, {**meta, "computed_at": now}

    def _stored(self, ftab: Table) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """Cards of the stored assignment, with the settings recorded for it."""
        eng = self.engine
        if self.query.k is not None:
            raise InputError("k applies to a new clustering; with stored=True the stored personas are described")
        if not eng.has_table(TABLE):
            raise NotFound("no personas yet: run `percorso personas` first (nessuna persona calcolata)")
        stored = eng.table(TABLE)
        head = eng.execute(stored.aggregate(k=stored.persona.max(), computed_at=stored.computed_at.max())).iloc[0]
        k = 0 if head["k"] is None or head["k"] != head["k"] else int(head["k"])  # NULL: None or NaN
        if k == 0:
            raise NotFound("the stored personas are empty: run `percorso personas` again")
        amap = stored.select("customer_id", "persona")
        run_ = last_persona_run(eng)
        meta: dict[str, Any] = {"k": k, "computed_at": head["computed_at"],
                                "silhouette": run_.silhouette if run_ else {},
                                "features": run_.features if run_ else [], "sample": run_.sample if run_ else None,
                                "stale": stale(eng).get("personas")}
        return k, card_facts(eng, amap, ftab), meta

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
