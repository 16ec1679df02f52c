"""Inpainting by diffusion: fill masked pixels from their surroundings.

One public function, :func:`inpaint`, with four methods:

* ``"harmonic"``: the Laplace equation inside the mask, the known pixels as
  Dirichlet data (MATLAB's ``regionfill``);
* ``"biharmonic"``: the biharmonic equation (scikit-image's
  ``inpaint_biharmonic``, same discretisation and result);
* ``"eed"``: edge-enhancing diffusion to steady state inside the mask
  (Weickert's EED, the inpainting operator of diffusion-based image
  compression), which continues edges into the holes;
* ``"telea"``: Telea's fast-marching method (first-order Taylor extrapolation
  averaged over a neighbourhood, pixels filled in order of their distance
  to the known region).

The linear solves are in :mod:`imdiffuse._sparse`, Telea's march in
:mod:`imdiffuse._telea`; EED is :func:`imdiffuse.edge_enhancing`'s operator
with the known pixels held fixed.
"""

from __future__ import annotations

import math

import numpy as np

from ._grid import Grid
from ._validate import _short, check_image, check_int, check_option, check_positive, parse_spacing

__all__ = ["inpaint", "METHODS"]

METHODS = ("auto", "harmonic", "biharmonic", "eed", "telea")

#: Options each method accepts (besides image, mask, method, spacing, channel_axis).
_OPTIONS = {
    "harmonic": ("tol", "max_iter"),
    "biharmonic": ("tol", "max_iter"),
    "eed": ("tol", "max_iter", "t", "kappa", "sigma"),
    "telea": ("radius",),
}

#: EED inpainting defaults (Galic et al. 2008; Schmaltz, Peter, Mainberger
#: et al. 2014): Charbonnier diffusivity, contrast parameter kappa =
#: EED_KAPPA_FACTOR * (range of the known data) per pixel, Gaussian noise scale
#: EED_SIGMA pixels; diffusion time EED_TIME_FACTOR * r**2 (at least
#: EED_MIN_TIME) with r the largest distance from a masked pixel to the known
#: ones: in wide holes the steady state of EED draws sharp, straight
#: continuations that are often wrong, and stopping at a diffusion length
#: sqrt(2 t) ~ 0.6 r keeps a blend of them with the smooth biharmonic start.
#: Chosen on camera, moon and coins with the five masks of
#: benchmarks/bench_inpaint.py: kappa factors from 0.003 to 0.01 change each
#: image's mean PSNR over its masks by less than 0.3 dB (single masks, the
#: square hole most, by up to 1.1 dB); among time factors 0.1, 0.2, 0.35 the
#: square hole prefers short times and the border band long ones.
EED_KAPPA_FACTOR = 0.005
EED_SIGMA = 1.0
EED_TIME_FACTOR = 0.2
EED_MIN_TIME = 10.0
#: Telea's default neighbourhood radius, in units of the smallest spacing: the
#: 2-D value is OpenCV's common choice; in 3-D a radius of 5 means ~500
#: neighbours per voxel, 3 gives ~120 at little loss.
TELEA_RADIUS = {2: 5.0, 3: 3.0}

#: EED stops early once a FED cycle changes the filled pixels by less than
#: EED_STEADY * tol of the data's largest magnitude.
EED_STEADY = 100.0


def _check_mask(mask, spatial_shape):
    """The boolean fill mask: bool, or integers/floats holding only 0 and 1."""
    if isinstance(mask, np.ma.MaskedArray):
        raise TypeError("mask must be a plain boolean ndarray (True = pixel to fill), got a masked array")
    try:
        m = np.asarray(mask)
    except Exception:
        raise TypeError(f"mask must be a boolean array (True = pixel to fill), got {_short(mask)}") from None
    if m.dtype.kind not in "biuf":
        raise TypeError(f"mask must be a boolean array (True = pixel to fill), got dtype {m.dtype}")
    if m.shape != tuple(spatial_shape):
        raise ValueError(
            f"mask must have the image's spatial shape {tuple(spatial_shape)} (True = pixel to fill), "
            f"got shape {m.shape}"
        )
    if m.dtype.kind != "b":
        ok = (m == 0) | (m == 1)
        if not ok.all():
            bad = m[~ok].ravel()[0]
            raise ValueError(
                f"mask must be boolean (True = pixel to fill) or hold only 0 and 1, got the value {bad!r}"
            )
        m = m != 0
    return np.ascontiguousarray(m)


