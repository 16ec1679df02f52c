"""Nonlinear (scalar) diffusion: Perona-Malik and total-variation flow."""

from __future__ import annotations

import numpy as np

from ._grid import prepare
from ._validate import check_int, check_option, check_positive, check_time
from .diffusivity import DIFFUSIVITIES, TV_CODE, gradient_scale

__all__ = ["perona_malik", "tv_flow"]

PM_SCHEMES = ("auto", "explicit", "fed", "aos")

#: Longest time (in units of the explicit step limit) that the diffusivity of
#: a nonlinear model stays frozen within one FED cycle or AOS step.  Edges
#: move while g is frozen: with 25 limits FED lost up to 0.9 dB PSNR against
#: the explicit scheme on piecewise-constant images at high noise
#: (benchmarks/bench_pm.py); 8 keeps it within ~0.1 dB while still needing
#: 8x fewer diffusivity evaluations than explicit steps.
NONLINEAR_CYCLE_LIMITS = 8.0

#: Rows per parallel job of :func:`imdiffuse._kernels.face_step`.  A job
#: recomputes the faces above its first row and allocates its line buffers,
#: so long jobs are cheaper: 32 rows were 6 % faster than 8 on 2048^2 and
#: 256^3, and no slower with two threads on images as small as 512^2 or 64^3
#: (16 and 8 jobs: 3-D jobs also span 16 planes).
FACE_STEP_ROWS = 32


class FaceDiffusion:
    """div(g grad u) with face diffusivities g(|grad v|^2) from an image v.

    ``v`` is u itself (``sigma == 0``) or u smoothed by a Gaussian of standard
    deviation ``sigma`` in physical units (Catte et al.'s regularisation).
    Implements the operator interface of :mod:`imdiffuse.schemes`.
    """

    scalar = True

    def __init__(self, grid, kind: int, lam: float, sigma: float = 0.0, gmax: float = 1.0):
        self.grid = grid
        self.kind = kind
        self.lam = np.dtype(grid.dtype).type(lam)
        self.sigma = sigma
        self._ih = grid.inv_h2()
        self._gmax = gmax
        self.max_cycle_time = NONLINEAR_CYCLE_LIMITS * self.limit()
        self._v = None  # the image g is computed from
        self._vbuf = None  # owned buffer for v (smoothed or frozen copy)
        self._gface = None  # per-face diffusivities for AOS
        #: scratch of u's shape a scheme may lend while it is idle (AOS's
        #: Thomas work array during ``update``): the Gaussian's temporary
        self.work = None

    def _buffer(self, like):
        if self._vbuf is None:
            self._vbuf = np.empty_like(like)
        return self._vbuf

    def update(self, u, frozen=False):
        if self.sigma > 0:
            from ._kernels import gaussian_filter

            sig = [0.0] + [self.sigma / h for h in self.grid.canonical_spacing]
            self._v = gaussian_filter(u, sig, truncate=4.0, output=self._buffer(u), work=self.work)
        elif frozen:  # the caller will overwrite u's buffer while g must stay as it is now
            self._v = self._buffer(u)
            np.copyto(self._v, u)
        else:
            self._v = u

    def step(self, u, out, tau):
        from . import _kernels

        _kernels.face_step(u, self._v, out, _kernels.typed(tau, u.dtype), self._ih, self.kind, self.lam,
                           FACE_STEP_ROWS)

    def limit(self):
        return self.grid.explicit_limit() / self._gmax

    def coupling(self, axis):
        from . import _kernels

        if self._gface is None:
            self._gface = np.empty(self.grid.canonical_shape[1:], dtype=self.grid.dtype)
        _kernels.face_diffusivities(self._v, self._gface, axis, self._ih[axis], self.kind, self.lam)
        return self._gface, True


