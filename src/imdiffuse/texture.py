"""Reaction-diffusion texture synthesis: the Gray-Scott model.

``u_t = Du Laplace(u) - u v**2 + F (1 - u)`` and
``v_t = Dv Laplace(v) + u v**2 - (F + k) v`` (Gray & Scott 1984, Pearson
1993): a substrate ``u`` fed at rate ``F`` is consumed by an autocatalyst
``v`` that is removed at rate ``F + k``.  Depending on ``(F, k)`` the
pattern settles into spots, splitting spots, stripes and mazes, holes,
travelling waves or chaos; :data:`PRESETS` names the classic regimes.

Units.  Lengths are in the units of ``spacing`` (default 1: grid points)
and time in the units of ``F``/``k``.  The presets use Pearson's values
``Du = 2e-5``, ``Dv = 1e-5`` on a domain of length 2.5 sampled with 256
points, expressed for a grid spacing of 1: ``Du = 2e-5 (256 / 2.5)**2 =
0.2097152``, ``Dv = 0.1048576``.  ``reaction_diffusion(shape, preset=...,
spacing=2.5 / 256, Du=2e-5, Dv=1e-5)`` is the same computation in
Pearson's own units.

The numerics are Numba kernels in this module, compiled with the project's
``imdiffuse._kernels.jit`` (disk cache, no fastmath): one fused kernel
updates both species per explicit (forward Euler) step, alternating
between two buffers per species; anisotropic diffusion reuses the tensor
stencil and step of :mod:`imdiffuse.tensor` (``_kernels.tensor_step``).
Importing this module imports Numba.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np

from ._kernels import jit
from ._validate import (
    _short,
    check_int,
    check_option,
    check_positive,
    parse_periodic,
    parse_spacing,
)

__all__ = ["reaction_diffusion", "PRESETS", "MODELS", "INITS", "DEFAULT_T"]

#: Pearson's diffusion coefficients (2e-5, 1e-5 on a 2.5-long domain of 256
#: points) for a grid spacing of 1.
_PEARSON_SCALE = (256 / 2.5) ** 2
DU = 2e-5 * _PEARSON_SCALE
DV = 1e-5 * _PEARSON_SCALE

#: name -> (F, k, Du, Dv, description) of the classic Gray-Scott regimes.
#: Sources of (F, k): K. Sims' tutorial (https://www.karlsims.com/rd.html:
#: "mitosis", "coral growth"); R. Munafo's map of the (F, k) plane,
#: "xmorphia" (http://mrob.com/pub/comp/xmorphia/), whose named regimes
#: ("solitons", "mazes", "holes", "chaos") are the presets of P. Neila's
#: WebGL explorer (https://github.com/pmneila/jsexp); "spots", "worms" and
#: "waves" are points chosen by us inside those regions of Munafo's map
#: (checked by the tests to give their pattern from the random start).
#: Du, Dv: Pearson's values in grid units (module docstring).
PRESETS = {
    "spots": (0.035, 0.065, DU, DV,
              "round spots that fill the plane in a near-hexagonal lattice (spot region of the map, "
              "between Sims' mitosis and Munafo's solitons)"),
    "mitosis": (0.0367, 0.0649, DU, DV,
                "splitting spots: each spot grows, divides in two and the daughters repel until the plane "
                "is full (Sims' 'mitosis')"),
    "solitons": (0.030, 0.062, DU, DV,
                 "stable localised spots that do not split once the plane is full (Munafo's 'solitons')"),
    "mazes": (0.029, 0.057, DU, DV,
              "labyrinth: stripes of one wavelength that wind and branch (Munafo's 'mazes')"),
    "coral": (0.0545, 0.062, DU, DV,
              "coral growth: stripes that grow from the seeds into a branched labyrinth (Sims' 'coral growth')"),
    "worms": (0.054, 0.063, DU, DV,
              "worms: short separate stripes and elongated spots (worm region of Munafo's map)"),
    "holes": (0.039, 0.058, DU, DV,
              "holes: a v-rich plane pierced by round holes, the negative of spots (Munafo's 'holes')"),
    "waves": (0.014, 0.039, DU, DV,
              "travelling waves and spirals that never settle (low-F wave region of Munafo's map)"),
    "chaos": (0.026, 0.051, DU, DV,
              "spatio-temporal chaos: fronts that break and re-form forever (Munafo's 'chaos')"),
}

MODELS = ("gray_scott",)
INITS = ("random", "center")
FIELDS = ("v", "u", "both")

#: Default stopping time (the units of F and k; about 13600 steps in 2-D).
#: Enough for every preset to form its pattern on grids of a few hundred
#: points from the random initial condition.
DEFAULT_T = 10000.0

#: Random initial condition: one seed patch per this many grid points
#: (on average), each a square of _PATCH points per side.
_PATCH_DENSITY = 400
_PATCH = 6
#: Amplitude of the uniform noise added everywhere (Pearson: +-1 %)
_NOISE = 0.01

#: Steps per kernel call when a progress callback is given (about 100 calls).
_PROGRESS_CALLS = 100


# ------------------------------------------------------------------------
# kernels
# ------------------------------------------------------------------------

@jit
def _neighbours(i, n, periodic):
    """Previous and next index along an axis of n points: wrapped or clamped (zero flux)."""
    im = i - 1 if i > 0 else (n - 1 if periodic else 0)
    ip = i + 1 if i < n - 1 else (0 if periodic else n - 1)
    return im, ip


@jit
def _coefficient(value, array, z, y, x):
    """A parameter at one point: ``value`` where ``array`` is None (pruned at compile time)."""
    if array is None:
        return value
    return array[z, y, x]


@jit
def _flux(a, D, Dc, c, z, y, x, zm, zp, ym, yp, xm, xp, ih2):
    """div(D grad a) at one point: D a number (D is None, Dc its value) or per point (face means).

    ``ih2`` = (1/hz**2, 1/hy**2, 1/hx**2, and the same halved); no float
    literals, so float32 data is computed in float32.
    """
    if D is None:
        return Dc * (ih2[2] * ((a[z, y, xm] - c) + (a[z, y, xp] - c))
                     + ih2[1] * ((a[z, ym, x] - c) + (a[z, yp, x] - c))
                     + ih2[0] * ((a[zm, y, x] - c) + (a[zp, y, x] - c)))
    d = D[z, y, x]
    return (ih2[5] * ((d + D[z, y, xm]) * (a[z, y, xm] - c) + (d + D[z, y, xp]) * (a[z, y, xp] - c))
            + ih2[4] * ((d + D[z, ym, x]) * (a[z, ym, x] - c) + (d + D[z, yp, x]) * (a[z, yp, x] - c))
            + ih2[3] * ((d + D[zm, y, x]) * (a[zm, y, x] - c) + (d + D[zp, y, x]) * (a[zp, y, x] - c)))


@jit
def _point(u, v, un, vn, z, y, x, zm, zp, ym, yp, xm, xp, dt, ih2, F, k, Du, Dv, Fa, ka, Dua, Dva):
    """One Gray-Scott Euler step at one point, both species."""
    uc = u[z, y, x]
    vc = v[z, y, x]
    f = _coefficient(F, Fa, z, y, x)
    kk = _coefficient(k, ka, z, y, x)
    lu = _flux(u, Dua, Du, uc, z, y, x, zm, zp, ym, yp, xm, xp, ih2)
    lv = _flux(v, Dva, Dv, vc, z, y, x, zm, zp, ym, yp, xm, xp, ih2)
    uvv = uc * vc * vc
    un[z, y, x] = uc + dt * (lu - uvv + (f - f * uc))
    vn[z, y, x] = vc + dt * (lv + uvv - (f + kk) * vc)


@jit
def _line3(u, v, un, vn, z, y, zm, zp, ym, yp, X, dt, hz, hy, hx, F, k, Du, Dv):
    """Interior points 1..X-2 of grid line (z, y), constant coefficients: a vectorised loop."""
    Fk = F + k
    for x in range(1, X - 1):
        uc = u[z, y, x]
        vc = v[z, y, x]
        lu = hx * ((u[z, y, x - 1] - uc) + (u[z, y, x + 1] - uc)) + hy * ((u[z, ym, x] - uc) + (u[z, yp, x] - uc)) \
            + hz * ((u[zm, y, x] - uc) + (u[zp, y, x] - uc))
        lv = hx * ((v[z, y, x - 1] - vc) + (v[z, y, x + 1] - vc)) + hy * ((v[z, ym, x] - vc) + (v[z, yp, x] - vc)) \
            + hz * ((v[zm, y, x] - vc) + (v[zp, y, x] - vc))
        uvv = uc * vc * vc
        un[z, y, x] = uc + dt * (Du * lu - uvv + (F - F * uc))
        vn[z, y, x] = vc + dt * (Dv * lv + uvv - Fk * vc)


@jit
def _line2(u, v, un, vn, y, ym, yp, X, dt, hy, hx, F, k, Du, Dv):
    """_line3 for a 2-D grid (Z = 1), without the z terms (measured 25-30 % faster)."""
    Fk = F + k
    for x in range(1, X - 1):
        uc = u[0, y, x]
        vc = v[0, y, x]
        lu = hx * ((u[0, y, x - 1] - uc) + (u[0, y, x + 1] - uc)) + hy * ((u[0, ym, x] - uc) + (u[0, yp, x] - uc))
        lv = hx * ((v[0, y, x - 1] - vc) + (v[0, y, x + 1] - vc)) + hy * ((v[0, ym, x] - vc) + (v[0, yp, x] - vc))
        uvv = uc * vc * vc
        un[0, y, x] = uc + dt * (Du * lu - uvv + (F - F * uc))
        vn[0, y, x] = vc + dt * (Dv * lv + uvv - Fk * vc)


@jit(parallel=True)
def _sweep(u, v, un, vn, dt, ih2, per, F, k, Du, Dv, Fa, ka, Dua, Dva):
    """One explicit step of the whole grid (u, v) -> (un, vn), parallel over lines."""
    Z, Y, X = u.shape
    constant = Fa is None and ka is None and Dua is None and Dva is None
    for line in numba.prange(Z * Y):
        z = line // Y
        y = line - z * Y
        zm, zp = _neighbours(z, Z, per[0])
        ym, yp = _neighbours(y, Y, per[1])
        xm, xp = _neighbours(0, X, per[2])
        _point(u, v, un, vn, z, y, 0, zm, zp, ym, yp, xm, xp, dt, ih2, F, k, Du, Dv, Fa, ka, Dua, Dva)
        if constant and Z == 1:
            _line2(u, v, un, vn, y, ym, yp, X, dt, ih2[1], ih2[2], F, k, Du, Dv)
        elif constant:
            _line3(u, v, un, vn, z, y, zm, zp, ym, yp, X, dt, ih2[0], ih2[1], ih2[2], F, k, Du, Dv)
        else:
            for x in range(1, X - 1):
                _point(u, v, un, vn, z, y, x, zm, zp, ym, yp, x - 1, x + 1, dt, ih2, F, k, Du, Dv, Fa, ka,
                       Dua, Dva)
        if X > 1:
            xm, xp = _neighbours(X - 1, X, per[2])
            _point(u, v, un, vn, z, y, X - 1, zm, zp, ym, yp, xm, xp, dt, ih2, F, k, Du, Dv, Fa, ka, Dua, Dva)


@jit
def _gray_scott_steps(u, v, u2, v2, n, dt, ih2, per, F, k, Du, Dv, Fa, ka, Dua, Dva):
    """n explicit Gray-Scott steps alternating between (u, v) and (u2, v2).

    Returns the parity of n: the result is in (u, v) if 0, else in (u2, v2).
    """
    for s in range(n):
        if s % 2 == 0:
            _sweep(u, v, u2, v2, dt, ih2, per, F, k, Du, Dv, Fa, ka, Dua, Dva)
        else:
            _sweep(u2, v2, u, v, dt, ih2, per, F, k, Du, Dv, Fa, ka, Dua, Dva)
    return n % 2


@jit(parallel=True)
def _gray_scott_reaction(s, out, dt, F, k, Fa, ka):
    """out += dt * reaction(s) for both species (s, out: (2, Z, Y, X))."""
    _, Z, Y, X = s.shape
    for line in numba.prange(Z * Y):
        z = line // Y
        y = line - z * Y
        for x in range(X):
            uc = s[0, z, y, x]
            vc = s[1, z, y, x]
            f = _coefficient(F, Fa, z, y, x)
            kk = _coefficient(k, ka, z, y, x)
            uvv = uc * vc * vc
            out[0, z, y, x] += dt * ((f - f * uc) - uvv)
            out[1, z, y, x] += dt * (uvv - (f + kk) * vc)


# ------------------------------------------------------------------------
# NumPy reference (tests, benchmark): the same scheme with whole-array operations
# ------------------------------------------------------------------------


def _numpy_steps(u, v, n, dt, spacing, periodic, F, k, Du, Dv):
    """``n`` explicit Gray-Scott steps in vectorised NumPy (scalar or array coefficients).

    The reference the Numba kernel is tested and benchmarked against: the
    same scheme, written with ``np.roll`` (periodic axes) or edge padding
    (reflecting axes).  Works for any number of dimensions; returns new
    ``(u, v)``.
    """
    ih2 = [1.0 / h ** 2 for h in spacing]

    def shifted(a, axis):
        if periodic[axis]:
            return np.roll(a, 1, axis), np.roll(a, -1, axis)
        p = [(0, 0)] * a.ndim
        p[axis] = (1, 1)
        b = np.pad(a, p, mode="edge")
        sl = [slice(None)] * a.ndim
        lo, hi = list(sl), list(sl)
        lo[axis] = slice(0, -2)
        hi[axis] = slice(2, None)
        return b[tuple(lo)], b[tuple(hi)]

    def flux(a, D):
        out = np.zeros_like(a)
        for ax in range(a.ndim):
            am, ap = shifted(a, ax)
            if np.ndim(D) == 0:
                out += D * ih2[ax] * (am + ap - 2.0 * a)
            else:
                Dm, Dp = shifted(D, ax)
                out += 0.5 * ih2[ax] * ((D + Dm) * (am - a) + (D + Dp) * (ap - a))
        return out

    for _ in range(n):
        uvv = u * v * v
        u, v = (u + dt * (flux(u, Du) - uvv + F * (1.0 - u)),
                v + dt * (flux(v, Dv) + uvv - (F + k) * v))
    return u, v


# ------------------------------------------------------------------------
# validation helpers
# ------------------------------------------------------------------------


def _check_shape(shape):
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray)):
        raise TypeError(f"shape must be a tuple of 2 or 3 integers, got {_short(shape)}")
    shape = tuple(check_int(n, "shape entries", minimum=1) for n in shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must have 2 or 3 entries (a 2-D or 3-D grid), got {shape}")
    return shape


#: Largest diffusion coefficient accepted (finite in float32; far beyond any texture).
_D_MAX = 1e30
#: Most time steps one call may take (a guard against a t or D that would run for ever).
_MAX_STEPS = 10**10


def _coefficient_field(value, name, shape, dtype, *, allow_zero, maximum):
    """A scalar or an array of the grid's shape, finite, >= 0 (> 0) and <= maximum."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, np.ndarray) and value.ndim > 0 or isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind not in "uif":
            raise TypeError(f"{name} must be a number or a real array, got {_short(arr)}")
        if arr.shape != shape:
            raise ValueError(f"{name} must be a number or an array of the grid's shape {shape}, "
                             f"got an array of shape {arr.shape}")
        arr = arr.astype(np.float64)  # checked before the cast (float32 would overflow silently)
        lo = float(arr.min())
        hi = float(arr.max())
        if not np.isfinite(arr).all() or lo < 0 or (lo == 0 and not allow_zero) or hi > maximum:
            raise ValueError(f"{name} values must be finite, {bound} and <= {maximum:g}, "
                             f"got values in [{lo:g}, {hi:g}]")
        return arr.astype(dtype), hi
    v = check_positive(value, name, allow_zero=allow_zero)
    if v > maximum:
        raise ValueError(f"{name} must be in [0, {maximum:g}], got {v!r}")
    return v, v


