"""Diffusivities ``g(s)``, ``s = |grad u|**2``, and the estimation of the contrast kappa.

Every diffusivity maps ``s >= 0`` into ``[0, 1]`` with ``g(0) = 1``, so the
explicit stability limit of the grid holds for all of them.  ``kappa`` is in
intensity per unit length, like ``|grad u|``; ``lam = kappa**2``.

============  ===============================================  ====================================
name          g(s)                                             reference
============  ===============================================  ====================================
exponential   exp(-s / kappa**2)                               Perona & Malik 1990, g1
rational      1 / (1 + s / kappa**2)                           Perona & Malik 1990, g2
charbonnier   1 / sqrt(1 + s / kappa**2)                       Charbonnier et al. 1994
tukey         (1 - s / (2 kappa**2))**2 for s < 2 kappa**2,    Black, Sapiro, Marimont & Heeger
              else 0                                           1998 (Tukey's biweight, sigma_e = sqrt(2) kappa)
weickert      1 - exp(-3.31488 / (s / kappa**2)**4), g(0) = 1  Weickert 1998, C_4 = 3.31488
============  ===============================================  ====================================

TV flow uses ``g = 1 / sqrt(eps**2 + s)`` (bounded by ``1/eps``; its step
limit is scaled accordingly, see :mod:`imdiffuse.nonlinear`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DIFFUSIVITIES", "diffusivity", "estimate_kappa"]

#: name -> integer code used by the kernels (see _kernels.apply_diffusivity)
DIFFUSIVITIES = {"exponential": 0, "rational": 1, "charbonnier": 2, "tukey": 3, "weickert": 4}
TV_CODE = 5

#: Weickert's constant C_m for m = 4: makes the flux s*g(s) maximal at s = kappa**2
WEICKERT_C4 = 3.31488


def diffusivity(s, kappa, name: str = "rational"):
    """Evaluate the diffusivity ``name`` at ``s = |grad u|**2`` (NumPy reference).

    >>> import numpy as np
    >>> from imdiffuse.diffusivity import diffusivity
    >>> diffusivity(np.array([0.0, 1.0, 4.0]), kappa=1.0, name="rational")
    array([1. , 0.5, 0.2])
    """
    from ._validate import check_option, check_positive

    check_option(name, "diffusivity", tuple(DIFFUSIVITIES))
    kappa = check_positive(kappa, "kappa")
    r = np.asarray(s, dtype=np.float64) / kappa**2
    if name == "exponential":
        return np.exp(-r)
    if name == "rational":
        return 1.0 / (1.0 + r)
    if name == "charbonnier":
        return 1.0 / np.sqrt(1.0 + r)
    if name == "tukey":
        return np.where(r < 2.0, (1.0 - r / 2.0) ** 2, 0.0)
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(r > 0, 1.0 - np.exp(-WEICKERT_C4 / np.maximum(r, 1e-300) ** 4), 1.0)


def gradient_scale(u4: np.ndarray, spacing) -> float:
    """Robust scale of the gradient: 1.4826 * median |forward difference / h|.

    Over all faces of all active axes of a canonical ``(C, Z, Y, X)`` array
    (channels summed in quadrature).  This is Black et al.'s robust estimate
    ``sigma_e = 1.4826 MAD(grad u)`` (the median gradient is ~0 in images).
    Computed on a regular subsample of at most ~1e6 faces per axis.
    """
    samples = []
    budget = 1e6  # faces sampled per axis
    for ax in range(3):
        if u4.shape[ax + 1] < 2:
            continue
        # keep every face along the axis, thin out the lines across it
        lines = u4[0].size / u4.shape[ax + 1]
        step = max(1, int(np.ceil(np.sqrt(lines * u4.shape[ax + 1] / budget))))
        index = [slice(None)] + [slice(None, None, step)] * 3
        index[ax + 1] = slice(None)
        d = np.diff(u4[tuple(index)].astype(np.float64), axis=ax + 1) / spacing[ax]
        samples.append(np.sqrt((d**2).sum(axis=0)).ravel())
    if not samples:
        return 0.0
    return 1.4826 * float(np.median(np.concatenate(samples)))


def estimate_kappa(image, *, spacing=None, channel_axis=None) -> float:
    """Contrast parameter for ``kappa="auto"``: Black et al.'s robust gradient scale.

    ``kappa = 1.4826 * median(|grad u|)`` over the nearest-neighbour
    differences of all axes (divided by the spacing).  Gradients below kappa
    are treated as noise or texture and smoothed; larger ones are edges.
    Because it is a robust statistic of the image's own gradients, the same
    call works on uint8 photos and on CT in Hounsfield units.  If the image
    is piecewise constant (median gradient 0), the mean gradient is used, and
    1.0 for a constant image.

    References
    ----------
    .. [1] M. J. Black, G. Sapiro, D. H. Marimont, D. Heeger, "Robust
       anisotropic diffusion", IEEE Trans. Image Processing 7(3):421-432,
       1998. :doi:`10.1109/83.661192`

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse.diffusivity import estimate_kappa
    >>> rng = np.random.default_rng(0)
    >>> img = rng.normal(100, 10, (256, 256))
    >>> round(estimate_kappa(img) / 10, 1)  # differences of white noise: sqrt(2) sigma
    1.4
    """
    from ._grid import prepare

    array, grid = prepare(image, spacing, channel_axis)
    u4 = grid.to_canonical(array)
    kappa = gradient_scale(u4, grid.canonical_spacing)
    if kappa > 0:
        return kappa
    means = [np.abs(np.diff(u4, axis=ax + 1)).mean() / grid.canonical_spacing[ax] for ax in grid.active_axes]
    mean = float(np.mean(means)) if means else 0.0
    return mean if mean > 0 else 1.0
