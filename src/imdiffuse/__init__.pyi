# Public API of imdiffuse: re-exports only (loaded lazily, see __init__.py).
from . import data, fmm, io, noise, schemes
from . import chunked
from .denoise import denoise
from .edges import edges, scale_space
from .noise import estimate_noise
from .diffusivity import estimate_kappa
from .inpaint import inpaint
from .linear import heat
from .nonlinear import perona_malik, tv_flow
from .tensor import coherence_enhancing, edge_enhancing, structure_tensor
from . import texture
from .texture import reaction_diffusion
from .segment import (geodesic_distance, geodesic_watershed, gradient_weight, graydiff_weight, minimal_path,
                      segment_fmm)

__all__ = ["heat", "inpaint", "perona_malik", "tv_flow", "estimate_kappa", "denoise", "estimate_noise", "io", "data", "noise", "schemes", "fmm",
           "edge_enhancing", "coherence_enhancing", "structure_tensor",
           "gradient_weight", "graydiff_weight", "segment_fmm", "minimal_path", "geodesic_distance", "geodesic_watershed",
           "edges", "scale_space",
           "reaction_diffusion", "texture",
           "chunked"]