def _check_dtype(dtype):
    if dtype is None:
        return np.dtype(np.float32)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {_short(dtype)}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _check_tensor(tensor, shape, spacing, dtype):
    """Plane tensors (3, 1, Y, X) of a 2-D diffusion tensor field (layout of _kernels)."""
    if len(shape) != 2:
        raise ValueError(f"tensor is available on 2-D grids only, got a grid of shape {shape}")
    D = np.asarray(tensor)
    if D.dtype.kind not in "uif":
        raise TypeError(f"tensor must be a real array, got {_short(D)}")
    if D.shape != shape + (2, 2):
        raise ValueError(f"tensor must have shape {shape + (2, 2)} (a 2 x 2 tensor per point), got {D.shape}")
    D = D.astype(np.float64)
    if not np.isfinite(D).all():
        raise ValueError("tensor must contain only finite values")
    scale = max(float(np.abs(D).max()), 1e-300)
    if np.abs(D[..., 0, 1] - D[..., 1, 0]).max() > 1e-6 * scale:
        raise ValueError("tensor must be symmetric (tensor[..., 0, 1] == tensor[..., 1, 0])")
    a, b, c = D[..., 0, 0], D[..., 0, 1], D[..., 1, 1]
    if (a < -1e-12 * scale).any() or (c < -1e-12 * scale).any() or (a * c - b * b < -1e-9 * scale ** 2).any():
        raise ValueError("tensor must be positive semidefinite at every point")
    hy, hx = spacing
    T = np.empty((3, 1) + shape, dtype=dtype)
    T[0, 0] = np.maximum(a, 0.0) / (hy * hy)
    T[1, 0] = np.maximum(c, 0.0) / (hx * hx)
    lim = np.sqrt(T[0, 0] * T[1, 0])
    T[2, 0] = np.clip(b / (hy * hx), -lim, lim)
    return T