def _resolve_kappa(kappa, u4, grid):
    if kappa == "auto":
        k = gradient_scale(u4, grid.canonical_spacing)
        if not k > 0:  # piecewise-constant or constant image: nothing to call noise
            k = 1.0
        return k
    return kappa


def perona_malik(image, t, *, kappa="auto", diffusivity="rational", sigma=0.0, scheme="auto",
                 spacing=None, channel_axis=None, n_steps=None, callback=None, stop_when=None):
    """Perona-Malik nonlinear diffusion: smooth within regions, keep edges.

    Solves ``u_t = div(g(|grad u_sigma|**2) grad u)`` with reflecting
    boundaries to time ``t``: where the gradient is small compared with
    ``kappa`` the image diffuses like the heat equation, across strong edges
    the diffusivity ``g`` vanishes and the edge is kept.

    Parameters
    ----------
    image : (M, N[, P][, C]) array_like
        2-D or 3-D image, real numeric dtype; colour/vector images need
        ``channel_axis`` and are diffused jointly (one diffusivity from the
        summed squared gradients of all channels).
    t : float
        Stopping time >= 0, in (physical unit)**2 (as for :func:`heat`).
    kappa : float or "auto", optional
        Contrast parameter in intensity per unit length (like ``|grad u|``):
        gradients below kappa are smoothed, above it are edges.  ``"auto"``:
        Black et al.'s robust gradient scale, ``1.4826 * median |grad u|``
        (see :func:`imdiffuse.diffusivity.estimate_kappa`), which adapts to
        uint8 photos and Hounsfield units alike.
    diffusivity : {"rational", "exponential", "charbonnier", "tukey", "weickert"}
        ``g(s)`` with ``s = |grad u|**2`` (formulas in
        :mod:`imdiffuse.diffusivity`).  "exponential" and "rational" are
        Perona & Malik's g1 and g2, "tukey" Black et al.'s robust biweight,
        "weickert" the m = 4 diffusivity of Weickert's book.
    sigma : float, optional
        Standard deviation (physical units) of the Gaussian applied to u
        before the diffusivity is computed (Catte, Lions, Morel & Coll 1992):
        > 0 makes the problem well-posed and the edge map robust to noise.
        0 (default) is the original Perona-Malik model.
    scheme : {"auto", "explicit", "fed", "aos"}, optional
        Time stepping (:mod:`imdiffuse.schemes`).  ``"auto"``: "explicit"
        for ``sigma == 0`` (its fused kernel recomputes g at every step for
        free, and it is the most accurate), FED for ``sigma > 0`` (one
        Gaussian smoothing per cycle instead of per step); "aos" is
        semi-implicit and stable for any step.  All keep the mean;
        "explicit" and "aos" obey the maximum principle.
    spacing : float or sequence of float, optional
        Grid spacing per spatial axis (default 1).
    channel_axis : int, optional
        Axis of ``image`` holding channels.
    n_steps : int, optional
        Number of explicit/AOS steps or FED cycles (default: chosen from t).
    callback : callable, optional
        ``callback(t_done)`` after every step or cycle.
    stop_when : callable, optional
        ``stop_when(u, t_done) -> bool`` after every step or cycle, with
        the current image (channels first, only valid during the call): True
        ends the diffusion there, before ``t`` (e.g. a discrepancy principle,
        as :func:`imdiffuse.denoise` uses).

    Returns
    -------
    out : ndarray
        Same shape as ``image``; float64 for float64 input, else float32.

    Raises
    ------
    TypeError
        Non-numeric ``image`` or option types.
    ValueError
        Empty, non-finite or wrongly shaped ``image``; ``t < 0``;
        ``kappa <= 0``; ``sigma < 0``; unknown ``diffusivity`` or ``scheme``;
        bad ``spacing``, ``channel_axis`` or ``n_steps``.

    Notes
    -----
    Discretisation: the diffusivity of the face between neighbours i and j
    is ``g((v_j - v_i)**2 / h**2)`` (Perona & Malik's own scheme, eq. 8, and
    MedPy's), with ``v = u`` or ``u_sigma``.  All diffusivities are in [0, 1],
    so the explicit step limit is ``tau <= 1 / (2 sum_i h_i**-2)`` for any
    kappa and t.  The diffusivity is recomputed before every explicit step,
    once per FED cycle and once per AOS step; cycles and AOS steps are at most
    ``NONLINEAR_CYCLE_LIMITS`` (8) explicit limits long.  Memory: the explicit
    scheme uses 2 image-sized buffers (3 with ``sigma > 0``), FED 3, AOS 5
    (6 with ``sigma > 0``).

    References
    ----------
    .. [1] P. Perona, J. Malik, "Scale-space and edge detection using
       anisotropic diffusion", IEEE Trans. PAMI 12(7):629-639, 1990.
       :doi:`10.1109/34.56205`
    .. [2] F. Catte, P.-L. Lions, J.-M. Morel, T. Coll, "Image selective
       smoothing and edge detection by nonlinear diffusion", SIAM J. Numer.
       Anal. 29(1):182-193, 1992. :doi:`10.1137/0729012`
    .. [3] M. J. Black, G. Sapiro, D. H. Marimont, D. Heeger, "Robust
       anisotropic diffusion", IEEE Trans. Image Processing 7(3):421-432,
       1998. :doi:`10.1109/83.661192`

    Examples
    --------
    >>> import numpy as np
    >>> import imdiffuse as imd
    >>> rng = np.random.default_rng(0)
    >>> clean = np.zeros((64, 64)); clean[:, 32:] = 100.0
    >>> noisy = clean + rng.normal(0, 10, clean.shape)
    >>> u = imd.perona_malik(noisy, t=10, kappa=10)
    >>> bool(np.abs(u - clean).mean() < 0.4 * np.abs(noisy - clean).mean())
    True
    >>> float(u[:, 28].mean()) < 10 and float(u[:, 35].mean()) > 90  # the edge is kept
    True
    """
    array, grid = prepare(image, spacing, channel_axis)
    t = check_time(t)
    kappa = check_positive(kappa, "kappa", auto=True)
    diffusivity = check_option(diffusivity, "diffusivity", tuple(DIFFUSIVITIES))
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    scheme = check_option(scheme, "scheme", PM_SCHEMES)
    if n_steps is not None:
        n_steps = check_int(n_steps, "n_steps", minimum=1)
    if scheme == "auto":
        # sigma == 0: every explicit step recomputes g inside the fused kernel
        # at no extra cost, and FED's frozen g lost 0.25-0.3 dB in 3-D at
        # strongly nonlinear settings (bench_pm section B); with sigma > 0 each
        # update costs a Gaussian filter, which FED does once per cycle.
        scheme = "explicit" if sigma == 0 else "fed"
    u, owned = grid.canonical(array)
    kappa = _resolve_kappa(kappa, u, grid)
    op = FaceDiffusion(grid, DIFFUSIVITIES[diffusivity], kappa * kappa, sigma)
    from .schemes import integrate

    u = integrate(op, u, t, scheme, n_steps=n_steps, callback=callback, stop_when=stop_when, overwrite=owned)
    return grid.from_canonical(u)


