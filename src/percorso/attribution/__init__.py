"""Attribution and ROI: which channels turn contacts into customers, and what they earn.

Rule-based models (first, last, last non-direct, linear, time decay, position-based), exact
Markov removal effects of order 1-4 and Shapley values, side by side, on person-level
journeys that include offline touchpoints; campaign costs joined for ROI, ROAS, CPA and CAC.
See ``docs/attribution.md``.
"""

from percorso.attribution.analysis import NOT_ATTRIBUTABLE, TOTAL, AttributionQuery, AttributionResult, AttributionRunner
from percorso.attribution.models import MODELS, AttributionModel, parse_models
from percorso.attribution.paths import PathTable, from_arrow, read_paths_file, write_paths_file
from percorso.attribution.roi import RoiQuery, RoiResult, format_eur
from percorso.attribution.settings import AttributionSettings, ConversionDef, attribution_settings

__all__ = [
    "MODELS", "NOT_ATTRIBUTABLE", "TOTAL", "AttributionModel", "AttributionQuery", "AttributionResult", "AttributionRunner",
    "AttributionSettings", "ConversionDef", "PathTable", "RoiQuery", "RoiResult", "attribution_settings",
    "format_eur", "from_arrow", "parse_models", "read_paths_file", "write_paths_file",
]