def _initial(shape, init, seed, dtype):
    """(u0, v0) as float64 arrays of the grid's shape."""
    if isinstance(init, str):
        init = check_option(init, "init", INITS)
        rng = np.random.default_rng(seed)
        u = np.ones(shape)
        v = np.zeros(shape)
        half = _PATCH // 2
        if init == "center":
            side = [max(2, n // 10) for n in shape]
            sl = tuple(slice(n // 2 - s // 2, n // 2 - s // 2 + s) for n, s in zip(shape, side))
            u[sl] = 0.5
            v[sl] = 0.25
        else:
            count = max(1, int(round(np.prod(shape) / _PATCH_DENSITY)))
            centres = [rng.integers(0, n, size=count) for n in shape]
            offsets = np.arange(-half, _PATCH - half)
            # patch points, wrapped at the borders (index arrays: no loop over pixels)
            grids = np.meshgrid(*([offsets] * len(shape)), indexing="ij")
            idx = tuple(((c[:, None] + g.ravel()[None, :]) % n).ravel() for c, g, n in zip(centres, grids, shape))
            u[idx] = 0.5
            v[idx] = 0.25
        u += _NOISE * rng.uniform(-1.0, 1.0, shape)
        v += _NOISE * rng.uniform(-1.0, 1.0, shape)
        np.clip(v, 0.0, None, out=v)
        return u, v
    if isinstance(init, tuple) and len(init) == 2:
        arrays = init
    elif isinstance(init, (np.ndarray, list)):
        arrays = (None, init)
    else:
        raise TypeError(f"init must be one of {INITS}, an array v0 or a tuple (u0, v0), got {_short(init)}")
    out = []
    for name, a in zip(("u0", "v0"), arrays):
        if a is None:
            out.append(np.ones(shape))
            continue
        arr = np.asarray(a)
        if arr.dtype.kind not in "uif":
            raise TypeError(f"init {name} must be a real array, got {_short(arr)}")
        if arr.shape != shape:
            raise ValueError(f"init {name} must have the grid's shape {shape}, got an array of shape {arr.shape}")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise ValueError(f"init {name} must contain only finite values")
        out.append(arr)
    return out[0], out[1]


def _time_step(F_max, k_max, radius_u, radius_v):
    """Largest automatic step: forward Euler stability of each species' linear part.

    ``radius_*`` bounds the spectral radius of the discrete diffusion
    operator of a species (``4 D sum_i h_i**-2`` for the 2d+1 point
    Laplacian); the reaction adds decay rates up to ``1 + F`` (u, for v <= 1)
    and ``F + k`` (v).  Euler is stable for ``dt * (radius + rate) <= 2``.
    """
    return min(2.0 / (radius_u + 1.0 + F_max), 2.0 / (radius_v + F_max + k_max))


def _preset_step(preset, ndim):
    """The automatic time step of a preset on a grid of spacing 1 (the CLI's --steps)."""
    F, k, Du, Dv, _ = PRESETS[preset]
    return _time_step(F, k, 4.0 * Du * ndim, 4.0 * Dv * ndim)


# ------------------------------------------------------------------------
# public function
# ------------------------------------------------------------------------


def reaction_diffusion(shape, *, model="gray_scott", preset=None, F=None, k=None, Du=None, Dv=None, t=None,
                       n_steps=None, seed=None, init="random", periodic=True, spacing=None, tensor=None,
                       field="v", dtype=None, callback=None):
    """Reaction-diffusion texture: the Gray-Scott model on a 2-D or 3-D grid.

    Integrates ``u_t = div(Du grad u) - u v**2 + F (1 - u)`` and ``v_t =
    div(Dv grad v) + u v**2 - (F + k) v`` (Pearson 1993) from an initial
    condition to time ``t`` and returns the pattern of ``v`` (or ``u``).
    ``(F, k)`` choose the regime; :data:`PRESETS` names the classic ones.
    Every parameter may vary in space (arrays of the grid's shape), which
    lets an image guide the texture (Turk 1991; Witkin & Kass 1991), and
    diffusion may be anisotropic (``tensor``).

    Parameters
    ----------
    shape : tuple of int
        Grid shape, 2 or 3 entries, e.g. ``(256, 256)``.
    model : {"gray_scott"}, optional
        Reaction-diffusion model.
    preset : str, optional
        A key of :data:`PRESETS` (``"spots"``, ``"mitosis"``, ``"solitons"``,
        ``"mazes"``, ``"coral"``, ``"worms"``, ``"holes"``, ``"waves"``,
        ``"chaos"``): default values of ``F``, ``k``, ``Du``
        and ``Dv``; explicit arguments override them.  Without a preset,
        ``F`` and ``k`` are required and ``Du``, ``Dv`` default to
        Pearson's (0.2097152 and 0.1048576 for spacing 1).
    F, k : float or array_like, optional
        Feed and kill rates, in [0, 1] (the patterns live in F < 0.1, k <
        0.07); a number or an array of the grid's shape.
    Du, Dv : float or array_like, optional
        Diffusion coefficients of u and v, > 0, in length**2 / time (length
        in the units of ``spacing``); a number or an array of the grid's
        shape (then the flux is ``D grad u`` with ``D`` averaged on each
        face).  Patterns need ``Du > Dv`` (Pearson: ``Du = 2 Dv``).
    t : float, optional
        Stopping time > 0 in the units of ``F`` and ``k``.  Default: with
        ``n_steps``, ``n_steps`` times the largest stable step, else
        :data:`DEFAULT_T` (10000).
    n_steps : int, optional
        Number of equal time steps to reach ``t`` (default: the fewest
        stable ones, see Notes).  A step above the stable limit raises
        ``ValueError``.
    seed : int or numpy.random.Generator, optional
        Seed of the random initial condition (``numpy.random.default_rng``):
        the same seed gives the same texture.  None: fresh entropy.
    init : {"random", "center"} or array_like or tuple, optional
        Initial condition.  ``"random"`` (default): ``u = 1, v = 0`` with
        square seed patches (``u = 1/2, v = 1/4``, 6 points wide, one per
        400 points on average) at random places, plus uniform noise of
        +-0.01 everywhere.  ``"center"``: one patch of a tenth of the
        grid's size in the middle, plus the noise.  An array: ``v0`` (with
        ``u0 = 1``); a tuple ``(u0, v0)``: both (each of the grid's shape).
        No noise is added to user arrays.
    periodic : bool or sequence of bool, optional
        Periodic (default, seamless tiles) or reflecting (zero-flux)
        boundaries, for all axes or per axis.
    spacing : float or sequence of float, optional
        Grid spacing per axis in the length unit of ``Du``/``Dv`` (default
        1).
    tensor : (M, N, 2, 2) array_like, optional
        2-D only: a symmetric positive semidefinite diffusion tensor per
        point, ``div(Du tensor grad u)`` (and the same for v): diffusion
        faster along its large eigenvector.  Discretised with the
        nonnegative stencil of :func:`imdiffuse.edge_enhancing`
        (``stencil="nonnegative"``).  ``tensor = identity`` is the
        isotropic model.
    field : {"v", "u", "both"}, optional
        What to return: the autocatalyst v (default), the substrate u, or
        the tuple ``(u, v)``.
    dtype : {numpy.float32, numpy.float64}, optional
        Working and output dtype (default float32: half the memory, twice
        the speed; the patterns are the same in kind).
    callback : callable, optional
        ``callback(t_done)`` about 100 times during the run (progress).

    Returns
    -------
    out : ndarray or tuple of ndarray
        Array(s) of ``shape`` and ``dtype``: v (or u, or ``(u, v)``), with
        values in about [0, 1].

    Raises
    ------
    TypeError
        A wrong type for ``shape``, ``init``, ``seed``, ``tensor`` or an
        option.
    ValueError
        Unknown ``model``, ``preset`` (the message lists the valid ones),
        ``init`` or ``field``; ``F`` or ``k`` outside [0, 1] or missing;
        ``Du``/``Dv`` <= 0 or > 1e30; NaN/inf values; arrays whose shape
        is not the grid's; ``t`` <= 0 or needing more than 1e10 steps;
        ``n_steps`` giving an unstable step; a non-symmetric or indefinite
        ``tensor``; ``tensor`` on a 3-D grid; bad ``spacing``, ``periodic``
        or ``dtype``.

    Notes
    -----
    Time stepping is explicit (forward Euler) with equal steps no longer
    than ``dt_max = min(2 / (4 Du sum_i h_i**-2 + 1 + F), 2 / (4 Dv sum_i
    h_i**-2 + F + k))`` (maxima over the grid for array coefficients).  Per
    species, the 2d+1 point diffusion operator has eigenvalues in ``[-4 D
    sum_i h_i**-2, 0]`` (with a tensor: ``[-R, 0]``, R bounding the
    spectral radius of the stencil as in :func:`imdiffuse.edge_enhancing`)
    and the reaction decay rates ``F + v**2 <= 1 + F`` (u, for ``0 <= v <=
    1``) and ``F + k - u v <= F + k`` (v); Euler is stable when the step
    times the sum is at most 2.  This is stricter than the diffusion limit
    ``h**2 / (2 d D)`` alone, which the reaction makes unstable in 3-D.  For
    the presets with spacing 1 it is about 0.74 in 2-D (Pearson used 1)
    and 0.56 in 3-D.  Each step is one fused Numba kernel over both
    species (parallel over grid lines); memory is 4 grids of ``dtype`` (two
    per species, alternating), plus one per array coefficient (and, while
    the start is drawn, two float64 grids).

    The patterns depend on the grid only through ``D / h**2``: a larger
    ``spacing`` with the same ``Du``, ``Dv`` gives finer patterns (in
    points).  The spot spacing and stripe wavelength of the presets are
    about 10-14 points.

    References
    ----------
    .. [1] J. E. Pearson, "Complex patterns in a simple system", Science
       261(5118):189-192, 1993. :doi:`10.1126/science.261.5118.189`
    .. [2] P. Gray, S. K. Scott, "Autocatalytic reactions in the isothermal,
       continuous stirred tank reactor", Chemical Engineering Science
       39(6):1087-1097, 1984.
    .. [3] G. Turk, "Generating textures on arbitrary surfaces using
       reaction-diffusion", SIGGRAPH 1991, Computer Graphics 25(4):289-298.
       :doi:`10.1145/127719.122749`
    .. [4] A. Witkin, M. Kass, "Reaction-diffusion textures", SIGGRAPH
       1991, Computer Graphics 25(4):299-308. :doi:`10.1145/127719.122750`
    .. [5] R. Munafo, "xmorphia", a map of the Gray-Scott (F, k) plane,
       http://mrob.com/pub/comp/xmorphia/

    Examples
    --------
    >>> import numpy as np
    >>> import imdiffuse as imd
    >>> v = imd.reaction_diffusion((64, 64), preset="spots", t=3000, seed=1)
    >>> v.shape, v.dtype
    ((64, 64), dtype('float32'))
    >>> bool(v.max() > 0.2 and v.min() < 0.05)  # a pattern, not a uniform state
    True
    >>> u = imd.reaction_diffusion((32, 32), F=0.04, k=0.06, init=np.zeros((32, 32)), t=50, field="u")
    >>> float(u.min()), float(u.max())  # u = 1, v = 0 is a steady state
    (1.0, 1.0)
    """
    shape = _check_shape(shape)
    ndim = len(shape)
    model = check_option(model, "model", MODELS)
    field = check_option(field, "field", FIELDS)
    dtype = _check_dtype(dtype)
    spacing = parse_spacing(spacing, ndim)
    periodic = parse_periodic(periodic, ndim)
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            listing = ", ".join(repr(p) for p in PRESETS)
            raise ValueError(f"preset must be one of {listing}, got {_short(preset)}")
        pF, pk, pDu, pDv, _ = PRESETS[preset]
        F = pF if F is None else F
        k = pk if k is None else k
        Du = pDu if Du is None else Du
        Dv = pDv if Dv is None else Dv
    if F is None or k is None:
        raise ValueError(f"F and k are required without a preset (presets: {', '.join(PRESETS)})")
    Du = DU if Du is None else Du
    Dv = DV if Dv is None else Dv
    F, F_max = _coefficient_field(F, "F", shape, dtype, allow_zero=True, maximum=1.0)
    k, k_max = _coefficient_field(k, "k", shape, dtype, allow_zero=True, maximum=1.0)
    Du, Du_max = _coefficient_field(Du, "Du", shape, dtype, allow_zero=False, maximum=_D_MAX)
    Dv, Dv_max = _coefficient_field(Dv, "Dv", shape, dtype, allow_zero=False, maximum=_D_MAX)
    if n_steps is not None:
        n_steps = check_int(n_steps, "n_steps", minimum=1)
    if t is not None:
        t = check_positive(t, "t")
    u0, v0 = _initial(shape, init, seed, dtype)  # fresh float64 arrays, never the user's
    u0 = u0.astype(dtype, copy=False)
    v0 = v0.astype(dtype, copy=False)

    canon = (1,) * (3 - ndim) + shape
    h3 = (1.0,) * (3 - ndim) + spacing
    inv = [0.0 if n == 1 else 1.0 / h ** 2 for n, h in zip(canon, h3)]
    ih2 = np.array(inv + [0.5 * i for i in inv], dtype=dtype)  # (1/h**2, 1/(2 h**2)) per axis
    if tensor is not None:
        T = _check_tensor(tensor, shape, spacing, dtype)
        radius_u, radius_v, Tu, Tv = _tensor_setup(T, Du, Dv, shape, periodic, dtype)
    else:
        radius_u = 4.0 * Du_max * sum(inv)
        radius_v = 4.0 * Dv_max * sum(inv)
    dt_max = _time_step(F_max, k_max, radius_u, radius_v)
    if t is None:
        t = n_steps * dt_max if n_steps is not None else DEFAULT_T
    if n_steps is None:
        n_steps = max(1, math.ceil(t / dt_max - 1e-9))
        if n_steps > _MAX_STEPS:
            raise ValueError(f"t={t:g} needs {n_steps:.3g} steps of the stable step {dt_max:.3g} "
                             f"(at most {_MAX_STEPS:.0e}); reduce t or Du/Dv, or coarsen spacing")
    dt = t / n_steps
    if dt > dt_max * (1.0 + 1e-12):
        raise ValueError(f"n_steps={n_steps} gives steps t / n_steps = {dt:.6g} above the stable limit "
                         f"{dt_max:.6g}; use n_steps >= {math.ceil(t / dt_max - 1e-9)} (or leave it out)")

    def field3(a):
        return None if np.ndim(a) == 0 else np.ascontiguousarray(a.reshape(canon))

    scal = dtype.type
    sF = scal(0.0 if np.ndim(F) else F)
    sk = scal(0.0 if np.ndim(k) else k)
    if tensor is None:
        u, v = _run_isotropic(u0.reshape(canon), v0.reshape(canon), n_steps, scal(dt), ih2, periodic, ndim,
                              sF, sk, scal(0.0 if np.ndim(Du) else Du), scal(0.0 if np.ndim(Dv) else Dv),
                              field3(F), field3(k), field3(Du), field3(Dv), dtype, callback)
    else:
        u, v = _run_tensor(u0, v0, n_steps, scal(dt), periodic, sF, sk, field3(F), field3(k), Tu, Tv, dtype,
                           callback)
    u = u.reshape(shape)
    v = v.reshape(shape)
    return {"v": v, "u": u, "both": (u, v)}[field]


def _run_isotropic(u0, v0, n, dt, ih2, periodic, ndim, F, k, Du, Dv, Fa, ka, Dua, Dva, dtype, callback):
    steps = _gray_scott_steps
    per = np.zeros(3, dtype=np.bool_)
    per[3 - ndim:] = periodic
    u = np.ascontiguousarray(u0, dtype=dtype)
    v = np.ascontiguousarray(v0, dtype=dtype)
    u2 = np.empty_like(u)
    v2 = np.empty_like(v)
    chunk = n if callback is None else max(1, math.ceil(n / _PROGRESS_CALLS))
    done = 0
    while done < n:
        m = min(chunk, n - done)
        if steps(u, v, u2, v2, m, dt, ih2, per, F, k, Du, Dv, Fa, ka, Dua, Dva):
            u, u2, v, v2 = u2, u, v2, v
        done += m
        if callback is not None:
            callback(float(done * dt))
    return u, v


def _pad_axes(periodic):
    """Canonical (Z, Y, X) axes padded by one wrapped point: the periodic ones of a 2-D grid."""
    return [ax + 1 for ax, p in enumerate(periodic) if p]


def _wrap(a, axes):
    """Fill the one-point halo of the given axes of a (..., Z, Y, X) array periodically."""
    for ax in axes:
        ax = a.ndim - 3 + ax
        lo = [slice(None)] * a.ndim
        hi = list(lo)
        src_lo = list(lo)
        src_hi = list(lo)
        lo[ax], src_lo[ax] = 0, -2
        hi[ax], src_hi[ax] = -1, 1
        a[tuple(lo)] = a[tuple(src_lo)]
        a[tuple(hi)] = a[tuple(src_hi)]


def _padded(a, axes):
    """a (..., Z, Y, X) with a one-point periodic halo on ``axes``."""
    widths = [(0, 0)] * a.ndim
    for ax in axes:
        widths[a.ndim - 3 + ax] = (1, 1)
    return np.ascontiguousarray(np.pad(a, widths, mode="wrap"))


def _interior(a, axes):
    sl = [slice(None)] * a.ndim
    for ax in axes:
        sl[a.ndim - 3 + ax] = slice(1, -1)
    return a[tuple(sl)]


def _tensor_setup(T, Du, Dv, shape, periodic, dtype):
    """Spectral radius bounds and plane tensors of Du * D and Dv * D (padded on periodic axes)."""
    from . import _kernels as K
    from .tensor import NONNEGATIVE_TRACE_FACTOR

    axes = _pad_axes(periodic)
    out = []
    radius = []
    for D in (Du, Dv):
        Ts = T * (np.asarray(D, dtype=dtype).reshape((1, 1) + shape) if np.ndim(D) else dtype.type(D))
        Ts = _padded(Ts, axes)
        radius.append(float(K.tensor_radius(Ts)) * NONNEGATIVE_TRACE_FACTOR)
        out.append(Ts)
    return radius[0], radius[1], out[0], out[1]


def _run_tensor(u0, v0, n, dt, periodic, F, k, Fa, ka, Tu, Tv, dtype, callback):
    """Anisotropic diffusion (nonnegative tensor stencil) plus the Gray-Scott reaction, 2-D."""
    from . import _kernels as K
    from .tensor import STENCILS

    reaction = _gray_scott_reaction
    axes = _pad_axes(periodic)
    alpha = dtype.type(STENCILS["nonnegative"])
    s = _padded(np.stack([u0, v0]).reshape((2, 1) + u0.shape).astype(dtype), axes)
    Fa = None if Fa is None else _padded(Fa, axes)
    ka = None if ka is None else _padded(ka, axes)
    s2 = np.empty_like(s)
    every = n if callback is None else max(1, math.ceil(n / _PROGRESS_CALLS))
    for step in range(1, n + 1):
        _wrap(s, axes)
        K.tensor_step(s[0:1], Tu, s2[0:1], dt, alpha, 8)
        K.tensor_step(s[1:2], Tv, s2[1:2], dt, alpha, 8)
        reaction(s, s2, dt, F, k, Fa, ka)
        s, s2 = s2, s
        if callback is not None and (step % every == 0 or step == n):
            callback(float(step * dt))
    s = _interior(s, axes)
    return np.ascontiguousarray(s[0, 0]), np.ascontiguousarray(s[1, 0])