TV_SCHEMES = PM_SCHEMES

#: epsilon="auto": this fraction of the image's robust gradient scale
TV_EPSILON_FRACTION = 0.1


def tv_flow(image, t, *, epsilon="auto", scheme="auto", spacing=None, channel_axis=None, n_steps=None,
            callback=None, stop_when=None):
    """Total-variation flow ``u_t = div(grad u / sqrt(eps**2 + |grad u|**2))``.

    The steepest descent of the (regularised) total variation: flat regions
    stay flat, edges are kept, and small structures lose contrast at a rate
    inversely proportional to their size; the limit ``eps -> 0`` is the TV
    flow of Andreu, Ballester, Caselles & Mazon.  Unlike the heat equation,
    its time ``t`` is in intensity x length (the flow moves intensities by
    about ``t x curvature``).

    Parameters
    ----------
    image : (M, N[, P][, C]) array_like
        2-D or 3-D image; colour/vector images need ``channel_axis`` and are
        diffused jointly (vectorial TV: one diffusivity from all channels).
    t : float
        Stopping time >= 0, in intensity x (physical unit).
    epsilon : float or "auto", optional
        Regularisation in intensity per unit length (like ``|grad u|``).
        ``"auto"``: 0.1 x the image's robust gradient scale
        (:func:`imdiffuse.diffusivity.estimate_kappa`).  The diffusivity is
        at most ``1/eps``, so the explicit step limit shrinks like eps; the
        schemes adapt their steps, so any eps > 0 is stable.
    scheme : {"auto", "explicit", "fed", "aos"}, optional
        ``"auto"`` is FED (cycle length limited as for Perona-Malik).
    spacing, channel_axis, n_steps, callback, stop_when
        As for :func:`perona_malik`.

    Returns
    -------
    out : ndarray
        Same shape as ``image``; float64 for float64 input, else float32.

    Raises
    ------
    TypeError, ValueError
        As for :func:`perona_malik`; ``epsilon <= 0``.

    Notes
    -----
    The diffusivity ``1 / sqrt(eps**2 + |grad u|**2)`` is computed per voxel
    from central differences (rotation-invariant gradient magnitude); face
    values are the mean of the two voxels.  Explicit steps obey
    ``tau <= eps / (2 sum_i h_i**-2)``, which keeps the maximum principle;
    AOS is stable for any step.

    References
    ----------
    .. [1] L. I. Rudin, S. Osher, E. Fatemi, "Nonlinear total variation based
       noise removal algorithms", Physica D 60:259-268, 1992.
       :doi:`10.1016/0167-2789(92)90242-F`
    .. [2] F. Andreu, C. Ballester, V. Caselles, J. M. Mazon, "Minimizing
       total variation flow", Differential and Integral Equations
       14(3):321-360, 2001.

    Examples
    --------
    >>> import numpy as np
    >>> import imdiffuse as imd
    >>> rng = np.random.default_rng(1)
    >>> clean = np.zeros((64, 64)); clean[16:48, 16:48] = 100.0
    >>> noisy = clean + rng.normal(0, 10, clean.shape)
    >>> u = imd.tv_flow(noisy, t=15)
    >>> bool(np.abs(u - clean).mean() < 0.5 * np.abs(noisy - clean).mean())
    True
    """
    array, grid = prepare(image, spacing, channel_axis)
    t = check_time(t)
    epsilon = check_positive(epsilon, "epsilon", auto=True)
    scheme = check_option(scheme, "scheme", TV_SCHEMES)
    if n_steps is not None:
        n_steps = check_int(n_steps, "n_steps", minimum=1)
    if scheme == "auto":
        scheme = "fed"
    u, owned = grid.canonical(array)
    if epsilon == "auto":
        epsilon = TV_EPSILON_FRACTION * _resolve_kappa("auto", u, grid)
    from . import _kernels
    from .schemes import ScalarDiffusion, integrate

    ih4 = grid.inv_h2() / 4
    lam = np.dtype(grid.dtype).type(epsilon * epsilon)

    def diffusivity(v, g):
        _kernels.pixel_diffusivity(v, g, ih4, TV_CODE, lam)

    limit = grid.explicit_limit() * epsilon
    op = ScalarDiffusion(grid, diffusivity, gmax=1.0 / epsilon, max_cycle_time=NONLINEAR_CYCLE_LIMITS * limit)
    u = integrate(op, u, t, scheme, n_steps=n_steps, callback=callback, stop_when=stop_when, overwrite=owned)
    return grid.from_canonical(u)
