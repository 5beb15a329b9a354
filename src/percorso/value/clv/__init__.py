"""Customer lifetime value: BG/NBD purchase counts × Gamma-Gamma spend, discounted monthly."""

from percorso.value.clv.bg_nbd import BetaGeo
from percorso.value.clv.gamma_gamma import GammaGamma

__all__ = ["BetaGeo", "GammaGamma"]
