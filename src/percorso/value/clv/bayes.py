"""Optional Bayesian BG/NBD through pymc-marketing (``pip install percorso[bayes]``).

Why optional: pymc is heavy; the default install fits by maximum likelihood. Import lazily.
"""

from __future__ import annotations

from typing import Any

from percorso.errors import PercorsoError


def fit_bayes(summary: Any, **kwargs: Any) -> Any:
    """Fit pymc-marketing's BetaGeoModel on a summary (frequency, recency, T) for credible intervals."""
    try:
        from pymc_marketing.clv import BetaGeoModel
    except ImportError:
        raise PercorsoError("the Bayesian CLV fit needs the optional extra: pip install 'percorso[bayes]' "
                            "(il fit bayesiano richiede l'extra [bayes])", code="extra_missing") from None
    data = summary.rename(columns={}).copy()
    if "customer_id" not in data:
        data["customer_id"] = range(len(data))
    model = BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]], **kwargs)
    model.fit()
    return model