def _auto_method(mask, spacing):
    """The method "auto" picks; see :func:`inpaint`'s Notes."""
    return "eed" if mask.ndim in (2, 3) else "biharmonic"


class _Fixed:
    """A diffusion operator whose known pixels are held at their data (Dirichlet)."""

    def __init__(self, op, known, data):
        self.op = op
        self.grid = op.grid
        self.scalar = op.scalar
        self.max_cycle_time = op.max_cycle_time
        self._known = known
        self._data = data

    def update(self, u, frozen=False):
        self.op.update(u, frozen)

    def step(self, u, out, tau):
        self.op.step(u, out, tau)
        np.copyto(out, self._data, where=self._known)

    def limit(self):
        return self.op.limit()

    def coupling(self, axis):
        return self.op.coupling(axis)


def _clip_to_known(filled, mask):
    """Clip each channel of a (C, ...) fill to the range of its known values, in place.

    The biharmonic equation over- and undershoots near strong edges; the
    true values lie within the known data's range in images, so the clip
    only removes error (scikit-image's ``inpaint_biharmonic`` does the same).
    """
    known = ~mask
    for c in range(filled.shape[0]):
        lo = np.min(filled[c], where=known, initial=np.inf)
        hi = np.max(filled[c], where=known, initial=-np.inf)
        np.clip(filled[c], lo, hi, out=filled[c])
    return filled


def _eed(values, mask, grid, *, t, kappa, sigma, tol, max_iter):
    """EED inpainting of canonical (C, Z, Y, X) values, started from the biharmonic fill."""
    from ._sparse import BIHARMONIC, solve_masked
    from .diffusivity import DIFFUSIVITIES
    from .schemes import integrate
    from .tensor import TensorDiffusion

    spacing3 = grid.canonical_spacing
    start, _ = solve_masked(values, mask, spacing3, BIHARMONIC, tol=tol, max_iter=max_iter)
    full = _clip_to_known(start, mask).astype(grid.dtype)
    known_values = full[:, ~mask]
    if kappa is None:
        span = float((known_values.max(axis=1) - known_values.min(axis=1)).max())
        kappa = EED_KAPPA_FACTOR * span / min(grid.spacing)
        if not kappa > 0:  # constant data: the biharmonic fill is that constant
            return full
    # work on the box around the mask, with a margin that holds the
    # Gaussian of the structure tensor (truncated at 4 sigma)
    where = np.nonzero(mask)
    box = []
    for ax, (n, h) in enumerate(zip(mask.shape, spacing3)):
        margin = int(math.ceil(4.0 * sigma / h)) + 2
        box.append(slice(max(int(where[ax].min()) - margin, 0), min(int(where[ax].max()) + margin + 1, n)))
    box = tuple(box)
    u = np.ascontiguousarray(full[(slice(None),) + box])
    m = mask[box]
    spatial = u.shape[1:] if grid.ndim == 3 else u.shape[2:]
    sub = Grid(shape=(u.shape[0],) + spatial, channel_axis=0, spacing=grid.spacing, dtype=grid.dtype)
    op = _Fixed(TensorDiffusion(sub, 0, sigma=sigma, rho=0.0, kind=DIFFUSIVITIES["charbonnier"], lam=kappa * kappa),
                np.broadcast_to(~m, u.shape), u.copy())
    if t is None:
        from scipy import ndimage

        radius = float(ndimage.distance_transform_edt(m, sampling=spacing3).max())
        t = max(EED_MIN_TIME, EED_TIME_FACTOR * radius * radius)
    scale = float(np.abs(known_values).max()) or 1.0
    state = {"previous": u[:, m].copy()}

    def converged(v, done):
        now = v[:, m]
        change = float(np.abs(now - state["previous"]).max()) / scale
        state["previous"] = now
        return change < EED_STEADY * tol

    u = integrate(op, u, float(t), "fed", stop_when=converged)
    full[(slice(None),) + box] = u
    # the WWW stencil can over/undershoot slightly at steep oblique edges: keep
    # the fill within the known data's range, as for the biharmonic start
    return _clip_to_known(full, mask)


