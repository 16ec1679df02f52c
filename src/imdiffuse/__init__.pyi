# Public API of imdiffuse: re-exports only (loaded lazily, see __init__.py).
from . import data, io, schemes
from .linear import heat

__all__ = ["heat", "io", "data", "schemes"]
