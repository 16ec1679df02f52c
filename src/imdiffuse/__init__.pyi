# Public API of imdiffuse: re-exports only (loaded lazily, see __init__.py).
from . import data, io, schemes
from .diffusivity import estimate_kappa
from .linear import heat
from .nonlinear import perona_malik

__all__ = ["heat", "perona_malik", "estimate_kappa", "io", "data", "schemes"]