def inpaint(image, mask, *, method="auto", spacing=None, channel_axis=None, tol=None, max_iter=None, t=None,
            kappa=None, sigma=None, radius=None):
    """Fill the pixels where ``mask`` is True from their surroundings.

    Parameters
    ----------
    image : (M, N[, P][, C]) array_like
        2-D image or 3-D volume, real numeric dtype; colour/vector images
        need ``channel_axis`` (all channels are filled).  Values under the
        mask are ignored and may be NaN or inf; known pixels must be finite.
    mask : (M, N[, P]) array_like of bool
        **True marks the pixels to fill**; shape of the image's spatial
        axes.  0/1 integers or floats are accepted; other values are an
        error.  An all-False mask returns the image unchanged (as the output
        dtype); an all-True mask is an error (nothing to fill from).
    method : {"auto", "harmonic", "biharmonic", "eed", "telea"}, optional
        "harmonic": Laplace equation inside the mask (MATLAB
        ``regionfill``): the smoothest fill in the first-derivative sense,
        exact for linear ramps, no new extrema.  "biharmonic": biharmonic
        equation (scikit-image ``inpaint_biharmonic``): smoother, continues
        gradients (clipped to the known range).  "eed": edge-enhancing
        diffusion towards steady state: continues edges into the holes, the
        most accurate on average.  "telea": Telea's fast marching: fast, one pass,
        for thin scratches and text.  "auto" (default): "eed" (see Notes).
    spacing : float or sequence of float, optional
        Grid spacing per spatial axis (default 1): anisotropic voxels weigh
        the axes by ``1 / h**2``.
    channel_axis : int, optional
        Axis of ``image`` holding channels.
    tol : float, optional
        harmonic, biharmonic, eed: relative residual at which conjugate
        gradients stop (default 1e-6; the filled values are then within
        about 1e-3 of the range of the exact discrete solution).  eed also
        stops once a FED cycle changes the filled pixels by less than
        ``100 * tol`` of the image's range.
    max_iter : int, optional
        harmonic, biharmonic, eed: most CG iterations per level (default
        from the mask size).
    t : float, optional
        eed: longest diffusion time (default ``2 r**2`` with r the largest
        distance from a masked pixel to the known ones, at least 20).
    kappa : float, optional
        eed: contrast parameter (default ``0.5 *`` the robust gradient
        scale of the biharmonic fill, in intensity per unit length).
    sigma : float, optional
        eed: Gaussian noise scale of the structure tensor (default 1).
    radius : float, optional
        telea: radius of the neighbourhood each pixel is extrapolated from,
        in physical units (default 5 times the smallest spacing in 2-D, 3
        times in 3-D).

    Returns
    -------
    out : ndarray
        Same shape as ``image``; float64 for float64 input, else float32.
        Pixels outside the mask hold the input values unchanged.

    Raises
    ------
    TypeError
        Non-numeric ``image`` or ``mask``; an option the chosen method does
        not take.
    ValueError
        Empty image, NaN/inf outside the mask, a mask of the wrong shape or
        with values other than 0/1, an all-True mask, unknown ``method``,
        bad option values.

    Notes
    -----
    harmonic and biharmonic solve, for the masked pixels only, ``L u = 0``
    or ``L L u = 0`` with L the 2*ndim+1-point Laplacian with reflecting
    image borders (the biharmonic system is the normal equations of
    minimising ``sum (L u)**2`` over all pixels, scikit-image's
    discretisation).  Conjugate gradients run on the masked pixels and their
    neighbours only (memory and time proportional to the mask, not to the
    image), started from a coarser solve for wide holes (cascadic
    multigrid).  eed starts from the biharmonic fill and runs EED with the
    Charbonnier diffusivity and the known pixels fixed, by FED cycles, until
    the fill stops changing (clipped, like the biharmonic fill, to the known
    data's range).  telea marches inward from the known pixels.

    The "auto" choice: EED for 2-D and 3-D images.  In
    ``benchmarks/bench_inpaint.py`` (random 50 %, blobs, scratches, a square
    hole, a border band) it beats biharmonic by 0.5-1.3 dB on every mask of
    camera and coins and on three of moon's (not on its random pixels,
    -0.1 dB, nor its square hole, -2 dB); choose "telea" for speed and
    "harmonic" when no new extrema may appear.

    References
    ----------
    .. [1] A. Telea, "An image inpainting technique based on the fast
       marching method", J. Graphics Tools 9(1):23-34, 2004.
       :doi:`10.1080/10867651.2004.10487596`
    .. [2] I. Galic, J. Weickert, M. Welk, A. Bruhn, A. Belyaev, H.-P.
       Seidel, "Image compression with anisotropic diffusion", J. Math.
       Imaging Vision 31:255-269, 2008. :doi:`10.1007/s10851-008-0087-0`
    .. [3] S. B. Damelin, N. S. Hoang, "On surface completion and image
       inpainting by biharmonic functions: numerical aspects", Int. J.
       Math. Math. Sci. 2018:3950312. :doi:`10.1155/2018/3950312`
    .. [4] F. A. Bornemann, P. Deuflhard, "The cascadic multigrid method for
       elliptic problems", Numer. Math. 75:135-152, 1996.
       :doi:`10.1007/s002110050234`

    Examples
    --------
    >>> import numpy as np
    >>> import imdiffuse as imd
    >>> ramp = np.add.outer(np.arange(32.0), 2 * np.arange(32.0))
    >>> hole = np.zeros(ramp.shape, bool); hole[10:20, 12:22] = True
    >>> damaged = np.where(hole, np.nan, ramp)
    >>> filled = imd.inpaint(damaged, hole, method="harmonic")
    >>> bool(np.abs(filled - ramp).max() < 1e-4)
    True
    >>> bool((filled[~hole] == ramp[~hole]).all())  # known pixels unchanged
    True
    """
    method = check_option(method, "method", METHODS)
    array, axis = check_image(image, channel_axis=channel_axis, allow_nonfinite=True)
    ndim = array.ndim - (axis is not None)
    spacing = parse_spacing(spacing, ndim)
    grid = Grid(shape=array.shape, channel_axis=axis, spacing=spacing, dtype=array.dtype)
    m = _check_mask(mask, grid.spatial_shape)
    given = {"tol": tol, "max_iter": max_iter, "t": t, "kappa": kappa, "sigma": sigma, "radius": radius}
    if method == "auto":
        method = _auto_method(m, spacing)
        chosen_by_auto = True
    else:
        chosen_by_auto = False
    wrong = [k for k, v in given.items() if v is not None and k not in _OPTIONS[method]]
    if wrong:
        how = " (chosen by method='auto')" if chosen_by_auto else ""
        raise TypeError(
            f"inpaint got option(s) {', '.join(wrong)} that method={method!r}{how} does not take; "
            f"it takes: {', '.join(_OPTIONS[method])}"
        )
    tol = 1e-6 if tol is None else check_positive(tol, "tol")
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter", minimum=1)
    if t is not None:
        t = check_positive(t, "t", allow_zero=True)
    if kappa is not None:
        kappa = check_positive(kappa, "kappa")
    sigma = EED_SIGMA if sigma is None else check_positive(sigma, "sigma", allow_zero=True)
    if radius is None:
        radius = (TELEA_RADIUS[2] if ndim <= 2 else TELEA_RADIUS[3]) * min(spacing)
    else:
        radius = check_positive(radius, "radius")

    u = grid.to_canonical(array)  # (C, Z, Y, X)
    m3 = m.reshape(u.shape[1:])
    known = ~m3
    finite = np.isfinite(u)
    values = u
    if not finite.all():
        bad = ~finite & known
        if bad.any():
            raise ValueError(
                f"image must be finite outside the mask, got {int(bad.sum())} NaN/inf value(s) at known pixels; "
                f"add them to the mask to fill them"
            )
        values = np.where(finite, u, 0)  # NaN under the mask must not leak into any solve
    del finite
    if not m.any():
        return grid.from_canonical(np.array(u, dtype=grid.dtype, copy=True))
    if not known.any():
        raise ValueError("mask is True everywhere: there are no known pixels to fill from")
    if method in ("harmonic", "biharmonic"):
        from ._sparse import BIHARMONIC, HARMONIC, solve_masked

        kind = HARMONIC if method == "harmonic" else BIHARMONIC
        filled, _ = solve_masked(values.reshape((u.shape[0],) + grid.spatial_shape), m, spacing, kind, tol=tol,
                                 max_iter=max_iter)
        filled = filled.reshape(u.shape)
        if kind == BIHARMONIC:
            _clip_to_known(filled, m3)
    elif method == "eed":
        filled = _eed(values.astype(grid.dtype), m3, grid, t=t, kappa=kappa, sigma=sigma, tol=tol,
                      max_iter=max_iter)
    else:
        from ._telea import telea

        filled = telea(np.ascontiguousarray(values.reshape((u.shape[0],) + grid.spatial_shape), dtype=grid.dtype),
                       m, tuple(spacing), float(radius)).reshape(u.shape)
    out = filled.astype(grid.dtype, copy=False)
    np.copyto(out, u, where=known)  # the known pixels, bit for bit (the solvers keep them too)
    return grid.from_canonical(out)
